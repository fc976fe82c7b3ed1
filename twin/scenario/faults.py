"""Scenario models for faults and failover (the `faults:` and `failover:` sections).

A fault is chosen by its `type:` (a pydantic discriminated union) and timed one of two ways:
- fixed: `at_s` (seconds from t=0) and `duration_s` (omit it: the fault lasts to the end);
- random: `mtbf_h` and `mttr_h`: alternating up and down times drawn per target from
  exponential failures and exponential (or fixed) repairs, seeded from the scenario's seed.

Correlated faults are a `type: group` whose member faults all start and end together, at
the group's (fixed or random) times. A target of "*" means every recorder, district or set,
each drawn independently when the timing is random and all at once when it is fixed.

Names of recorders are those of the city generator: `<pool>-rNN` (1-based, in pool order);
with a standby policy the last `standby_recorders` of each pool are the standbys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, Field, model_serializer, model_validator

from twin.scenario.capacity import omit_unset
from twin.scenario.numbers import ScenarioModel
from twin.suggest import near_note

# Ten years in seconds: the longest run (twin.scenario.model.MAX_DAYS, not imported: that
# module imports this one).
MAX_RUN_S = 3650 * 86_400

__all__ = [
    "Fault",
    "FaultTiming",
    "RecorderCrash",
    "DiskFailure",
    "DiskFill",
    "DriveFailure",
    "BackhaulCut",
    "SetPower",
    "DistrictPower",
    "RelayDown",
    "FaultGroup",
    "Heartbeat",
    "SpreadStandby",
    "NPlus1Standby",
    "NPlusMStandby",
    "NoStandby",
    "DualStandby",
    "RelayFailover",
    "BackhaulFailover",
    "Failover",
    "PriorityGroup",
    "PRIORITIES",
    "FAULT_TAGS",
    "check_fault_targets",
]


_Model = ScenarioModel


class FaultTiming(_Model):
    """When a fault happens: fixed (`at_s`, `duration_s`) or random (`mtbf_h`, `mttr_h`)."""

    at_s: float | None = Field(
        default=None,
        ge=0,
        le=MAX_RUN_S,
        description="Start, seconds from t=0 (fixed timing; at most ten years, the longest run).",
    )
    duration_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_RUN_S,
        description="How long it lasts, s (fixed timing; omit: to the end; at most ten years).",
    )
    mtbf_h: float | None = Field(
        default=None,
        ge=0.001,
        le=1_000_000,
        description="Mean time between failures per target, hours (random; 0.001 h = 3.6 s, for "
        "the compressed time of a live run, to 10^6 h, 114 years, past any part's rated MTBF; "
        "the faults a run would draw are bounded too, see twin/scenario/memory.py).",
    )
    mttr_h: float | None = Field(
        default=None,
        gt=0,
        le=87_600,
        description="Mean time to repair, hours (random timing; at most ten years).",
    )
    repair: Literal["exponential", "fixed"] = Field(
        default="exponential", description="Repair times: exponential around mttr_h, or exactly it."
    )
    label: str = Field(default="", description="Free text, carried into results events.")

    @model_validator(mode="after")
    def _one_timing(self) -> FaultTiming:
        fixed = self.at_s is not None or self.duration_s is not None
        rand = self.mtbf_h is not None or self.mttr_h is not None
        if fixed and rand:
            raise ValueError(
                "a fault is timed either by at_s/duration_s or by mtbf_h/mttr_h, not both"
            )
        if self.duration_s is not None and self.at_s is None:
            raise ValueError(f"duration_s ({self.duration_s}) needs at_s (the start)")
        if rand and (self.mtbf_h is None or self.mttr_h is None):
            raise ValueError("random timing needs both mtbf_h and mttr_h")
        return self

    @property
    def timed(self) -> bool:
        return self.at_s is not None or self.mtbf_h is not None

    @property
    def random(self) -> bool:
        return self.mtbf_h is not None


class RecorderCrash(FaultTiming):
    """A recorder stops (no heartbeats, records nothing); its disk and footage survive."""

    type: Literal["recorder_crash"] = "recorder_crash"
    recorder: str = Field(min_length=1, description="Recorder name (<pool>-rNN) or '*'.")


class DiskFailure(FaultTiming):
    """A recorder's disk fails: its footage is lost and it is down until the disk is replaced."""

    type: Literal["disk_failure"] = "disk_failure"
    recorder: str = Field(min_length=1, description="Recorder name (<pool>-rNN) or '*'.")


