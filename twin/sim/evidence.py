"""Evidence handling on SimPy virtual time: preservation, rank-approved access, the audit trail.

Theory of operation
-------------------
An engine extension (twin.sim.engine.Extension), switched on by a scenario's `evidence:`
section. It drives the production core (core/evidence.py, core/access.py, core/audit.py)
against the engine's own catalog, so what it measures is what the core decides.

All random draws come from one numpy SeedSequence made from the scenario seed with a spawn key
of this module's own (`SPAWN_KEY`), so switching evidence on never shifts the city's draws.
Everything is drawn up front in `attach`, vectorised, and sorted by time (then camera), so the
run is deterministic and its SimPy cost is a few events per request:

- preservation: incidents happen per camera per day (Poisson, from the camera's on-line time);
  a request for a window around each arrives `request_delay` after the window ends. On arrival
  the catalog's segments for the window are planned (`plan_preservation`), the case is opened
  in the `EvidenceLocker` and the catalog is made to hold exactly what the locker wants
  (`hold_changes`). After `copy_time_s` the copy completes: every planned segment is checked to
  be still in the catalog (a hold must have kept it), marked copied, and its hold lifted. After
  `case_days` the case is released and its copies purged. Three events per request.
- access: requests arrive per camera per day; a decision comes `approval_delay` later from an
  officer of a drawn rank (too junior: the attempt is denied and audited, and the request later
  expires); an approved request is used `use_delay_h` after approval. A requester whose request
  was not approved tries anyway (`attempt_without_approval`): the attempt goes through the same
  serve path and must be refused. Three events per request, plus one expiry sweep per
  `expiry_check_s`.

Footage is only served by `serve`, which asks `AccessDesk.authorize_use` for a grant and then
checks the grant independently (approved by a senior-enough officer, not the requester, not
expired); a grant that fails that check is counted in `unapproved_access`, which must stay 0.

Lost footage: the parts of a requested window the catalog no longer has. The part that ended
before `now - retention` is counted as lost to retention (in a city that drops nothing, all of
it is); the rest was never recorded (cameras not yet on line, dropped segments).

At the end the audit trail is verified (`audit_verified`), and its anchor (entry count and head
hash) is put on the run's events in results.json. `write_files` writes the trail as audit.jsonl
beside results.json, with audit_anchor.json, evidence_cases.csv and evidence_storage.csv; the
output layer (twin.output.sim_plots) calls it and draws the two PNGs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from simpy import Event

from twin.core.access import AccessDesk, AccessPolicy, AccessRequest, Action, Officer, RequestState
from twin.core.audit import AuditTrail, verify
from twin.core.cases import CaseState
from twin.core.evidence import EvidenceLocker
from twin.core.preservation import PreservationRequest, plan_preservation
from twin.core.sweep import RetentionSweep
from twin.core.types import Interval, SegmentRef
from twin.errors import AccessDenied, AuditError
from twin.scenario.evidence import ChoiceDelay, Delay, EvidenceSettings

if TYPE_CHECKING:
    from twin.sim.engine import CityEngine

__all__ = [
    "SPAWN_KEY",
    "AUDIT_FILE",
    "ANCHOR_FILE",
    "ANCHOR_EVENT",
    "EvidenceExtension",
    "draw_delays_s",
]

SPAWN_KEY = (0x45564944,)  # "EVID": this extension's own branch of the scenario seed
AUDIT_FILE = "audit.jsonl"
ANCHOR_FILE = "audit_anchor.json"
ANCHOR_EVENT = "evidence.audit_anchor"


def draw_delays_s(rng: np.random.Generator, delay: Delay, n: int) -> np.ndarray:
    """`n` delays in seconds from a scenario delay distribution."""
    if isinstance(delay, ChoiceDelay):
        hours = np.asarray(delay.hours, dtype=np.float64)
        p = None
        if delay.weights is not None:
            w = np.asarray(delay.weights, dtype=np.float64)
            p = w / w.sum()
        return rng.choice(hours, size=n, p=p) * 3600.0
    mu, sigma = delay.mu_sigma
    return rng.lognormal(mu, sigma, size=n) * 3600.0


def _poisson_points(
    rng: np.random.Generator, online_s: np.ndarray, end_s: float, per_day: float
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson arrivals per camera from its on-line time to `end_s`: (times, cameras), sorted
    by time then camera."""
    span = np.clip(end_s - online_s, 0.0, None)
    counts = rng.poisson(per_day * span / 86_400.0)
    cams = np.repeat(np.arange(online_s.size, dtype=np.int64), counts)
    times = online_s[cams] + rng.random(cams.size) * span[cams]
    order = np.lexsort((cams, times))
    return times[order], cams[order]


