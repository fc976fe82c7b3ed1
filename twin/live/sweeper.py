"""The live sweeper: the core's retention plan, carried out on real files.

Theory of operation. The sweeper keeps its own :class:`~twin.core.catalog.RunCatalog` (the very
object the simulation sweeps) and, before each sweep, feeds it the segments the recorders have
added to the SQLite store since the last one. The core plans the sweep at `now` (oldest due
first, in bounded batches, never a held segment); the sweeper then

1. marks the plan's segments `deleting` in SQLite (one transaction),
2. unlinks their files,
3. marks them `deleted` (one transaction) and applies the plan to the in-memory catalog.

A stop between 1 and 3 leaves rows in `deleting`; :meth:`LiveStore.recover` (run when a
sweeper starts) finishes them, so the store never lists a file that is gone as stored, and
never loses track of a file it has not deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twin.core.catalog import RunCatalog
from twin.core.types import Interval
from twin.live.store import LiveStore

__all__ = ["SweepReport", "Sweeper"]


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    now_s: float
    cutoff_s: float
    deleted_keys: tuple[str, ...]
    deleted_bytes: int
    overdue_after: int
    oldest_age_s: float  # age of the oldest unheld footage just before the sweep (inf: none)
    missing_files: int  # planned deletions whose file was already gone


class Sweeper:
    """Retention for one live run: `sweep(now_s)` deletes what is due (see module docstring)."""

    def __init__(self, store_path: Path, root: Path, camera_names: list[str],
                 recorder_names: list[str], retention_s: float, batch_segments: int) -> None:
        self.store = LiveStore(store_path)
        self.root = Path(root)
        self.catalog = RunCatalog(camera_names, recorder_names)
        self._cam = {c: i for i, c in enumerate(camera_names)}
        self._rec = {r: i for i, r in enumerate(recorder_names)}
        self.retention_s = retention_s
        self.batch_segments = batch_segments
        self._last_id = 0
        self.recovered = self.store.recover(self.root)

    def sync(self) -> None:
        """Take in the segments recorded since the last call."""
        self._last_id, _ = self.store.sync_into(self.catalog, self._cam, self._rec, self._last_id)

    def hold(self, hold_id: str, camera: str, start_s: float, end_s: float, now_s: float) -> int:
        """Hold a camera's footage in [start_s, end_s) from deletion (evidence); segments held."""
        self.sync()
        return self.catalog.hold(hold_id, self._cam[camera], Interval(start_s, end_s), now_s)

    def release(self, hold_id: str) -> None:
        self.catalog.release(hold_id)

    def sweep(self, now_s: float) -> SweepReport:
        """Delete every segment due at `now_s` (up to the batch bound)."""
        self.sync()
        oldest = self.catalog.oldest_unheld_start(now_s)
        plan = self.catalog.plan_sweep(now_s, self.retention_s, self.batch_segments)
        refs = self.catalog.deleted_refs(plan)
        keys = [r.key for r in refs]
        missing = 0
        self.store.mark(keys, "deleting")
        for r in refs:
            path = self.root / r.recorder / r.key
            try:
                path.unlink()
            except FileNotFoundError:
                missing += 1
        self.store.mark(keys, "deleted")
        self.catalog.apply(plan)
        return SweepReport(now_s, plan.cutoff_s, tuple(keys), int(sum(r.bytes for r in refs)),
                           plan.overdue_after, now_s - oldest, missing)

    def close(self) -> None:
        self.store.close()
