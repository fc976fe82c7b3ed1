"""The SimPy engine: the whole city on virtual time, driving the production core.

Theory of operation
-------------------
Four SimPy processes share one environment (equal-time events run in SimPy's fixed
(time, priority, seq) order, so a run is deterministic):

- roll-out: at each time some sets come on line, their cameras go through the district
  backhaul check and the assignment policy (core.assignment), and the ones placed start an
  open run in the catalog (core.catalog).
- writer: every tick (a whole number of segments) each recorder either takes the tick's
  segments of all its cameras or, if its disk cannot hold them, drops them all (counted per
  camera). Only recorder-sized arrays are touched per tick; a camera is touched only when it
  changes state (starts, stops, starts or stops dropping).
- sweeper: every sweep interval the core's retention plan runs on the catalog and the
  recorders' disks are credited with what it freed.
- sampler: time series for plots and the report.

Extensions (faults, evidence: twin.sim.extensions says which a scenario switches on) attach
their own processes and act on the engine only through its seam (`Extension`): block or
unblock a cause for cameras, take a recorder down or up, fill or lose its disk, assign
cameras to recorders, refresh cameras; and they hear of it through listeners (cameras
placed, stopped, resumed; a sweep ran). The engine imports none of them. Its state is four
private parts (Cameras, Recorders, DiskLedger, Series) that they read through read-only
views; the daily-curve writer (twin.sim.capacity) charges bytes through the ledger's methods.

The per-camera arrays are per *stream*: with dual recording (twin.sim.dual) a chosen
camera's second copy is one more stream after the n_cams cameras; `stream_cam` maps a
stream to its camera and `partner` to its other copy. The outcome is per camera.

A camera is in one state at a time (the transition table is CAMERA_TRANSITIONS): off line,
recording (an open run), or dropping for a reason (segments counted, never written). Which
reason is decided in one place, `_want`, from per-camera upstream blocks (power, backhaul
cut, relay down: counters, as faults overlap), its recorder (none after a failover that
found no room, down, disk full); `_refresh` (public: `refresh`) moves the cameras a change
touched into the state it implies.

Gap and loss accounting (exact, per camera). A camera that stops at t loses the segment
under way: its footage ends at the last whole-segment boundary b <= t of its run. The one
exception is a recorder that crashes (goes down, its disk intact) when the scenario has
`recording.fragment_s` f: its recorders write fragmented segment files, flushed, so the
crash keeps each camera's segment under way up to its last fragment, e = b + floor((t - b)
/ f) * f (`_keep_partials`); and with it, a stream that stops upstream of a recorder that
stays up (power, backhaul cut, relay down) keeps all of it, e = t: the recorder sees the
stream end and closes the file there, as the live recorder does. That partial is a segment
file like any other: a one-segment run of length e - b in the catalog (deleted by retention
like any), its bytes on the recorder's disk, counted in segments written; its seconds are
recorded footage (`kept_s`), not unrecorded. A stop for any other cause (a move onto a
recorder that is down, a failed disk, a full disk), or any stop without
`recording.fragment_s`, keeps nothing of the segment under way: e = b. The
camera resumes at t' with a new segment, so the gap is t' - e, added to `lost_s` (the
camera's unrecorded seconds so far) and compared with `gap_max_s`. A move between two live
recorders (fail-back) happens at a segment boundary of the run and loses nothing. Footage
lost with a failed disk is counted apart (twin.sim.faults).

The partial-segment rule (one rule, used for results, CSVs and plots): a camera's time on
line is whole segment slots; every slot not filled by a whole written segment is dropped: a
slot any part of which went unrecorded, or that holds a crashed recorder's partial segment,
counts as dropped. So a camera's dropped segments so far are ceil((lost_s + kept_s) /
segment_s) (`drop_slots`), booked as its reason changes: each reason gets the growth of that
running total while it held (a partial's slot goes to `recorder_down` when it is kept), so
the parts add up to the whole. At the end of the run, per camera (per stream with dual
recording), whatever the fault timing, exactly:

- slots: whole segments written + dropped = (end - on line) / segment_s (a gap of 240.5
  segments and the half-segment it leaves at the end of the camera's last run are one slot:
  241 dropped);
- files: segment files written = whole segments + partial segments kept (`partials`; the
  run's `segments_written` is their sum over cameras);
- seconds: whole segments x segment_s + kept_s + lost_s + the segment still being written at
  the end = end - on line.

The writer charges whole ticks in advance. Each open run remembers the first tick it was
charged for; when it closes (or the run ends), the difference between the segments it really
holds (floor((t - start) / segment_s)) and what was charged is credited back (`_settle`,
the one refund), so `written`
and the recorders' used bytes stay exact whatever the order of events at equal times.
The disk-full check uses those running bytes; the peaks reported (`rec_peak_bytes`,
`total_peak_bytes`) are measured on the catalog itself at every moment footage on disk can
peak: just before each sweep, just before a disk is lost and at the end of the run. The time
series has a row at each of those moments that is a sample time (before and after the
sweep), and a `peak` row at any other sweep where the city's or a recorder's footage
peaked, so the maximum of the series is the peak reported (`series_kind` says why each row
was taken).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy

from twin.core.assignment import RecorderLoads, accept_within_limits
from twin.core.catalog import RunCatalog
from twin.core.states import StateTable
from twin.core.sweep import RetentionSweep
from twin.core.types import Interval
from twin.model.city import CityModel, camera_names
from twin.scenario import Scenario, StaticAssignment
from twin.sim.capacity import Capacity
from twin.sim.dual import chosen_cameras, overlap_gaps, uncovered_s, with_copies

__all__ = [
    "DROP_REASONS",
    "BLOCK_CAUSES",
    "CAMERA_TRANSITIONS",
    "SimOutcome",
    "CityEngine",
    "Extension",
    "SERIES_COUNTS",
    "drop_slots",
    "PlacementMemo",
    "DiskLoss",
    "CameraListener",
    "RECORDING",
    "DiskLedger",
]

OFFLINE, RECORDING, DROPPING = 0, 1, 2
DROP_REASONS: tuple[str, ...] = (
    "disk_full",
    "ingest_limit",
    "unplaced",
    "backhaul",
    # faults and failover
    "recorder_down",
    "power",
    "backhaul_cut",
    "relay_down",
    "unassigned_after_failover",
)
# Causes upstream of the recorders, counted per camera (faults overlap); in precedence order.
BLOCK_CAUSES: tuple[str, ...] = ("power", "backhaul_cut", "relay_down")
_R = {name: i for i, name in enumerate(DROP_REASONS)}
_UPSTREAM = np.array([_R[c] for c in BLOCK_CAUSES])  # stops a live recorder sees as a stream end
QUIET_TICKS_MAX = 4096  # writer ticks charged at once at most (a (ticks x recorders) array)

# Time-series columns that are counts (written as integers); the rest are seconds and bytes.
SERIES_COUNTS: tuple[str, ...] = (
    "written",
    "deleted",
    "dropped",
    "cameras_online",
    "cameras_recording",
)


def drop_slots(lost_s: np.ndarray, segment_s: float) -> np.ndarray:
    """Segment slots a camera with `lost_s` unrecorded seconds has dropped: every slot any
    part of which went unrecorded (the partial-segment rule, module docstring)."""
    return np.ceil(np.asarray(lost_s) / segment_s - 1e-9).clip(0).astype(np.int64)


# (from state, event) -> to state. Anything else is a bug in the engine.
CAMERA_TRANSITIONS: StateTable[int, str] = StateTable(
    {
        (OFFLINE, "placed"): RECORDING,
        (OFFLINE, "refused"): DROPPING,
        (RECORDING, "drop"): DROPPING,
        (DROPPING, "resume"): RECORDING,
        (DROPPING, "reason"): DROPPING,  # still unrecorded, now for another reason
        (RECORDING, "switch"): RECORDING,  # moved to another recorder (fail-back)
    }
)


CameraListener = Callable[[np.ndarray, float], None]  # (cameras, t)


def _bad_move(state: int, event: str, allowed: list[str]) -> Exception:
    return AssertionError(
        f"a camera in state {state} cannot take event {event!r} (allowed: "
        f"{allowed}): a bug in the engine"
    )


class Extension(Protocol):
    """A part of the programme simulated beside the recording core (evidence, faults, ...).

    `attach` runs before the simulation starts (in list order) and may add SimPy processes
    to `engine.env`. It changes the engine only through the seam (`block`, `unblock`,
    `recorder_down`, `recorder_up`, `fill_disk`, `lose_disk`, `assign`, `refresh`,
    `log_event`), and hears of it through `on_cameras` and `after_sweeps`; what it reads
    (sc, city, env, end_s, seg_s, draw_key, catalog, loads, standby, partner, stream_cam, the
    cam_* and rec_* arrays) it never writes: the arrays are read-only views of the engine's
    private state (Cameras, Recorders, DiskLedger, Series), and tests/test_engine_seam.py
    checks that no module of twin/sim but this one writes the engine or calls another
    object's private method. `finish` runs after the run ends and returns scalar metrics
    (names registered in twin.metrics). An extension draws nothing: its plots are the
    output layer's (twin.output.sim_plots, looked up by `name`), so the engine never
    imports matplotlib or anything above it.
    """

    name: str

    def attach(self, engine: CityEngine) -> None: ...

    def finish(self, engine: CityEngine) -> dict[str, float]: ...


@dataclass
class DiskLoss:
    """What a recorder's lost disk took with it (`CityEngine.lose_disk`)."""

    stream_s: np.ndarray  # per stream: seconds of footage lost that no other copy holds
    segments: int
    bytes: float
    held_segments: int  # of those, segments under an evidence hold