class DriveFailure(FaultTiming):
    """One drive of a recorder's RAID array fails (its pool needs `drives:`). Fixed: at
    `at_s`; with no timing, every drive of the target recorders fails at random at the pool's
    drives.afr_pct (default 1.57 %/yr, ASSUMPTION: Backblaze 2024). Footage is lost only
    where the RAID level cannot cover the failures under rebuild (twin/core/raid.py)."""

    type: Literal["drive_failure"] = "drive_failure"
    recorder: str = Field(min_length=1, description="Recorder name (<pool>-rNN) or '*'.")
    drive: int = Field(
        default=0,
        ge=0,
        le=999,
        description="JBOD only: which drive fails, counted from the one being written (0) to "
        "the one with the oldest footage; random failures draw it (at most 999).",
    )

    @model_validator(mode="after")
    def _own_timing(self) -> DriveFailure:
        if self.mtbf_h is not None or self.duration_s is not None:
            raise ValueError(
                "drive_failure takes its rate from the pool's drives.afr_pct and its repair "
                "from drives.rebuild_h: give at_s alone (one failure) or no timing (random)"
            )
        return self

    @property
    def timed(self) -> bool:
        return True  # no timing: random at the pool's AFR

    @property
    def random(self) -> bool:
        return self.at_s is None


class DiskFill(FaultTiming):
    """Foreign data takes a share of a recorder's disk (a runaway log, a stuck export)."""

    type: Literal["disk_fill"] = "disk_fill"
    recorder: str = Field(min_length=1, description="Recorder name (<pool>-rNN) or '*'.")
    fill_pct: float = Field(gt=0, le=100, description="Share of the disk taken, percent.")


class BackhaulCut(FaultTiming):
    """A district's backhaul link is cut (a backup path may carry part of it; see failover)."""

    type: Literal["backhaul_cut"] = "backhaul_cut"
    district: str = Field(min_length=1, description="District name or '*'.")


class SetPower(FaultTiming):
    """One camera set loses power (its site's UPS, if any, rides through short outages)."""

    type: Literal["set_power"] = "set_power"
    camera_set: int | Literal["*"] = Field(
        description="Set number (1-based, set00012 is 12; at most the city's last set) or '*'."
    )

    @model_validator(mode="after")
    def _positive(self) -> SetPower:
        if isinstance(self.camera_set, int) and self.camera_set < 1:
            raise ValueError(
                f"camera_set ({self.camera_set}) must be >= 1 (set numbers are 1-based)"
            )
        return self


class DistrictPower(FaultTiming):
    """A whole district loses power at its camera sites (recorders sit in data centres)."""

    type: Literal["district_power"] = "district_power"
    district: str = Field(min_length=1, description="District name or '*'.")


class RelayDown(FaultTiming):
    """The RTSP relay (media server) of a district, or the city's, goes down."""

    type: Literal["relay_down"] = "relay_down"
    relay: str = Field(
        min_length=1, description="A district name (its relay), 'city' (the city relay) or '*'."
    )


Member = Annotated[
    Union[RecorderCrash, DiskFailure, DiskFill, BackhaulCut, SetPower, DistrictPower, RelayDown],
    Field(discriminator="type"),
]


