"""Drives in RAID: usable capacity, and which drive failures lose footage.

Theory of operation
-------------------
One array per recorder over its data drives (`count - hot_spares`):

| level  | usable           | failures it survives at once          |
| ------ | ---------------- | ------------------------------------- |
| jbod   | n x size         | 0: a failed drive loses its own share |
| raid5  | (n - 1) x size   | 1                                     |
| raid6  | (n - 2) x size   | 2                                     |
| raid10 | n / 2 x size     | 1 (a second in the other mirror pair  |
|        |                  | survives; counted as a loss: the      |
|        |                  | worst case, as sizing tools do)       |

A failed drive stays failed through its rebuild window: from the failure to the end of its
rebuild (at once onto a hot spare, else after the replacement time). A failure that finds
more failed drives in the window than the level survives loses the array's footage (all of
it; on JBOD the failed drive's share, 1/n). `drive_losses` replays a recorder's failure
times and says which ones lose what. Sans-IO: times in, decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RaidLayout", "DriveLoss", "drive_losses"]

_TOLERANCE = {"jbod": 0, "raid5": 1, "raid6": 2, "raid10": 1}


@dataclass(frozen=True, slots=True)
class RaidLayout:
    size_tb: float
    count: int
    raid: str
    hot_spares: int = 0

    @property
    def data_drives(self) -> int:
        return self.count - self.hot_spares

    @property
    def raw_tb(self) -> float:
        return self.size_tb * self.count

    @property
    def usable_tb(self) -> float:
        n = self.data_drives
        per = {"jbod": n, "raid5": n - 1, "raid6": n - 2, "raid10": n // 2}[self.raid]
        return self.size_tb * per

    @property
    def tolerance(self) -> int:
        """Failed drives the array survives at once."""
        return _TOLERANCE[self.raid]


@dataclass(frozen=True, slots=True)
class DriveLoss:
    """A failure at `at_s` that lost `share` of the recorder's footage (1: the whole array)
    and, for a RAID array, took the recorder down until `until_s` (rebuilt from nothing)."""

    at_s: float
    share: float
    until_s: float
    failed_at_once: int


def drive_losses(
    layout: RaidLayout, fail_s: list[float], rebuild_s: float, replace_s: float
) -> tuple[list[DriveLoss], list[tuple[float, float]]]:
    """Replay drive failures on one recorder (times in order).

    Returns the losses and every failed drive's window (failure, end of rebuild). A hot
    spare takes a failure at once (rebuild starts then); with none left, the replacement
    time comes first. Spares used come back when their failed drive is replaced after the
    rebuild (the replaced drive becomes the new spare), so each window ends the spare's use.
    """
    windows: list[tuple[float, float]] = []
    losses: list[DriveLoss] = []
    for t in sorted(fail_s):
        busy = [w for w in windows if w[0] <= t < w[1]]
        spares_free = layout.hot_spares - len(busy)
        end = t + rebuild_s + (0.0 if spares_free > 0 else replace_s)
        windows.append((t, end))
        if len(busy) + 1 > layout.tolerance:
            if layout.raid == "jbod":
                losses.append(DriveLoss(t, 1.0 / layout.data_drives, t, 1))
            else:
                losses.append(DriveLoss(t, 1.0, end, len(busy) + 1))
    return losses, windows