@dataclass
class SimOutcome:
    """Everything a run measured, for results.py to turn into results.json, CSVs and plots."""

    scenario: Scenario
    city: CityModel
    end_s: float
    cam_recorder: np.ndarray
    cam_state: np.ndarray
    dropped: np.ndarray  # int64 [reason, camera]
    rec_peak_bytes: np.ndarray
    rec_load_mbps_max: np.ndarray
    rec_streams_max: np.ndarray
    backhaul_mbps: np.ndarray
    written_segments: int
    deleted_segments: int
    stored_bytes_end: np.ndarray  # per recorder
    stored_segments_end: int
    overdue_max: int
    total_peak_bytes: float
    series: dict[str, np.ndarray] = field(default_factory=dict)
    rec_series_bytes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    rec_series_load: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    max_age_s: float = 0.0
    cam_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    rec_load_mbps_end: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra_metrics: dict[str, float] = field(default_factory=dict)
    extensions: list[Extension] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Faults and failover (per camera): seconds never recorded, longest gap, placed at all.
    lost_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gap_max_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    admitted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # Per camera: whole segments written (with `dropped`, the camera's slots on line, exactly).
    cam_written: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # Per camera: partial segments a crashed recorder kept, and their seconds (module doc).
    cam_partials: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cam_kept_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Per time-series row: why it was taken (periodic, before_sweep, after_sweep, peak,
    # before_disk_loss, after_disk_loss, end).
    series_kind: list[str] = field(default_factory=list)
    # Daily curves and overwrite_oldest (twin.sim.capacity), when the scenario uses them.
    capacity: Capacity | None = None

    @property
    def faults(self) -> Any:
        """The extension named "faults" (twin.sim.faults.FaultDriver), if the run had one."""
        return next((x for x in self.extensions if x.name == "faults"), None)


# A time-series row: (sequence, kind, the row's values, stored bytes per recorder, ingest per
# recorder).
SeriesRow = tuple[int, str, tuple[float, ...], np.ndarray, np.ndarray]


def _read_only(a: np.ndarray) -> np.ndarray:
    """A view of an engine array that its readers cannot write through."""
    v = a.view()
    v.flags.writeable = False
    return v


def _frozen(a: np.ndarray) -> np.ndarray:
    """An array fixed for the whole run (set up before it starts), made unwritable in place."""
    a.flags.writeable = False
    return a


# The engine's state, in four parts, private to it: extensions read it through the engine's
# read-only properties and change it only through the seam (Extension), so no module but this
# one writes a camera's state, a recorder's rate or the bytes charged to a disk.


@dataclass(eq=False)
class Cameras:
    """Per stream (the first n_cams are the cameras, then dual recording's second copies):
    state, recorder, open run and the gap and loss accounting (module docstring)."""

    rec: np.ndarray  # recorder the stream is to record on (-1: none)
    state: np.ndarray  # OFFLINE, RECORDING or DROPPING (CAMERA_TRANSITIONS)
    reason: np.ndarray  # index in DROP_REASONS while dropping, else -1
    since: np.ndarray  # drops booked up to this time (dropping streams)
    dropped: np.ndarray  # int64 [reason, stream]: segment slots dropped, booked
    admitted: np.ndarray  # a recorder took it once (only admitted streams are moved by faults)
    blocked: np.ndarray  # int16 [cause, stream]: upstream blocks under way, counted (overlap)
    run_rec: np.ndarray  # recorder of the stream's open run (-1: none)
    run_start: np.ndarray
    charge_from: np.ndarray  # first writer tick that charged the open run
    contrib_rec: np.ndarray  # recorder whose rate counts the stream (-1: none)
    gap_start: np.ndarray
    lost_s: np.ndarray  # unrecorded seconds so far
    gap_max: np.ndarray
    written: np.ndarray  # whole segments written
    partials: np.ndarray  # partial segments kept (a crashed recorder's, up to its last fragment)
    kept_s: np.ndarray  # seconds of footage in those partial segments
    # Per camera: a stream of it was admitted; its streams recording now.
    cam_admitted: np.ndarray
    streams_recording: np.ndarray
    unrecorded: int = 0  # admitted cameras with no stream recording
    unrecorded_series: list[tuple[float, int]] = field(default_factory=lambda: [(0.0, 0)])
    # Dual streams' gaps: (streams, gap starts, gap ends), for the overlap of a camera's copies.
    gap_log: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    # Per camera, at the end of the run: a camera recorded twice lost only what neither copy has.
    cam_lost_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cam_gap_max: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def empty(cls, n_streams: int, n_cams: int) -> Cameras:
        n = n_streams
        return cls(
            rec=np.full(n, -1, dtype=np.int64),
            state=np.zeros(n, dtype=np.int8),
            reason=np.full(n, -1, dtype=np.int8),
            since=np.zeros(n),
            dropped=np.zeros((len(DROP_REASONS), n), dtype=np.int64),
            admitted=np.zeros(n, dtype=bool),
            blocked=np.zeros((len(BLOCK_CAUSES), n), dtype=np.int16),
            run_rec=np.full(n, -1, dtype=np.int64),
            run_start=np.zeros(n),
            charge_from=np.zeros(n),
            contrib_rec=np.full(n, -1, dtype=np.int64),
            gap_start=np.zeros(n),
            lost_s=np.zeros(n),
            gap_max=np.zeros(n),
            written=np.zeros(n, dtype=np.int64),
            partials=np.zeros(n, dtype=np.int64),
            kept_s=np.zeros(n),
            cam_admitted=np.zeros(n_cams, dtype=bool),
            streams_recording=np.zeros(n_cams, dtype=np.int64),
        )


@dataclass(eq=False)
class Recorders:
    """Per recorder: the write rate and physical load of the cameras it records, its outages
    and foreign data, and the highest loads seen; per district, the backhaul admitted."""

    rate: np.ndarray  # bytes per tick of the cameras a recorder records
    ncams: np.ndarray
    full: np.ndarray  # its disk cannot take the next tick
    down: np.ndarray  # int16: physical outages under way
    fill: np.ndarray  # bytes of its disk taken by foreign data
    phys_mbps: np.ndarray
    phys_streams: np.ndarray
    load_max: np.ndarray
    streams_max: np.ndarray
    backhaul: np.ndarray  # Mbps admitted on each district's backhaul
    over_limit: int = 0  # times a recorder was found over one of its limits

    @classmethod
    def empty(cls, n_recorders: int, n_districts: int) -> Recorders:
        r = n_recorders
        return cls(
            rate=np.zeros(r),
            ncams=np.zeros(r, dtype=np.int64),
            full=np.zeros(r, dtype=bool),
            down=np.zeros(r, dtype=np.int16),
            fill=np.zeros(r),
            phys_mbps=np.zeros(r),
            phys_streams=np.zeros(r, dtype=np.int64),
            load_max=np.zeros(r),
            streams_max=np.zeros(r, dtype=np.int64),
            backhaul=np.zeros(n_districts),
        )


@dataclass(eq=False)
class DiskLedger:
    """What the writer has charged to the recorders' disks: whole ticks in advance, credited
    back when a run closes (module docstring). The one write path for the daily-curve writer
    (twin.sim.capacity) is `charge` and `free`."""

    used: np.ndarray  # bytes per recorder, as charged
    written: int = 0  # segments, as charged
    charged_through: float = 0.0  # the writer has charged every tick before this time

    def charge(self, add: np.ndarray, segments: int, through: float) -> None:
        """The writer charged `add` bytes per recorder and `segments`, up to `through`."""
        self.used += add
        self.written += segments
        self.charged_through = through

    def free(self, freed: np.ndarray) -> None:
        """Footage of `freed` bytes per recorder left the disks (a sweep, an overwrite)."""
        self.used -= freed


@dataclass(eq=False)
class Series:
    """The time series and the figures measured at sweeps: peaks, oldest age, overdue."""

    rec_peak: np.ndarray  # bytes on disk, per recorder
    peak_rec_t: np.ndarray  # when each recorder's peak was measured
    # Rows: (seq, kind, row, stored bytes per recorder, ingest per recorder).
    rows: list[SeriesRow] = field(default_factory=list)
    seq: Iterator[int] = field(default_factory=itertools.count)
    # Peak moments between sample times, kept until a higher peak replaces them.
    peak_rows: dict[float, SeriesRow] = field(default_factory=dict)
    peak_total_t: float = -1.0
    total_peak: float = 0.0
    max_age_s: float = 0.0
    overdue_max: int = 0

    @classmethod
    def empty(cls, n_recorders: int) -> Series:
        return cls(rec_peak=np.zeros(n_recorders), peak_rec_t=np.full(n_recorders, -1.0))


@dataclass
class PlacementMemo:
    """The balanced placement of the first roll-out step, kept to be reused.

    That step runs before any fault can act (the roll-out process starts first) on empty
    recorders, so for one city and scenario it is the same in every replication: the first
    engine given the memo fills it, the others take the recorders and loads from it instead
    of placing 17,500 cameras again. Any later step is placed afresh.
    """

    rec: np.ndarray | None = None
    load_mbps: np.ndarray | None = None
    streams: np.ndarray | None = None


class CityEngine:
    """Runs one scenario on SimPy virtual time. Use `run()` once."""

    def __init__(
        self,
        sc: Scenario,
        city: CityModel,
        progress: Callable[[float, float], None] | None = None,
        extensions: list[Extension] | None = None,
        draw_key: tuple[int, ...] = (),
        sample: bool = True,
        placement: PlacementMemo | None = None,
    ) -> None:
        self.sc = sc
        self.placement = placement
        self._activations = 0
        # sample=False: no periodic time-series rows (plots, CSVs); every metric is the same
        # without them: peaks are measured at the sweeps, which still sample.
        # Replications run so (twin.compare.replications).
        self.keep_series = sample
        # The random parts of the run (faults, evidence and access requests) draw from
        # SeedSequence(sc.seed, spawn_key=draw_key + (their own key,)): () is the scenario's
        # own draw, twin.model.draws.replication_key(k) replication k's. The city never moves.
        self.draw_key = tuple(draw_key)
        # Dual recording: each chosen camera's second copy is one more stream (twin.sim.dual);
        # every per-camera array below is per stream, the first n_cams being the cameras.
        self.base_city = city
        self.n_cams = city.n_cameras
        self.copy_of = np.zeros(0, dtype=np.int64)
        if sc.failover.standby.type == "dual":
            self.copy_of = chosen_cameras(sc.failover.standby, city)
            city = with_copies(city, self.copy_of)
        self.city = city
        self.progress = progress
        self.env = simpy.Environment()
        self.extensions = list(extensions or [])
        self._events: list[dict[str, Any]] = []  # notable events, in time order, for results.json
        self.seg_s = float(sc.recording.segment_s)
        # A crashed recorder keeps its segments under way up to their last fragment (None:
        # it loses them); `_crashing` is the recorder going down in `recorder_down`, else -1.
        self.fragment_s = sc.recording.fragment_s
        self._crashing = -1
        self.tick_s = float(sc.simulation.tick_s)
        self.k = int(sc.simulation.tick_s // sc.recording.segment_s)  # segments per tick
        n, r = city.n_cameras, city.n_recorders
        names = list(camera_names(self.base_city))
        names += [names[c] + "~copy2" for c in self.copy_of]
        self.stream_cam = np.r_[np.arange(self.n_cams), self.copy_of].astype(np.int64)
        self.partner = np.full(n, -1, dtype=np.int64)
        self.partner[self.copy_of] = self.n_cams + np.arange(self.copy_of.size)
        self.partner[self.n_cams :] = self.copy_of
        for fixed in (self.copy_of, self.stream_cam, self.partner):
            _frozen(fixed)
        self.catalog = RunCatalog(names, city.rec_names, capacity=max(1024, 2 * n))
        rec = sc.recording
        # The one sweep sequence both engines run (twin/core/sweep.py); its audit step is the
        # evidence extension's, which owns the trail.
        self.retention = RetentionSweep(self.catalog, rec.retention_s, rec.sweep_batch_segments)
        self.loads = RecorderLoads(city.rec_pool, city.rec_ingest_mbps, city.rec_max_streams)
        self.cam_bps = _frozen(city.cam_effective_mbps * 1e6 / 8.0 * self.seg_s)  # per segment
        self._cams = Cameras.empty(n, self.n_cams)
        self._recs = Recorders.empty(r, len(city.district_names))
        self._disk = DiskLedger(np.zeros(r))
        self._series = Series.empty(r)
        self._static_counters: dict[int, int] = {}
        self.standby = np.zeros(r, dtype=bool)
        m = sc.failover.standby_per_pool
        if m:
            for p in range(len(city.pool_names)):
                self.standby[np.flatnonzero(city.rec_pool == p)[-m:]] = True
        _frozen(self.standby)
        # Listeners of the seam (Extension): cameras placed, stopped, resumed.
        self._on_placed: list[CameraListener] = []
        self._on_stopped: list[CameraListener] = []
        self._on_resumed: list[CameraListener] = []
        # ... and around the bookkeeping: before recorders' rates may change (t), and before
        # and after a refresh (cameras, t), for ledgers that integrate rates or read losses.
        self._on_rates: list[Callable[[float], None]] = []
        self._on_refresh: list[tuple[CameraListener, CameraListener]] = []
        if (sc.faults or m) and self.faults is None:  # a run would silently lose its faults
            raise TypeError(
                f"scenario {sc.name!r} has faults or standby recorders but no fault extension "
                "was given: pass extensions=twin.sim.extensions.extensions_for(sc)"
            )
        # Daily curves, overwrite_oldest (twin.sim.capacity); None: the flat, drop_new engine.
        self.capacity: Capacity | None = None
        if Capacity.wanted(self):
            self.capacity = Capacity(self, self._disk, QUIET_TICKS_MAX)
            self.catalog.curves = city.curves

    @property
    def faults(self) -> Any:
        """The extension named "faults" (twin.sim.faults.FaultDriver), if one is attached."""
        return next((x for x in self.extensions if x.name == "faults"), None)

    # ------------------------------------------------------------ the state, read-only
    # What extensions, results and tests read of the state (Cameras, Recorders, DiskLedger,
    # Series): read-only views of the engine's own arrays, so a reader sees every change and
    # cannot make one; the seam below is the only way to change them.
    @property
    def cam_rec(self) -> np.ndarray:
        """Per stream: the recorder it is to record on (-1: none)."""
        return _read_only(self._cams.rec)

    @property
    def cam_state(self) -> np.ndarray:
        return _read_only(self._cams.state)

    @property
    def cam_reason(self) -> np.ndarray:
        return _read_only(self._cams.reason)

    @property
    def dropped(self) -> np.ndarray:
        """[reason, stream]: segment slots dropped, booked so far."""
        return _read_only(self._cams.dropped)

    @property
    def admitted(self) -> np.ndarray:
        return _read_only(self._cams.admitted)

    @property
    def run_rec(self) -> np.ndarray:
        return _read_only(self._cams.run_rec)

    @property
    def run_start(self) -> np.ndarray:
        return _read_only(self._cams.run_start)

    @property
    def charge_from(self) -> np.ndarray:
        return _read_only(self._cams.charge_from)

    @property
    def gap_start(self) -> np.ndarray:
        return _read_only(self._cams.gap_start)

    @property
    def lost_s(self) -> np.ndarray:
        """Per stream: seconds never recorded so far."""
        return _read_only(self._cams.lost_s)

    @property
    def cam_written(self) -> np.ndarray:
        """Per stream: whole segments written."""
        return _read_only(self._cams.written)

    @property
    def cam_partials(self) -> np.ndarray:
        """Per stream: partial segments a crashed recorder kept (`recording.fragment_s`)."""
        return _read_only(self._cams.partials)

    @property
    def kept_s(self) -> np.ndarray:
        """Per stream: seconds of footage in those partial segments."""
        return _read_only(self._cams.kept_s)

    @property
    def cam_admitted(self) -> np.ndarray:
        return _read_only(self._cams.cam_admitted)

    @property
    def cam_lost_s(self) -> np.ndarray:
        """Per camera, once the run has ended: seconds neither of its streams recorded."""
        return _read_only(self._cams.cam_lost_s)

    @property
    def cam_gap_max(self) -> np.ndarray:
        return _read_only(self._cams.cam_gap_max)

    @property
    def unrecorded(self) -> int:
        """Admitted cameras with no stream recording now."""
        return self._cams.unrecorded

    @property
    def unrecorded_series(self) -> list[tuple[float, int]]:
        """(t, admitted cameras unrecorded) at every refresh: a copy, the reader's own."""
        return list(self._cams.unrecorded_series)

    @property
    def rec_rate(self) -> np.ndarray:
        """Per recorder: bytes a writer tick of its recording cameras (flat, drop_new)."""
        return _read_only(self._recs.rate)

    @property
    def rec_ncams(self) -> np.ndarray:
        return _read_only(self._recs.ncams)

    @property
    def rec_full(self) -> np.ndarray:
        return _read_only(self._recs.full)

    @property
    def rec_fill(self) -> np.ndarray:
        return _read_only(self._recs.fill)

    @property
    def rec_phys_mbps(self) -> np.ndarray:
        return _read_only(self._recs.phys_mbps)

    @property
    def rec_phys_streams(self) -> np.ndarray:
        return _read_only(self._recs.phys_streams)

    @property
    def backhaul(self) -> np.ndarray:
        """Per district: Mbps admitted on its backhaul."""
        return _read_only(self._recs.backhaul)

    @property
    def over_limit(self) -> int:
        return self._recs.over_limit

    @property
    def rec_used(self) -> np.ndarray:
        """Per recorder: bytes on disk as the writer has charged them (DiskLedger)."""
        return _read_only(self._disk.used)

    @property
    def written(self) -> int:
        return self._disk.written

    @property
    def charged_through(self) -> float:
        return self._disk.charged_through

    @property
    def rec_peak(self) -> np.ndarray:
        """Per recorder: the most footage on its disk, measured so far."""
        return _read_only(self._series.rec_peak)

    @property
    def events(self) -> tuple[dict[str, Any], ...]:
        """The notable events so far (add one with `log_event`)."""
        return tuple(self._events)

    # ------------------------------------------------------------ the seam (Extension)
    def on_cameras(
        self,
        placed: CameraListener | None = None,
        stopped: CameraListener | None = None,
        resumed: CameraListener | None = None,
    ) -> None:
        """Be told (cameras, t) when cameras are placed on a recorder, stop recording (their
        run closed: a gap starts) or resume (a gap ends); in the order listeners came."""
        for fn, group in (
            (placed, self._on_placed),
            (stopped, self._on_stopped),
            (resumed, self._on_resumed),
        ):
            if fn is not None:
                group.append(fn)

    def on_rates(self, fn: Callable[[float], None]) -> None:
        """Call fn(t) whenever the recorders' write rates (`rec_rate`, `rec_ncams`) may be about
        to change, before they do: a ledger integrates the rates up to t."""
        self._on_rates.append(fn)

    def on_refresh(self, before: CameraListener, after: CameraListener) -> None:
        """Call before(cams, t) and after(cams, t) around every refresh of cameras, so a
        listener can see what the refresh changed (for example the seconds lost it added)."""
        self._on_refresh.append((before, after))

    def after_sweeps(self, fn: Callable[[float, RetentionSweep], None]) -> None:
        """Call fn(t, retention) at every sweep time, after the sweep (a process started now,
        so after the engine's sweeper and after the processes attached before it)."""
        every = self.sc.recording.sweep_interval_s

        def loop() -> Generator[simpy.Event, Any, None]:
            while True:
                yield self.env.timeout(every)
                fn(float(self.env.now), self.retention)

        self.env.process(loop())

    def log_event(self, entry: dict[str, Any]) -> None:
        """A notable event for results.json (`t_s` and `kind` first), in time order."""
        self._events.append(entry)

    def block(self, cause: str, cams: np.ndarray, t: float) -> None:
        """Cut `cams` off upstream of their recorders for `cause` (one of BLOCK_CAUSES); blocks
        are counted, so overlapping faults add up. The cameras stop at `t`."""
        self._cams.blocked[BLOCK_CAUSES.index(cause), cams] += 1
        self._refresh(cams, t)

    def unblock(self, cause: str, cams: np.ndarray, t: float) -> None:
        """Lift one block of `cause` from `cams`; those with no block left record again."""
        self._cams.blocked[BLOCK_CAUSES.index(cause), cams] -= 1
        self._refresh(cams, t)

    def recorder_down(self, r: int, t: float, keeps_fragments: bool = True) -> bool:
        """Recorder `r` stops (outages are counted, so they overlap); True if it was up, when
        its cameras stop recording at `t`. With `recording.fragment_s` a crashed recorder keeps
        each camera's segment under way up to its last fragment (the partial-segment rule);
        `keeps_fragments` False: it keeps nothing of it (its disk failed with it)."""
        self._recs.down[r] += 1
        if self._recs.down[r] != 1:
            return False
        self._crashing = r if keeps_fragments and self.fragment_s is not None else -1
        try:
            self._refresh(self.cameras_on(r), t)
        finally:
            self._crashing = -1
        return True

    def recorder_up(self, r: int, t: float) -> bool:
        """One outage of recorder `r` ends; True if it is up again, when the cameras still
        assigned to it reconnect at `t`."""
        self._recs.down[r] -= 1
        if self._recs.down[r] != 0:
            return False
        self._refresh(self.cameras_on(r), t)
        return True

    def recorders_up(self) -> np.ndarray:
        """Indices of the recorders with no outage under way."""
        return np.flatnonzero(self._recs.down == 0)

    def is_up(self, r: int) -> bool:
        return bool(self._recs.down[r] == 0)

    def fill_disk(self, r: int, nbytes: float) -> None:
        """Foreign data takes (or, negative, gives back) `nbytes` of recorder `r`'s disk."""
        self._recs.fill[r] += nbytes

    def lose_disk(self, r: int, t: float) -> DiskLoss:
        """Recorder `r`'s disk is lost at `t`: its segments leave the catalog. A stream's loss
        counts only what its other copy (dual recording) does not hold."""
        cat = self.catalog
        secs = cat.footage_s_by_camera(t, r)
        if self.copy_of.size:
            for st in np.flatnonzero((secs > 0) & (self.partner >= 0)).tolist():
                secs[st] = uncovered_s(cat, st, int(self.partner[st]), r, t)
        on = (cat.col("recorder") == r) & (cat.col("held") > 0)  # evidence holds lost too
        held = int((cat.written(t)[on] - cat.col("first")[on]).sum())
        self.sample(t, "before_disk_loss")  # the recorder's footage may peak here
        segs, nbytes = cat.drop_recorder(r, t)
        self._disk.used[r] = 0.0
        self.sample(t, "after_disk_loss")
        return DiskLoss(secs, segs, nbytes, held)

    def add_footage(
        self, cams: np.ndarray, start_s: np.ndarray, n: np.ndarray, t: float
    ) -> np.ndarray:
        """Footage recorded elsewhere (a camera's card: twin.sim.backfill) arrives at `t` on
        each camera's current recorder: `n` whole segments from `start_s`. Returns bytes."""
        rec = self._cams.rec[cams]
        curve = None if self.capacity is None else self.capacity.curve_of(cams)
        rows = self.catalog.add_runs(cams, rec, start_s, self.seg_s, n, self.cam_bps[cams], curve)
        nbytes = self.catalog.span_bytes(rows, np.zeros(rows.size, dtype=np.int64), n)
        np.add.at(self._disk.used, rec, nbytes)
        self._disk.written += int(n.sum())
        return nbytes

    def lose_footage(self, r: int, window: Interval, t: float) -> DiskLoss:
        """Recorder `r` loses the footage it holds from `window` at `t` (a failed JBOD
        drive: twin.sim.drives), held footage too; it keeps recording."""
        self.sample(t, "before_disk_loss")
        secs, segs, nbytes, held = self.catalog.drop_window(r, window, t)
        self._disk.used[r] -= nbytes
        self.sample(t, "after_disk_loss")
        return DiskLoss(secs, segs, nbytes, held)

    def assign(self, cams: np.ndarray, recorders: np.ndarray | int, t: float) -> None:
        """Cameras are to record on `recorders` from `t` (-1: none found); each moves into the
        state that implies (a camera recording elsewhere switches now: see `next_boundary`)."""
        self._cams.rec[cams] = recorders
        self._refresh(cams, t)

    def refresh(self, cams: np.ndarray, t: float) -> None:
        """Move cameras into the state their circumstances imply at `t`."""
        self._refresh(cams, t)

    def cameras_on(self, r: int) -> np.ndarray:
        """The streams assigned to recorder `r`."""
        return np.flatnonzero(self._cams.rec == r)

    def recording_elsewhere(self, cams: np.ndarray, r: int) -> np.ndarray:
        """Of `cams`, those recording now on a recorder other than `r`."""
        elsewhere: np.ndarray = cams[
            (self._cams.state[cams] == RECORDING)
            & (self._cams.run_rec[cams] >= 0)
            & (self._cams.run_rec[cams] != r)
        ]
        return elsewhere

    def next_boundary(self, cams: np.ndarray, t: float) -> np.ndarray:
        """Each recording camera's next segment boundary at or after `t`."""
        a: np.ndarray = self._cams.run_start[cams]
        return a + np.ceil((t - a) / self.seg_s - 1e-9) * self.seg_s

    # ------------------------------------------------------------ camera states
    def _move(self, cams: np.ndarray, event: str) -> None:
        to = {
            CAMERA_TRANSITIONS.next(int(s), event, _bad_move)
            for s in np.unique(self._cams.state[cams])
        }
        assert len(to) == 1, f"cameras in mixed states for event {event!r}"
        self._cams.state[cams] = to.pop()

    def _start_dropping(self, cams: np.ndarray, reason: str, t: float, event: str = "drop") -> None:
        """Cameras refused at start (never admitted): dropping from `t`."""
        if cams.size == 0:
            return
        self._move(cams, event)
        self._cams.reason[cams] = DROP_REASONS.index(reason)
        self._cams.since[cams] = t
        self._cams.gap_start[cams] = t

    def _drops_due(self, cams: np.ndarray, t: float) -> np.ndarray:
        """Segments dropping cameras have dropped since their `since`, not yet booked."""
        base = self._cams.lost_s[cams] + self._cams.kept_s[cams]
        due: np.ndarray = drop_slots(base + (t - self._cams.since[cams]), self.seg_s) - drop_slots(
            base, self.seg_s
        )
        return due

    def _book_drops(self, cams: np.ndarray, t: float) -> None:
        """Book a dropping camera's segments from its `since` to `t` under its current reason
        (the partial-segment rule: the growth of ceil((lost_s + kept_s) / segment_s))."""
        segs = self._drops_due(cams, t)
        np.add.at(self._cams.dropped, (self._cams.reason[cams].astype(np.int64), cams), segs)
        self._cams.lost_s[cams] += t - self._cams.since[cams]
        self._cams.since[cams] = t

    def _open(self, cams: np.ndarray, t: float) -> None:
        curve = None if self.capacity is None else self.capacity.curve_of(cams)
        self.catalog.open_runs(cams, self._cams.rec[cams], t, self.seg_s, self.cam_bps[cams], curve)
        self._cams.run_rec[cams] = self._cams.rec[cams]
        self._cams.run_start[cams] = t
        first_tick = np.ceil(t / self.tick_s - 1e-9) * self.tick_s
        self._cams.charge_from[cams] = max(first_tick, self._disk.charged_through)

    def _settle(self, cams: np.ndarray, t: float, charged_to: float) -> np.ndarray:
        """Book the open runs' whole segments at `t` and credit back what the writer charged
        for them beyond that (its ticks up to `charged_to`); returns the whole segments."""
        whole: np.ndarray = np.floor((t - self._cams.run_start[cams]) / self.seg_s + 1e-9)
        ticks = np.maximum(np.rint((charged_to - self._cams.charge_from[cams]) / self.tick_s), 0)
        delta = (whole - ticks * self.k).astype(np.int64)
        self._disk.written += int(delta.sum())
        self._cams.written[cams] += whole.astype(np.int64)
        credit = (
            delta * self.cam_bps[cams]
            if self.capacity is None
            else self.capacity.credit(cams, whole, charged_to)
        )
        np.add.at(self._disk.used, self._cams.run_rec[cams], credit)
        return whole

    def _close(self, cams: np.ndarray, t: float) -> np.ndarray:
        """Close the cameras' runs at `t`, settling what the writer charged for them.

        Returns the end of each run's footage (its last whole-segment boundary).
        """
        a: np.ndarray = self._cams.run_start[cams]
        whole = self._settle(cams, t, self._disk.charged_through)
        self.catalog.close_runs(cams, t)
        self._cams.run_rec[cams] = -1
        return a + whole * self.seg_s

    def _keep_partials(
        self,
        cams: np.ndarray,
        b: np.ndarray,
        t: float,
        recs: np.ndarray,
        fragment_s: float | None,
        reason: np.ndarray,
    ) -> np.ndarray:
        """Each camera's recorder `recs` keeps its segment under way, from its last
        whole-segment boundary `b` up to its last fragment (`fragment_s`: a crash) or up to
        `t` (None: the stream stopped upstream and the recorder closed the file itself), as a
        segment file of its own (a one-segment run of that length in the catalog, on the
        recorder's disk like any segment, deleted by retention like any). Its slot still counts
        as dropped (it is not a whole segment: `kept_s` joins `lost_s` in the slots), under
        each camera's `reason`. Returns where each camera's footage ends."""
        end: np.ndarray = (
            np.full(b.size, t)
            if fragment_s is None
            else b + np.floor((t - b) / fragment_s + 1e-9) * fragment_s
        )
        end = np.minimum(end, t)
        keep = end - b > 1e-9
        if not keep.any():
            return end
        c, start, length = cams[keep], b[keep], end[keep] - b[keep]
        rec = recs[keep]
        curve = None if self.capacity is None else self.capacity.curve_of(c)
        bps = self.cam_bps[c] * (length / self.seg_s)  # the file's bytes (factor 1 with curves)
        ones = np.ones(c.size, dtype=np.int64)
        rows = self.catalog.add_runs(c, rec, start, length, ones, bps, curve)
        nbytes = self.catalog.span_bytes(rows, np.zeros(c.size, dtype=np.int64), ones)
        np.add.at(self._disk.used, rec, nbytes)
        self._disk.written += int(c.size)
        before = drop_slots(self._cams.lost_s[c] + self._cams.kept_s[c], self.seg_s)
        self._cams.partials[c] += 1
        self._cams.kept_s[c] += length
        slots = drop_slots(self._cams.lost_s[c] + self._cams.kept_s[c], self.seg_s) - before
        np.add.at(self._cams.dropped, (reason[keep].astype(np.int64), c), slots)
        return end

    def _resume(self, cams: np.ndarray, t: float) -> None:
        if cams.size == 0:
            return
        self._book_drops(cams, t)
        self._end_gaps(cams, t)
        self._move(cams, "resume")
        self._cams.reason[cams] = -1
        self._open(cams, t)

    def _end_gaps(self, cams: np.ndarray, t: float) -> None:
        np.maximum.at(self._cams.gap_max, cams, t - self._cams.gap_start[cams])
        self._log_gaps(cams, self._cams.gap_start[cams], t)
        self._streams(cams, +1)
        for fn in self._on_resumed:
            fn(cams, t)

    def _log_gaps(self, cams: np.ndarray, start: np.ndarray, t: float) -> None:
        dual = self.partner[cams] >= 0
        if dual.any():
            self._cams.gap_log.append(
                (cams[dual], np.asarray(start)[dual], np.full(int(dual.sum()), t))
            )

    def _streams(self, streams: np.ndarray, sign: int) -> None:
        """Streams start (+1) or stop (-1) recording: keep the count of unrecorded cameras."""
        cams = self.stream_cam[streams]
        u = np.unique(cams)
        before = self._cams.streams_recording[u] == 0
        np.add.at(self._cams.streams_recording, cams, sign)
        after = self._cams.streams_recording[u] == 0
        adm = self._cams.cam_admitted[u]
        self._cams.unrecorded += int((after & ~before & adm).sum()) - int(
            (before & ~after & adm).sum()
        )

    def _want(self, cams: np.ndarray) -> np.ndarray:
        """The drop reason each camera should be under now, or -1 to record (highest first)."""
        want = np.full(cams.size, -1, dtype=np.int8)
        rec = self._cams.rec[cams]
        r0 = np.maximum(rec, 0)
        want[(rec >= 0) & self._recs.full[r0]] = _R["disk_full"]
        want[(rec >= 0) & (self._recs.down[r0] > 0)] = _R["recorder_down"]
        want[rec < 0] = _R["unassigned_after_failover"]
        for i in range(len(BLOCK_CAUSES) - 1, -1, -1):
            want[self._cams.blocked[i, cams] > 0] = _R[BLOCK_CAUSES[i]]
        return want

    def _refresh(self, cams: np.ndarray, t: float) -> None:
        """Move admitted, on-line cameras into the state their circumstances imply at `t`
        (with the refresh listeners around it)."""
        if not self._on_refresh:
            self._refresh_cams(cams, t)
            return
        for before, _ in self._on_refresh:
            before(cams, t)
        self._refresh_cams(cams, t)
        for _, after in reversed(self._on_refresh):
            after(cams, t)

    def _refresh_cams(self, cams: np.ndarray, t: float) -> None:
        cams = np.unique(np.asarray(cams, dtype=np.int64))
        cams = cams[self._cams.admitted[cams] & (self._cams.state[cams] != OFFLINE)]
        if cams.size == 0:
            return
        want = self._want(cams)
        st = self._cams.state[cams]
        rec = st == RECORDING
        stop = cams[rec & (want >= 0)]
        if stop.size:
            recs = self._cams.run_rec[stop]
            why = want[rec & (want >= 0)]
            crashed = recs == self._crashing
            upstream = np.isin(why, _UPSTREAM) & (self.fragment_s is not None) & ~crashed
            since = self._close(stop, t)
            if crashed.any():  # footage up to the last fragment of the segment under way
                since[crashed] = self._keep_partials(
                    stop[crashed], since[crashed], t, recs[crashed], self.fragment_s, why[crashed]
                )
            if upstream.any():  # the recorder, still up, closed the file where the stream ended
                since[upstream] = self._keep_partials(
                    stop[upstream], since[upstream], t, recs[upstream], None, why[upstream]
                )
            self._move(stop, "drop")
            self._cams.reason[stop] = want[rec & (want >= 0)]
            self._cams.since[stop] = since
            self._cams.gap_start[stop] = since
            self._streams(stop, -1)
            for fn in self._on_stopped:
                fn(stop, t)
        other = (~rec) & (want >= 0) & (want != self._cams.reason[cams])
        if other.any():
            c = cams[other]
            self._book_drops(c, t)
            self._move(c, "reason")
            self._cams.reason[c] = want[other]
        self._resume(cams[(~rec) & (want < 0)], t)
        sw = cams[rec & (want < 0) & (self._cams.run_rec[cams] != self._cams.rec[cams])]
        if sw.size:
            end = self._close(sw, t)
            lost = t - end
            hit = sw[lost > 1e-9]  # a switch off a segment boundary loses the segment under way
            if hit.size:
                self._log_gaps(hit, end[lost > 1e-9], t)
                before = self._cams.lost_s[hit] + self._cams.kept_s[hit]
                self._cams.lost_s[hit] += lost[lost > 1e-9]
                np.maximum.at(self._cams.gap_max, hit, lost[lost > 1e-9])
                segs = drop_slots(
                    self._cams.lost_s[hit] + self._cams.kept_s[hit], self.seg_s
                ) - drop_slots(before, self.seg_s)
                np.add.at(self._cams.dropped[_R["recorder_down"]], hit, segs)
            self._move(sw, "switch")
            self._open(sw, t)
        self._contribute(cams)
        self._cams.unrecorded_series.append((t, self._cams.unrecorded))

    def _contribute(self, cams: np.ndarray) -> None:
        """Keep the recorders' rates and physical loads in step with the cameras' states."""
        for fn in self._on_rates:
            fn(float(self.env.now))
        new = np.where(
            (self._cams.state[cams] == RECORDING) | (self._cams.reason[cams] == _R["disk_full"]),
            self._cams.rec[cams],
            -1,
        )
        old = self._cams.contrib_rec[cams]
        ch = new != old
        if not ch.any():
            return
        c, o, nw = cams[ch], old[ch], new[ch]
        mbps = self.city.cam_mbps[c]
        for recs, sign in ((o, -1), (nw, 1)):
            ok = recs >= 0
            np.add.at(self._recs.rate, recs[ok], sign * self.cam_bps[c[ok]] * self.k)
            np.add.at(self._recs.ncams, recs[ok], sign)
            if self.capacity is not None:
                self.capacity.contribute(c[ok], recs[ok], sign)
            np.add.at(self._recs.phys_mbps, recs[ok], sign * mbps[ok])
            np.add.at(self._recs.phys_streams, recs[ok], sign)
        self._recs.rate[self._recs.ncams == 0] = 0.0
        self._recs.phys_mbps[self._recs.phys_streams == 0] = 0.0
        self._cams.contrib_rec[c] = nw
        city = self.city
        if (self._recs.phys_mbps > city.rec_ingest_mbps * (1 + 1e-9)).any() or (
            self._recs.phys_streams > city.rec_max_streams
        ).any():
            self._recs.over_limit += 1
        np.maximum(self._recs.load_max, self._recs.phys_mbps, out=self._recs.load_max)
        np.maximum(self._recs.streams_max, self._recs.phys_streams, out=self._recs.streams_max)

    # ------------------------------------------------------------ processes
    def _activate(self, cams: np.ndarray, t: float) -> None:
        city = self.city
        copies = cams[cams >= self.n_cams]  # dual recording: placed after their cameras
        cams = cams[cams < self.n_cams]
        mbps = city.cam_mbps[cams]
        # Backhaul: the district's link carries its cameras in camera order until it is full.
        dist = city.cam_district[cams]
        room = city.district_backhaul_mbps - self._recs.backhaul
        over_bh = ~accept_within_limits(dist, mbps, room, np.full(room.size, 1 << 62))
        np.add.at(self._recs.backhaul, dist[~over_bh], mbps[~over_bh])
        self._start_dropping(cams[over_bh], "backhaul", t, "refused")
        cams, mbps = cams[~over_bh], mbps[~over_bh]
        pool = city.cam_pool[cams]
        if isinstance(self.sc.recorders.assignment, StaticAssignment):
            rec = self.loads.place_static(pool, self._static_counters)
            self._cams.rec[cams] = rec
            room_in = self.loads.ingest_limit - self.loads.load_mbps
            room_st = self.loads.stream_limit - self.loads.streams
            ok = accept_within_limits(rec, mbps, room_in, room_st)
            for r, m in zip(rec[ok], mbps[ok]):
                self.loads.add(int(r), float(m))
            self._start_dropping(cams[~ok], "ingest_limit", t, "refused")
        else:
            # Standby recorders take no cameras until a failure.
            memo = self.placement if self._activations == 0 else None
            if (
                memo is not None
                and memo.rec is not None
                and memo.load_mbps is not None
                and memo.streams is not None
                and memo.rec.size == cams.size
            ):
                rec = memo.rec.copy()
                self.loads.load_mbps[:] = memo.load_mbps
                self.loads.streams[:] = memo.streams
            else:
                rec = self.loads.place_balanced(mbps, pool, ~self.standby)
                if memo is not None:
                    memo.rec, memo.load_mbps, memo.streams = (
                        rec.copy(),
                        self.loads.load_mbps.copy(),
                        self.loads.streams.copy(),
                    )
            self._cams.rec[cams] = rec
            ok = rec >= 0
            self._start_dropping(cams[~ok], "unplaced", t, "refused")
        self._activations += 1
        self._admit(cams[ok], t)
        if copies.size:
            self._activate_copies(copies, t)
        np.maximum(self._recs.load_max, self.loads.load_mbps, out=self._recs.load_max)
        np.maximum(self._recs.streams_max, self.loads.streams, out=self._recs.streams_max)

    def _admit(self, placed: np.ndarray, t: float) -> None:
        if placed.size == 0:
            return
        self._move(placed, "placed")
        self._cams.admitted[placed] = True
        self._cams.cam_admitted[self.stream_cam[placed]] = True
        self._open(placed, t)
        np.add.at(self._cams.streams_recording, self.stream_cam[placed], 1)
        self._contribute(placed)
        for fn in self._on_placed:
            fn(placed, t)

    def _activate_copies(self, copies: np.ndarray, t: float) -> None:
        """Second copies (dual recording): on another recorder than their camera's, within
        limits; a copy of a camera that was refused, or with no room, is refused too."""
        src = self.stream_cam[copies]
        orphan = ~self._cams.admitted[src]
        self._start_dropping(copies[orphan], "unplaced", t, "refused")
        copies, src = copies[~orphan], src[~orphan]
        for r in np.unique(self._cams.rec[src]):
            mine = copies[self._cams.rec[src] == r]
            cand = ~self.standby
            cand[r] = False
            rec = self.loads.place_balanced(
                self.city.cam_mbps[mine], self.city.cam_pool[mine], cand
            )
            self._cams.rec[mine] = rec
            self._start_dropping(mine[rec < 0], "unplaced", t, "refused")
            self._admit(mine[rec >= 0], t)

    def _rollout(self) -> Generator[simpy.Event, Any, None]:
        online = self.city.cam_online_s
        for t in np.unique(online):
            if t >= self.end_s:
                break
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            self._activate(np.flatnonzero(online == t), float(self.env.now))

    def _writer(self) -> Generator[simpy.Event, Any, None]:
        disk = self.city.rec_disk_bytes
        every = max(1, int(86_400 // self.tick_s))
        tick = 0
        while True:
            t = float(self.env.now)
            rate = self._recs.rate if self.capacity is None else self.capacity.tick_add(t)
            full = (self._disk.used + rate > disk - self._recs.fill) & (rate > 0)
            if self.capacity is not None:  # overwrite_oldest makes room before it is full
                full = self.capacity.make_room(t, full, rate)
            changed = full != self._recs.full
            if changed.any():
                self._recs.full = full
                recs = np.flatnonzero(changed)
                self._refresh(np.flatnonzero(np.isin(self._cams.rec, recs)), t)
            taking = ~full
            self._disk.charge(
                rate * taking, int(self._recs.ncams[taking].sum()) * self.k, t + self.tick_s
            )
            tick += 1
            if self.progress is not None and tick % every == 0:
                self.progress(t, self.end_s)
            t_next, tick = self._quiet_ticks(t + self.tick_s, tick, every)
            yield self.env.timeout(t_next - t)

    def _quiet_ticks(self, t: float, tick: int, every: int) -> tuple[float, int]:
        """Charge, at once, the writer ticks from `t` on that nothing else can change.

        No other process runs before the next event in SimPy's queue (`env.peek()`), so the
        ticks strictly before it see the same rates and limits; while no recorder's disk
        changes between full and not full, each adds the same vector to `rec_used`. The
        running sums are a cumulative sum (sequential, so bit for bit the in-place adds of
        tick after tick), and the count of segments is that of the ticks one by one (peaks
        are measured on the catalog at the sweeps and samples, not here): the run is the
        same to the last bit, with a SimPy event per busy tick only. Returns the first tick time
        left to the SimPy loop and the tick count.
        """
        if self.capacity is not None:
            return self.capacity.quiet_ticks(t, tick, every)
        horizon = self.env.peek()
        if not horizon > t:
            return t, tick
        m = min(QUIET_TICKS_MAX, int(np.ceil((horizon - t) / self.tick_s)))
        times = t + self.tick_s * np.arange(m)
        m = int(np.count_nonzero(times < horizon))
        if m == 0:
            return t, tick
        taking = ~self._recs.full
        add = self._recs.rate * taking
        used = np.empty((m + 1, self._disk.used.size))
        used[0] = self._disk.used
        used[1:] = add
        np.cumsum(used, axis=0, out=used)  # used[j]: before tick j; used[j + 1]: after it
        room = self.city.rec_disk_bytes - self._recs.fill
        full = (used[:m] + self._recs.rate > room) & (self._recs.rate > 0)
        same = (full == self._recs.full).all(axis=1)
        n = m if same.all() else int(np.argmin(same))  # the ticks before the first change
        if n == 0:
            return t, tick
        self._disk.used[:] = used[n]
        self._disk.written += n * int(self._recs.ncams[taking].sum()) * self.k
        self._disk.charged_through = float(times[n - 1]) + self.tick_s
        if self.progress is not None:
            for j in range(n):
                if (tick + j + 1) % every == 0:
                    self.progress(float(times[j]), self.end_s)
        return float(times[n - 1]) + self.tick_s, tick + n

    def _sweeper(self) -> Generator[simpy.Event, Any, None]:
        rec = self.sc.recording
        while True:
            yield self.env.timeout(rec.sweep_interval_s)
            # The oldest footage is oldest just before a sweep: that is the age retention allows.
            t = float(self.env.now)
            written = self.catalog.written(t)
            # Footage on disk peaks just before a sweep: measured at every sweep, a row at
            # sample times, a `peak` row otherwise if it is a peak.
            at_sample = t % self.sc.simulation.sample_s == 0
            live = written - self.catalog.col("first")
            if at_sample:
                self.sample(t, "before_sweep", live)
            else:
                self._peak_between_samples(t, live)
            # The one sweep sequence both engines run (twin/core/sweep.py).
            done = self.retention.sweep(t, written=written)
            if np.isfinite(done.oldest_age_s):
                self._series.max_age_s = max(self._series.max_age_s, done.oldest_age_s)
            self._disk.free(done.freed_by_recorder)
            self._series.overdue_max = max(self._series.overdue_max, done.plan.overdue_after)
            if at_sample:
                self.sample(t, "after_sweep", written - self.catalog.col("first"))

    def _stored(self, live: np.ndarray) -> tuple[np.ndarray, list[float], float]:
        """Bytes on disk per recorder and per pool, and in all (pools added in column order,
        as a reader of timeseries.csv adds them), from each catalog row's live segments."""
        cat = self.catalog
        if cat.curves is None:
            live_b = live * cat.col("bytes_per_seg")
        else:
            live_b = cat.live_bytes(cat.col("first") + live)
        stored = np.bincount(cat.col("recorder"), weights=live_b, minlength=self.city.n_recorders)
        by_pool = np.bincount(
            self.city.rec_pool, weights=stored, minlength=len(self.city.pool_names)
        ).tolist()
        total = 0.0
        for x in by_pool:
            total += x
        return stored, by_pool, total

    def _row(
        self, t: float, kind: str, live: np.ndarray, stored: np.ndarray, by_pool: list[float]
    ) -> SeriesRow:
        cat = self.catalog
        n0 = self.n_cams
        dropping = np.flatnonzero(self._cams.state[:n0] == DROPPING)
        dropped_now = int(self._cams.dropped[:, :n0].sum()) + int(
            self._drops_due(dropping, t).sum()
        )
        written_now = int(live.sum()) + cat.deleted_segments + cat.lost_segments
        row = (
            t,
            written_now,
            cat.deleted_segments,
            dropped_now,
            int((self._cams.state[:n0] != OFFLINE).sum()),
            int((self._cams.state[:n0] == RECORDING).sum()),
            *by_pool,
        )
        return next(self._series.seq), kind, row, stored, self.loads.load_mbps.copy()

    def _raise_peaks(self, t: float, stored: np.ndarray, total: float) -> bool:
        """Raise the peaks with footage measured at `t`; True if `t` now holds one."""
        new = total > self._series.total_peak
        if new:
            self._series.total_peak, self._series.peak_total_t = total, t
        up = stored > self._series.rec_peak
        if up.any():
            self._series.rec_peak[up] = stored[up]
            self._series.peak_rec_t[up] = t
        return bool(new or up.any())

    def sample(self, t: float, kind: str, live: np.ndarray | None = None) -> None:
        """One time-series row at `t`, measured on the catalog (exact whatever the writer has
        charged in advance); `live` may pass each catalog row's segments on disk at `t`."""
        cat = self.catalog
        if live is None:
            live = cat.written(t) - cat.col("first")
        stored, by_pool, total = self._stored(live)
        self._raise_peaks(t, stored, total)
        self._series.rows.append(self._row(t, kind, live, stored, by_pool))

    def _peak_between_samples(self, t: float, live: np.ndarray) -> None:
        stored, by_pool, total = self._stored(live)
        if not self._raise_peaks(t, stored, total):
            return
        self._series.peak_rows[t] = self._row(t, "peak", live, stored, by_pool)
        keep = {self._series.peak_total_t, *self._series.peak_rec_t.tolist()}
        for old in [k for k in self._series.peak_rows if k not in keep]:
            del self._series.peak_rows[old]

    def _sampler(self) -> Generator[simpy.Event, Any, None]:
        sweep_s = self.sc.recording.sweep_interval_s
        while True:
            t = float(self.env.now)
            if t == 0 or t % sweep_s:  # at a sweep time the sweeper samples before and after
                self.sample(t, "periodic")
            yield self.env.timeout(self.sc.simulation.sample_s)

    # ------------------------------------------------------------ run
    def run(self, days: float | None = None) -> SimOutcome:
        days = self.sc.simulation.days if days is None else days
        self.end_s = float(np.ceil(days * 86_400 / self.tick_s) * self.tick_s)
        env = self.env
        env.process(self._rollout())
        env.process(self._writer())
        env.process(self._sweeper())
        if self.keep_series:
            env.process(self._sampler())
        for ext in self.extensions:
            ext.attach(self)
        env.run(until=self.end_s)
        end = self.end_s
        dropping = np.flatnonzero(self._cams.state == DROPPING)
        self._book_drops(dropping, end)
        np.maximum.at(self._cams.gap_max, dropping, end - self._cams.gap_start[dropping])
        self._log_gaps(dropping, self._cams.gap_start[dropping], end)
        # Per camera: a camera recorded twice lost only what neither copy has.
        n0 = self.n_cams
        self._cams.cam_lost_s = self._cams.lost_s[:n0].copy()
        self._cams.cam_gap_max = self._cams.gap_max[:n0].copy()
        if self.copy_of.size:
            lost, longest = overlap_gaps(self._cams.gap_log, self.copy_of, n0)
            self._cams.cam_lost_s[self.copy_of] = lost
            self._cams.cam_gap_max[self.copy_of] = longest
        # Open runs hold what they wrote by the end; credit back any charge beyond it.
        recording = np.flatnonzero(self._cams.run_rec >= 0)
        if recording.size:
            self._settle(recording, end, end)
        self.sample(end, "end")
        cols = ["t_s", "written", "deleted", "dropped", "cameras_online", "cameras_recording"]
        cols += [f"stored_bytes:{p}" for p in self.city.pool_names]
        rows = sorted(self._series.rows + list(self._series.peak_rows.values()), key=lambda x: x[0])
        arr = np.array([x[2] for x in rows], dtype=np.float64).reshape(len(rows), len(cols))
        extra: dict[str, float] = {}
        if self.capacity is not None:
            extra.update(self.capacity.metrics())
        for ext in self.extensions:
            extra.update(ext.finish(self))
        return SimOutcome(
            scenario=self.sc,
            city=self.base_city,
            end_s=end,
            cam_recorder=self._cams.rec[:n0],
            cam_state=self._cams.state[:n0],
            dropped=self._cams.dropped[:, :n0],
            rec_peak_bytes=self._series.rec_peak,
            rec_load_mbps_max=self._recs.load_max,
            rec_streams_max=self._recs.streams_max,
            backhaul_mbps=self._recs.backhaul,
            written_segments=self._disk.written,
            deleted_segments=self.catalog.deleted_segments,
            stored_bytes_end=self.catalog.stored_bytes_by_recorder(end),
            stored_segments_end=self.catalog.stored_segments(end),
            overdue_max=self._series.overdue_max,
            total_peak_bytes=self._series.total_peak,
            series={c: arr[:, i] for i, c in enumerate(cols)},
            rec_series_bytes=np.array([x[3] for x in rows]),
            rec_series_load=np.array([x[4] for x in rows]),
            max_age_s=self._series.max_age_s,
            cam_reason=self._cams.reason[:n0],
            rec_load_mbps_end=self.loads.load_mbps.copy(),
            extra_metrics=extra,
            extensions=self.extensions,
            events=self._events,
            lost_s=self._cams.cam_lost_s,
            gap_max_s=self._cams.cam_gap_max,
            admitted=self._cams.cam_admitted,
            cam_written=self._cams.written[:n0].copy(),
            cam_partials=self._cams.partials[:n0].copy(),
            cam_kept_s=self._cams.kept_s[:n0].copy(),
            series_kind=[x[1] for x in rows],
            capacity=self.capacity,
        )