def _untimed(members: list[Any]) -> list[Any]:
    for i, m in enumerate(members):
        if m.timed:
            raise ValueError(
                f"faults[{i}] ({m.type}) carries its own timing; members of a group start and end "
                "with the group: remove at_s/duration_s/mtbf_h/mttr_h from the member"
            )
    return members


class FaultGroup(FaultTiming):
    """Correlated faults: every member starts and ends at the group's times."""

    type: Literal["group"] = "group"
    name: str = Field(min_length=1, description="Name of the group, for results events.")
    faults: Annotated[list[Member], AfterValidator(_untimed)] = Field(min_length=1)


Fault = Annotated[
    Union[
        RecorderCrash,
        DiskFailure,
        DiskFill,
        BackhaulCut,
        SetPower,
        DistrictPower,
        RelayDown,
        FaultGroup,
        DriveFailure,
    ],
    Field(discriminator="type"),
]
# Discriminator tags pydantic adds to error paths; the scenario loader hides them.
FAULT_TAGS: tuple[str, ...] = (
    "recorder_crash",
    "disk_failure",
    "disk_fill",
    "backhaul_cut",
    "set_power",
    "district_power",
    "relay_down",
    "group",
    "drive_failure",
    "spread",
    "n_plus_1",
    "n_plus_m",
    "none",
    "dual",
)


def _all_timed(faults: list[Any]) -> list[Any]:
    for i, f in enumerate(faults):
        if not f.timed:
            raise ValueError(
                f"faults[{i}] ({f.type}) has no timing: "
                f"give at_s (and duration_s) or mtbf_h and mttr_h"
            )
    return faults


Faults = Annotated[list[Fault], AfterValidator(_all_timed)]


# ----------------------------------------------------------------------------- failover
class Heartbeat(_Model):
    interval_s: float = Field(
        default=5.0,
        ge=0.1,
        le=3600,
        description="Recorders (and relays) beat this often, s (0.1 s to an hour: real "
        "heartbeats are seconds apart).",
    )
    missed_beats: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Declared down after this many intervals without a beat (at most 1,000).",
    )

    @property
    def timeout_s(self) -> float:
        return self.interval_s * self.missed_beats


class SpreadStandby(_Model):
    """No standby hardware: a lost recorder's cameras spread over its pool's survivors."""

    type: Literal["spread"] = "spread"


class NPlus1Standby(_Model):
    """The last recorder of each pool is a standby: it takes no cameras until a failure."""

    type: Literal["n_plus_1"] = "n_plus_1"

    @property
    def standby_recorders(self) -> int:
        return 1


class NPlusMStandby(_Model):
    """The last M recorders of each pool are standbys; a lost recorder's cameras fill one
    idle standby after another (a 1:1 takeover), never a recorder over its limits."""

    type: Literal["n_plus_m"] = "n_plus_m"
    standby_recorders: int = Field(
        ge=1,
        le=100_000,
        description="Standby recorders per pool (M; at most a pool's 100,000 recorders).",
    )


class NoStandby(_Model):
    """No failover: a lost recorder's cameras wait, unrecorded, for it to return."""

    type: Literal["none"] = "none"


class DualStandby(_Model):
    """Chosen cameras are recorded twice, on two recorders of their pool, all the time: losing
    one copy loses no footage. The other cameras of a lost recorder spread over the pool's
    survivors. A camera is chosen by its site kind or its district (either list matches)."""

    type: Literal["dual"] = "dual"
    site_kinds: list[Literal["lamp_post", "smart_lamp_post", "government_building"]] = Field(
        default_factory=list, description="Cameras on these kinds of site are recorded twice."
    )
    districts: list[str] = Field(
        default_factory=list, description="Cameras in these districts are recorded twice."
    )

    @model_validator(mode="after")
    def _chooses(self) -> DualStandby:
        if not self.site_kinds and not self.districts:
            raise ValueError("dual recording needs site_kinds or districts to choose its cameras")
        return self


