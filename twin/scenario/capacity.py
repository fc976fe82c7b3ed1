"""Scenario models for capacity as recorders really store footage (issue 15).

- Daily curves of a camera profile (`light_curve`, `motion_curve`: `{hour: factor}`, each
  factor holding from its hour to the next one given, wrapping round midnight) and a
  scene factor per site kind (`scene_factor`). Omitted, each is flat (1.0): today's
  constant bitrate.
- A recorder pool's full-disk policy, chosen by `type:` (`full_disk:`): `drop_new` (the
  default, today's) or `overwrite_oldest`.
- A recorder pool's drives (`drives:`): size, count, RAID level and hot spares, which give
  the usable TB instead of `disk_tb`; with a drive failure fault's AFR and rebuild time.

Every new field is left out of the scenario's canonical JSON when it is not given
(`omit_unset`), so every shipped scenario hashes and runs exactly as before.

ASSUMPTIONS (defaults, each with its source):
- drive AFR 1.57 % a year: Backblaze's 2024 drive stats (all drives, annualised failure rate
  for 2024); per drive, exponential;
- rebuild 24 h for a 20 TB drive: a RAID rebuild runs at roughly 100-250 MB/s under load
  (vendor guidance), 20 TB / ~230 MB/s ~ 24 h; change it per pool;
- with no hot spare, a failed drive is replaced `replace_h` (default 72 h, an assumption for
  next-business-day service) before its rebuild starts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, model_validator

from twin.scenario.numbers import ScenarioModel

__all__ = [
    "HourSteps",
    "EdgeBackfill",
    "DropNew",
    "OverwriteOldest",
    "FullDisk",
    "Drives",
    "RAID_LEVELS",
    "omit_unset",
    "AFR_PCT_DEFAULT",
]

AFR_PCT_DEFAULT = 1.57  # ASSUMPTION: Backblaze drive stats, 2024, all drives
RAID_LEVELS = ("jbod", "raid5", "raid6", "raid10")

HourSteps = dict[Annotated[int, Field(ge=0, le=23)], Annotated[float, Field(ge=0, le=100)]]


def omit_unset(out: dict[str, Any], model: BaseModel, fields: tuple[str, ...]) -> dict[str, Any]:
    """Drop `fields` still at their default from a dumped model (the canonical JSON, and
    so the scenario hash, of a file that does not use them stays what it was)."""
    for f in fields:
        if f in out and getattr(model, f) == type(model).model_fields[f].get_default(
            call_default_factory=True
        ):
            out.pop(f)
    return out


_Model = ScenarioModel


class EdgeBackfill(_Model):
    """A camera's own storage (an SD card) and how its footage is pulled back after a fault."""

    edge_hours: float = Field(
        gt=0,
        le=8760,
        description="Hours of footage the camera's card holds (the oldest "
        "overwritten; at most a year).",
    )
    link_mbps: float = Field(
        default=20.0,
        gt=0,
        le=100_000,
        description="The camera's uplink, Mbps (ASSUMPTION: 20 for a "
        "lamp-post fibre or 4G/5G link; at most 100,000).",
    )
    share: float = Field(
        default=0.5, gt=0, le=1, description="Share of the uplink the upload may take (0 to 1)."
    )


class DropNew(_Model):
    """A full disk refuses new footage (counted as `disk_full`) until a sweep frees room."""

    type: Literal["drop_new"] = "drop_new"


class OverwriteOldest(_Model):
    """A full disk deletes its oldest footage that no hold covers, across the recorder's
    cameras, to make room; with only held footage left, new footage is dropped and counted."""

    type: Literal["overwrite_oldest"] = "overwrite_oldest"
    room_ahead_s: float = Field(
        default=3600,
        gt=0,
        le=86_400,
        description="Room made at once, in seconds of the recorder's writing (at most a day; "
        "recorders free space in chunks, not a segment at a time; the default matches the "
        "hourly sweep).",
    )


FullDisk = Annotated[Union[DropNew, OverwriteOldest], Field(discriminator="type")]


class Drives(_Model):
    """A recorder's drives: usable TB from size, count, RAID level and hot spares."""

    size_tb: float = Field(
        gt=0,
        le=1000,
        description="Raw TB (10^12 bytes) per drive (at most 1,000 TB, past any drive made).",
    )
    count: int = Field(
        ge=1,
        le=1000,
        description="Drives per recorder, hot spares included (at most 1,000: "
        "a full JBOD shelf chain has a few hundred).",
    )
    raid: Literal["jbod", "raid5", "raid6", "raid10"] = Field(
        default="raid6", description="RAID level of one array over the data drives."
    )
    hot_spares: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Drives kept idle to start a rebuild at once (at most 100).",
    )
    afr_pct: float = Field(
        default=AFR_PCT_DEFAULT,
        gt=0,
        le=100,
        description="Annualised failure rate per drive, percent (ASSUMPTION: 1.57, Backblaze "
        "drive stats 2024); used by a `drive_failure` fault without its own mtbf_h.",
    )
    rebuild_h: float = Field(
        default=24,
        gt=0,
        le=8760,
        description="Rebuild onto a replacement drive, hours (ASSUMPTION: "
        "~24 h for 20 TB; at most a year).",
    )
    replace_h: float = Field(
        default=72,
        ge=0,
        le=8760,
        description="Time to replace a failed drive when no hot spare is "
        "left, hours, before its rebuild (ASSUMPTION; at most a year).",
    )

    @model_validator(mode="after")
    def _layout(self) -> Drives:
        data = self.count - self.hot_spares
        least = {"jbod": 1, "raid5": 3, "raid6": 4, "raid10": 2}[self.raid]
        if data < least:
            raise ValueError(
                f"{self.raid} needs at least {least} data drives; count "
                f"({self.count}) - hot_spares ({self.hot_spares}) = {data}"
            )
        if self.raid == "raid10" and data % 2:
            raise ValueError(f"raid10 mirrors pairs: count - hot_spares ({data}) must be even")
        return self