def _weights(table: dict[str, float], ranks: list[str]) -> tuple[list[str], np.ndarray]:
    names = [r for r in ranks if r in table]  # rank order, not dict order
    w = np.array([table[r] for r in names], dtype=np.float64)
    return names, w / w.sum()


def _copy_hash(seg: SegmentRef) -> str:
    # The simulation has no bytes: a stand-in hash that is stable per segment key.
    return hashlib.sha256(seg.key.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class _CaseStats:
    case_id: str
    cameras: tuple[str, ...]
    window: Interval
    requested_at_s: float
    requested_s: float
    lost_retention_s: float
    lost_other_s: float
    bytes_to_copy: int
    copied_at_s: float | None = None
    released_at_s: float | None = None


class EvidenceExtension:
    """Preservation and access requests against the engine's catalog (module docstring)."""

    name = "evidence"

    def __init__(self, settings: EvidenceSettings, seed: int, retention_s: float) -> None:
        self.settings = settings
        self.seed = seed
        self.retention_s = float(retention_s)
        a = settings.access
        self.policy = AccessPolicy(
            ranks=tuple(a.ranks),
            view_min_rank=a.view_min_rank,
            export_min_rank=a.export_min_rank,
            expire_after_s=a.expire_after_h * 3600.0,
            valid_for_s=a.valid_for_h * 3600.0,
        )
        self.trail = AuditTrail()
        self.locker = EvidenceLocker(self.trail)
        self.desk = AccessDesk(self.policy, self.trail)
        self.cases: list[_CaseStats] = []
        self.counts: dict[str, int] = {
            k: 0
            for k in (
                "evidence_requests",
                "evidence_copies_complete",
                "evidence_copy_missing",
                "evidence_cases_released",
                "access_requests",
                "access_approved",
                "access_refused",
                "access_denied_rank",
                "access_expired",
                "access_served",
                "access_attempts_refused",
                "unapproved_access",
            )
        }
        self.approval_times_s: list[float] = []
        self.late_decisions = 0  # decisions attempted after the request had run out of time
        self.requests_after_end = 0
        self.served_s = 0.0
        self._audit_ok: bool | None = None

    # ------------------------------------------------------------------ wiring
    def attach(self, engine: CityEngine) -> None:
        self.engine = engine
        self.env = engine.env
        self.catalog = engine.catalog
        city = engine.city
        self.cam_index = {engine.catalog.camera_names[i]: i for i in range(city.n_cameras)}
        rngs = [
            np.random.default_rng(s)
            for s in np.random.SeedSequence(self.seed, spawn_key=engine.draw_key + SPAWN_KEY).spawn(
                2
            )
        ]
        self._draw_preservation(rngs[0], engine)
        self._draw_access(rngs[1], engine)
        self.env.process(self._arrivals(self._pres_t, self._preserve))
        self.env.process(self._arrivals(self._acc_t, self._submit))
        self.env.process(self._expirer())
        engine.after_sweeps(self._audit_deletions)

    def _draw_preservation(self, rng: np.random.Generator, engine: CityEngine) -> None:
        p = self.settings.preservation
        city = engine.city
        online = city.cam_online_s
        t, cams = _poisson_points(rng, online, engine.end_s, p.incidents_per_camera_day)
        delay = draw_delays_s(rng, p.request_delay, t.size)
        w0 = np.maximum(t - p.window_before_s, online[cams])
        w1 = t + p.window_after_s
        # A request can only name footage already recorded: at least one segment after the window.
        req = w1 + np.maximum(delay, engine.seg_s)
        inside = req < engine.end_s
        self.requests_after_end = int((~inside).sum())  # incidents whose request comes too late
        order = np.argsort(req[inside], kind="stable")
        self._pres_t = req[inside][order]
        self._pres_cam = cams[inside][order]
        self._pres_w = np.column_stack([w0[inside][order], w1[inside][order]])
        cam_set = city.cam_set
        self._set_lo = np.searchsorted(cam_set, cam_set, side="left")
        self._set_hi = np.searchsorted(cam_set, cam_set, side="right")

    def _draw_access(self, rng: np.random.Generator, engine: CityEngine) -> None:
        a = self.settings.access
        online = engine.city.cam_online_s
        t, cams = _poisson_points(rng, online, engine.end_s, a.requests_per_camera_day)
        n = t.size
        self._acc_t, self._acc_cam = t, cams
        self._acc_export = rng.random(n) < a.export_share
        end = t - rng.random(n) * a.lookback_days * 86_400.0
        end = np.maximum(end, np.minimum(online[cams] + a.window_s, t))
        self._acc_w = np.column_stack([np.maximum(end - a.window_s, online[cams]), end])
        names, w = _weights(a.requester_ranks, a.ranks)
        self._req_ranks = names
        self._acc_req_rank = rng.choice(len(names), size=n, p=w)
        # Each action's approvers drawn from its own table, into one array of rank names.
        self._acc_appr_rank = np.empty(n, dtype=object)
        for action, table in ((False, a.view_approver_ranks), (True, a.export_approver_ranks)):
            names, w = _weights(table, a.ranks)
            picked = rng.choice(len(names), size=n, p=w)
            mine = self._acc_export == action
            self._acc_appr_rank[mine] = np.asarray(names, dtype=object)[picked[mine]]
        self._acc_delay = draw_delays_s(rng, a.approval_delay, n)
        self._acc_delay2 = draw_delays_s(rng, a.approval_delay, n)  # after a referral
        self._acc_refuse = rng.random(n) < a.refuse_share

    # ------------------------------------------------------------------ SimPy glue
    def _arrivals(
        self, times: np.ndarray, fn: Callable[[int], None]
    ) -> Generator[Event, Any, None]:
        env = self.env
        for k, t in enumerate(times.tolist()):
            if t > env.now:
                yield env.timeout(t - env.now)
            fn(k)

    def _later(self, delay_s: float, fn: Callable[..., None], *args: Any) -> None:
        """Call fn(*args) `delay_s` from now: one SimPy event, no process."""
        if self.env.now + delay_s >= self.engine.end_s:
            return
        ev = self.env.timeout(delay_s)
        ev.callbacks.append(lambda _ev: fn(*args))

    def _expirer(self) -> Generator[Event, Any, None]:
        every = self.settings.expiry_check_s
        while True:
            yield self.env.timeout(every)
            for rid in self.desk.expire_due(float(self.env.now)):
                if self.desk.get(rid).approval is None:  # not an approval that ran out after use
                    self.counts["access_expired"] += 1
                    self._after_no_approval(rid)

    def _audit_deletions(self, t: float, retention: RetentionSweep) -> None:
        """One DELETION entry per retention sweep that deleted footage: segments and bytes, as
        the catalog counts them (the audit step of the engine's RetentionSweep, the same one
        the live sweeper runs). Per-segment refs of a city-wide sweep would be a million an
        hour; the counts are what the trail needs to show that retention ran."""
        retention.audit(self.trail, t)

    def _sync_holds(self, now: float) -> None:
        place, release = self.locker.hold_changes(self.catalog.holds)
        for hid, cam, iv in place:  # place before releasing, so nothing is ever unheld
            self.catalog.hold(hid, self.cam_index[cam], iv, now)
        for hid in release:
            self.catalog.release(hid)

    # ------------------------------------------------------------------ preservation
    def _preserve(self, k: int) -> None:
        cam = int(self._pres_cam[k])
        if self.settings.preservation.cameras == "set":
            cams = range(int(self._set_lo[cam]), int(self._set_hi[cam]))
        else:
            cams = range(cam, cam + 1)
        window = Interval(float(self._pres_w[k, 0]), float(self._pres_w[k, 1]))
        if not window.duration_s > 0:
            return  # an incident at the instant its camera came on line, with no window after
        self.preserve([self.catalog.camera_names[c] for c in cams], window)

    def preserve(
        self, cameras: Sequence[str], window: Interval, requested_by: str | None = None
    ) -> str:
        """A preservation request now, for `cameras` over `window` (which must have ended):
        plan it against the catalog, open the case, hold its footage, and schedule the copy
        and the case's release. Returns the case id."""
        now = float(self.env.now)
        p = self.settings.preservation
        i = len(self.cases)
        case_id = f"case-{i:06d}"
        request = PreservationRequest(
            case_id, tuple(cameras), window, now, requested_by or f"officer-p{i:06d}"
        )
        segments: list[SegmentRef] = []
        for name in request.cameras:
            segments += self.catalog.segments(now, camera=self.cam_index[name], window=window)
        plan = plan_preservation(request, segments)
        self.locker.open_case(plan, now)
        self._sync_holds(now)
        cutoff = now - self.retention_s
        lost_ret = math.fsum(
            max(0.0, min(iv.end_s, cutoff) - iv.start_s) for _, iv in plan.missing()
        )
        self.cases.append(
            _CaseStats(
                case_id,
                request.cameras,
                window,
                now,
                plan.requested_s,
                lost_ret,
                plan.lost_s - lost_ret,
                plan.bytes_to_copy,
            )
        )
        self.counts["evidence_requests"] += 1
        if plan.segments:
            self._later(p.copy_time_s, self._copy, i)
        else:
            self.cases[i].copied_at_s = now
            self.counts["evidence_copies_complete"] += 1
        self._later(p.case_days * 86_400.0, self._release, i)
        return case_id

    def _copy(self, i: int) -> None:
        now = float(self.env.now)
        stats = self.cases[i]
        case = self.locker.case(stats.case_id)
        if case.state is not CaseState.OPEN:
            return
        # The copy reads the originals: each must still be on disk, kept by its hold.
        on_disk: set[str] = set()
        for cam in {s.camera for s in case.pending}:
            on_disk.update(
                s.key
                for s in self.catalog.segments(now, camera=self.cam_index[cam], window=stats.window)
            )
        present = [s for s in case.pending if s.key in on_disk]
        self.counts["evidence_copy_missing"] += len(case.pending) - len(present)
        copies = [(s, _copy_hash(s), f"evidence/{stats.case_id}/{s.key}") for s in present]
        if copies:
            self.locker.mark_copied(stats.case_id, copies, now, actor="evidence_copier")
        self._sync_holds(now)
        if self.locker.case(stats.case_id).state is CaseState.PRESERVED:
            stats.copied_at_s = now
            self.counts["evidence_copies_complete"] += 1

    def _release(self, i: int) -> None:
        now = float(self.env.now)
        stats = self.cases[i]
        was_open = self.locker.case(stats.case_id).state is CaseState.OPEN
        self.locker.release(stats.case_id, now, actor="case_officer", reason="case closed")
        if was_open:  # a case closed before its copy completed: its holds go now
            self._sync_holds(now)
        self.locker.mark_purged(stats.case_id, now, actor="evidence_store")
        stats.released_at_s = now
        self.counts["evidence_cases_released"] += 1

    # ------------------------------------------------------------------ access
    def _rid(self, k: int) -> str:
        return f"access-{k:06d}"

    def _requester(self, k: int) -> str:
        return f"officer-r{k:06d}"

    def _action(self, k: int) -> Action:
        return Action.EXPORT if self._acc_export[k] else Action.VIEW

    def _submit(self, k: int) -> None:
        now = float(self.env.now)
        cam = self.catalog.camera_names[int(self._acc_cam[k])]
        window = Interval(float(self._acc_w[k, 0]), float(self._acc_w[k, 1]))
        if not window.duration_s > 0:
            return  # a camera asked about the instant it came on line: nothing to ask for
        requester = Officer(self._requester(k), self._req_ranks[int(self._acc_req_rank[k])])
        self.desk.submit(
            AccessRequest(
                self._rid(k),
                requester,
                f"inquiry-{k:06d}",
                self._action(k),
                (cam,),
                window,
                now,
            )
        )
        self.counts["access_requests"] += 1
        self._later(float(self._acc_delay[k]), self._decide, k)

    def _decide(self, k: int, referred: bool = False) -> None:
        now = float(self.env.now)
        rid = self._rid(k)
        if referred:
            approver = Officer(f"officer-s{k:06d}", self.policy.required_rank(self._action(k)))
        else:
            approver = Officer(f"officer-a{k:06d}", str(self._acc_appr_rank[k]))
        if self.desk.get(rid).state is not RequestState.PENDING:
            return  # expired by the desk's tick before anyone decided
        try:
            if self._acc_refuse[k] and self.policy.may_approve(approver.rank, self._action(k)):
                self.desk.refuse(rid, approver, now, reason="not necessary for the inquiry")
                self.counts["access_refused"] += 1
                self._after_no_approval(rid)
                return
            record = self.desk.approve(rid, approver, now)
        except AccessDenied:
            if self.desk.get(rid).state is RequestState.EXPIRED:
                self.late_decisions += 1  # the attempt is a DENIAL on the trail
                self.counts["access_expired"] += 1
                self._after_no_approval(rid)
            else:
                self.counts["access_denied_rank"] += 1  # still pending
                if self.settings.access.refer_up and not referred:
                    self._later(float(self._acc_delay2[k]), self._decide, k, True)
            return
        self.counts["access_approved"] += 1
        self.approval_times_s.append(now - record.request.created_at_s)
        self._later(self.settings.access.use_delay_h * 3600.0, self._use, k)

    def _after_no_approval(self, rid: str) -> None:
        if self.settings.access.attempt_without_approval:
            k = int(rid.rsplit("-", 1)[1])
            self._later(self.settings.access.use_delay_h * 3600.0, self._use, k)

    def _use(self, k: int) -> None:
        self.serve(self._rid(k), self._action(k), self._requester(k))

    def serve(self, rid: str, action: Action, officer_id: str) -> bool:
        """Serve footage now for one use of request `rid`, only against a grant from the desk;
        True if footage went out. A refused attempt is counted (and audited by the desk)."""
        now = float(self.env.now)
        try:
            grant = self.desk.authorize_use(rid, action, now, officer_id=officer_id)
        except AccessDenied:
            self.counts["access_attempts_refused"] += 1  # audited as a DENIAL by the desk
            return False
        approval = self.desk.get(rid).approval
        if (
            approval is None
            or not self.policy.may_approve(approval.approver.rank, action)
            or approval.approver.officer_id == officer_id
            or now >= approval.expires_at_s
            or grant.approved_by != approval.approver.officer_id
        ):
            self.counts["unapproved_access"] += 1
        for cam in grant.cameras:
            for seg in self.catalog.segments(now, camera=self.cam_index[cam], window=grant.window):
                w = grant.window
                self.served_s += min(seg.end_s, w.end_s) - max(seg.start_s, w.start_s)
        self.counts["access_served"] += 1
        return True

    # ------------------------------------------------------------------ results
    def verify_audit(self) -> bool:
        try:
            verify(self.trail.entries, self.trail.anchor())
        except AuditError:
            return False
        return True

    def finish(self, engine: CityEngine) -> dict[str, float]:
        self._audit_ok = self.verify_audit()
        anchor = self.trail.anchor()
        engine.log_event(
            {
                "t_s": float(engine.end_s),
                "kind": ANCHOR_EVENT,
                "count": anchor.count,
                "head_hash": anchor.head_hash,
                "file": AUDIT_FILE,
            }
        )
        requested = math.fsum(c.requested_s for c in self.cases)
        lost_ret = math.fsum(c.lost_retention_s for c in self.cases)
        series = self.locker.bytes_held_series()
        times = np.asarray(self.approval_times_s)
        m: dict[str, float] = {k: float(v) for k, v in self.counts.items()}
        m.update(
            {
                "evidence_requested_s": requested,
                "evidence_lost_to_retention_s": lost_ret,
                "evidence_lost_to_retention_pct": 100.0 * lost_ret / requested
                if requested
                else 0.0,
                "evidence_lost_other_s": math.fsum(c.lost_other_s for c in self.cases),
                "evidence_storage_tb_max": max((b for _, b in series), default=0) / 1e12,
                "evidence_storage_tb_end": self.locker.bytes_held() / 1e12,
                "access_served_hours": self.served_s / 3600.0,
                "approval_time_s_p50": float(np.percentile(times, 50)) if times.size else 0.0,
                "approval_time_s_p95": float(np.percentile(times, 95)) if times.size else 0.0,
                "audit_entries": float(len(self.trail)),
                "audit_verified": 1.0 if self._audit_ok else 0.0,
            }
        )
        return m

    def write_files(self, out: Path) -> dict[str, str]:
        """The audit trail (JSONL), its anchor, a per-case table and the evidence storage time
        series, beside results.json."""
        (out / AUDIT_FILE).write_text(self.trail.to_jsonl(), encoding="ascii")
        anchor = self.trail.anchor()
        (out / ANCHOR_FILE).write_text(
            json.dumps(
                {"count": anchor.count, "head_hash": anchor.head_hash, "file": AUDIT_FILE}, indent=2
            )
            + "\n"
        )
        with (out / "evidence_cases.csv").open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(
                [
                    "case_id",
                    "cameras",
                    "window_start_s",
                    "window_end_s",
                    "requested_at_s",
                    "requested_s",
                    "lost_retention_s",
                    "lost_other_s",
                    "bytes_to_copy",
                    "copied_at_s",
                    "released_at_s",
                ]
            )
            for c in self.cases:
                w.writerow(
                    [
                        c.case_id,
                        " ".join(c.cameras),
                        c.window.start_s,
                        c.window.end_s,
                        c.requested_at_s,
                        c.requested_s,
                        c.lost_retention_s,
                        c.lost_other_s,
                        c.bytes_to_copy,
                        "" if c.copied_at_s is None else c.copied_at_s,
                        "" if c.released_at_s is None else c.released_at_s,
                    ]
                )
        with (out / "evidence_storage.csv").open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["t_s", "evidence_bytes"])  # bytes held from t_s on, at every change
            w.writerows(self.locker.bytes_held_series())
        return {
            "audit": AUDIT_FILE,
            "audit_anchor": ANCHOR_FILE,
            "evidence_cases": "evidence_cases.csv",
            "evidence_storage": "evidence_storage.csv",
        }