Standby = Annotated[
    Union[SpreadStandby, NPlus1Standby, NPlusMStandby, NoStandby, DualStandby],
    Field(discriminator="type"),
]


class RelayFailover(_Model):
    @model_serializer(mode="wrap")
    def _omit_unset_recovery(self, handler: Any) -> Any:
        return omit_unset(handler(self), self, ("recovery_s",))

    standby: bool = Field(
        default=False, description="A standby relay takes over a lost one (district or city)."
    )
    switch_s: float = Field(
        default=10.0,
        ge=0,
        le=86_400,
        description="Cameras re-pointed to the standby relay this long after detection, s (at "
        "most a day).",
    )
    recovery_s: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="A relay that went down serves again this long after its outage ends, s (a "
        "killed MediaMTX restarted by its supervisor: a second or two; at most an hour); its "
        "cameras then reconnect (failover.reconnect_s_per_camera). 0: at the outage's end.",
    )


class BackhaulFailover(_Model):
    backup_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="A backup path with this share of each district's backhaul capacity (0: none).",
    )
    switch_s: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="Routing converges onto the backup path this long after a cut, s (at most a "
        "day).",
    )


PRIORITIES: tuple[str, ...] = ("high", "normal", "low", "none")


class PriorityGroup(_Model):
    """Cameras whose failover goes by `priority`: chosen by site kind or district (either
    list matches; a camera in several groups takes the first)."""

    priority: Literal["high", "normal", "low", "none"] = Field(
        description="high, normal, low: the order a failover places cameras in when standby "
        "capacity is short; none: never moved (they wait for their recorder)."
    )
    site_kinds: list[Literal["lamp_post", "smart_lamp_post", "government_building"]] = Field(
        default_factory=list, description="Cameras on these kinds of site."
    )
    districts: list[str] = Field(default_factory=list, description="Cameras in these districts.")

    @model_validator(mode="after")
    def _chooses(self) -> PriorityGroup:
        if not self.site_kinds and not self.districts:
            raise ValueError("a priority group needs site_kinds or districts to choose its cameras")
        return self


class Failover(_Model):
    heartbeat: Heartbeat = Field(default_factory=Heartbeat)
    reassign_s: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="Cameras start on their new recorder this long after the loss is detected, s "
        "(also the delay of a fail-back after the recorder is seen again; at most a day).",
    )
    reconnect_s_per_camera: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="The reconnection storm, s per camera: the k-th camera a failover moves onto "
        "one recorder records again k times this after the reassignment; the k-th camera of a "
        "recorder likewise after a relay or a site's power comes back (a live recorder takes "
        "tens of ms per stream; at most a minute). 0: all at once.",
    )
    power_reconnect_s: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="A camera whose site's power comes back is recorded again this long after, "
        "s: its recorder's next retry, the RTSP connection and its first keyframe (the camera's "
        "own boot is not in it: give it with the power cut's duration); the k-th camera of a "
        "recorder failover.reconnect_s_per_camera x k later (at most an hour). 0: at once.",
    )
    standby: Standby = Field(default_factory=SpreadStandby)
    relay: RelayFailover = Field(default_factory=RelayFailover)
    backhaul: BackhaulFailover = Field(default_factory=BackhaulFailover)
    ups_s: dict[
        Literal["lamp_post", "smart_lamp_post", "government_building"],
        Annotated[float, Field(ge=0, le=7 * 86_400)],
    ] = Field(
        default_factory=dict,
        description="Battery ride-through of a camera site on a power cut, s, by site kind "
        "(default 0; at most a week, past any site UPS).",
    )
    priority: list[PriorityGroup] = Field(
        default_factory=list,
        max_length=1000,
        description="Failover priority per camera group (others: normal); when standby "
        "capacity is short, higher priority is placed first (at most 1,000 groups).",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_priority(self, handler: Any) -> Any:
        # Left out of the canonical JSON when not given: shipped scenarios hash as before.
        out = handler(self)
        if not self.priority:
            out.pop("priority", None)
        return omit_unset(out, self, ("reconnect_s_per_camera", "power_reconnect_s"))

    @property
    def standby_per_pool(self) -> int:
        return int(getattr(self.standby, "standby_recorders", 0))


# ----------------------------------------------------------------------------- cross-checks
def _members(f: Any) -> list[Any]:
    return list(f.faults) if f.type == "group" else [f]


def check_fault_targets(sc: Any) -> None:
    """Faults must name recorders, districts and sets the scenario has (raises ValueError)."""
    districts = [d.name for d in sc.city.districts]
    pools = sc.recorders.pools
    recorders = [f"{p.name}-r{j + 1:02d}" for p in pools for j in range(p.recorders)]
    m = sc.failover.standby_per_pool
    if m:
        short = [p.name for p in pools if p.recorders <= m]
        if short:
            raise ValueError(
                f"failover.standby ({sc.failover.standby.type}) keeps {m} standby recorder(s) per "
                f"pool, so each pool needs more than {m} recorders; pools {short} do not have them"
            )
    dual = sc.failover.standby
    if dual.type == "dual":
        unknown = sorted(set(dual.districts) - set(districts))
        if unknown:
            raise ValueError(
                f"failover.standby.districts names unknown districts {unknown}; expected names "
                f"from {sorted(districts)}"
            )
    for i, g in enumerate(sc.failover.priority):
        unknown = sorted(set(g.districts) - set(districts))
        if unknown:
            raise ValueError(
                f"failover.priority[{i}].districts names unknown districts {unknown}; expected "
                f"names from {sorted(districts)}"
            )
    if (m or dual.type == "dual") and sc.recorders.assignment.type == "static":
        raise ValueError(
            f"failover.standby ({sc.failover.standby.type}) needs recorders.assignment "
            "type: balanced; a static round-robin plan would put cameras on the standbys"
        )
    n_sets = sc.city.total_sets
    for i, f in enumerate(sc.faults):
        for j, mem in enumerate(_members(f)):
            where = f"faults[{i}]" + (f".faults[{j}]" if f.type == "group" else "")
            if hasattr(mem, "recorder") and mem.recorder != "*" and mem.recorder not in recorders:
                raise ValueError(
                    f"{where}.recorder: {mem.recorder!r} is not a recorder"
                    f"{near_note(mem.recorder, recorders)}; expected '*' or one of "
                    f"{recorders[:6]}{' ...' if len(recorders) > 6 else ''} (<pool>-rNN)"
                )
            if mem.type == "drive_failure":
                named = [
                    p
                    for p in pools
                    if mem.recorder == "*" or mem.recorder.rsplit("-r", 1)[0] == p.name
                ]
                bare = [p.name for p in named if p.drives is None]
                if bare:
                    raise ValueError(
                        f"{where} (drive_failure) hits pools {bare}, which give disk_tb, not "
                        "drives:; give those pools drives: (size_tb, count, raid)"
                    )
            if hasattr(mem, "district") and mem.district != "*" and mem.district not in districts:
                raise ValueError(
                    f"{where}.district: {mem.district!r} is not a district"
                    f"{near_note(mem.district, districts)}; expected '*' or one of "
                    f"{sorted(districts)}"
                )
            if (
                hasattr(mem, "relay")
                and mem.relay not in ("*", "city")
                and mem.relay not in districts
            ):
                raise ValueError(
                    f"{where}.relay: {mem.relay!r} is not a relay"
                    f"{near_note(mem.relay, [*districts, 'city'])}; expected 'city', '*' or a "
                    f"district name from {sorted(districts)}"
                )
            if isinstance(getattr(mem, "camera_set", None), int) and mem.camera_set > n_sets:
                raise ValueError(
                    f"{where}.camera_set: {mem.camera_set} is past the last set ({n_sets})"
                )
