"""`twin evidence`: a simulated run's audit trail, and approved export of live footage."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.desk import ev, make_desk
from tests.helpers import BASE
from tests.test_evidence_sim import RANKS as RANKS_ALL
from tests.test_evidence_sim import evidence
from twin.cli.main import main
from twin.cli.runs import simulate_to
from twin.core.audit import AuditKind, parse_jsonl

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sim")
    data = dict(BASE)
    data.update(
        {
            "name": "evidence-unit",
            "city": {"districts": [{"name": "Yau Tsim Mong", "sets": 3, "backhaul_mbps": 10_000}]},
            "recording": {"segment_s": 60, "retention_days": 2, "sweep_interval_s": 3600},
            "simulation": {"days": 5, "tick_s": 60, "sample_s": 3600},
            "evidence": evidence(incidents=0.5, requests=2.0),
            "targets": {"unapproved_access": {"max": 0}, "audit_verified": {"min": 1}},
        }
    )
    path = tmp / "evidence-unit.yaml"
    path.write_text(yaml.safe_dump(data))
    res = simulate_to(path, tmp / "run", quiet=True)
    assert res.passed
    return tmp / "run"


def test_simulated_run_writes_a_trail_that_verifies(sim_run, capsys):
    res = json.loads((sim_run / "results.json").read_text())
    assert res["metrics"]["audit_verified"] == 1 and res["metrics"]["unapproved_access"] == 0
    entries = parse_jsonl((sim_run / "audit.jsonl").read_text())
    assert len(entries) == res["metrics"]["audit_entries"]
    assert {e.kind for e in entries} >= {
        AuditKind.PRESERVATION,
        AuditKind.COPY,
        AuditKind.REQUEST,
        AuditKind.APPROVAL,
        AuditKind.DENIAL,
    }
    assert {"evidence_storage", "approval_times"} <= {
        k.split(":", 1)[1] for k in res["files"] if k.startswith("plot:")
    }
    storage = (sim_run / "evidence_storage.csv").read_text().splitlines()
    assert storage[0] == "t_s,evidence_bytes" and len(storage) > 2
    assert max(float(r.split(",")[1]) for r in storage[1:]) / 1e12 == pytest.approx(
        res["metrics"]["evidence_storage_tb_max"], abs=1e-6
    )
    assert main(["evidence", "verify-audit", str(sim_run)]) == 0
    assert f"{len(entries):,} entries verify" in capsys.readouterr().out


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("audit.jsonl", "audit_anchor.json", "results.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_editing_one_line_of_the_trail_fails_verification_naming_it(sim_run, tmp_path, capsys):
    run = _copy_run(sim_run, tmp_path / "run")
    lines = (run / "audit.jsonl").read_text().splitlines(keepends=True)
    i = len(lines) // 2
    obj = json.loads(lines[i])
    obj["actor"] = "someone-else"
    lines[i] = json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"
    (run / "audit.jsonl").write_text("".join(lines))
    assert main(["evidence", "verify-audit", str(run)]) == 1
    out = capsys.readouterr().out
    assert f"line {i + 1} (seq {i})" in out and "FAILED" in out and "was edited" in out


def test_cutting_the_end_of_the_trail_is_caught_by_the_anchor(sim_run, tmp_path, capsys):
    run = _copy_run(sim_run, tmp_path / "run")
    lines = (run / "audit.jsonl").read_text().splitlines(keepends=True)
    (run / "audit.jsonl").write_text("".join(lines[:-2]))
    assert main(["evidence", "verify-audit", str(run)]) == 1
    assert "were cut from its end" in capsys.readouterr().out


# -- a live run's footage: a SQLite catalog and segment files as twin/live writes them ---------

SCHEMA = """CREATE TABLE segments (
    id INTEGER PRIMARY KEY, camera TEXT NOT NULL, recorder TEXT NOT NULL, start_s REAL NOT NULL,
    end_s REAL NOT NULL, size_bytes INTEGER NOT NULL, packets INTEGER NOT NULL,
    key TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'stored',
    written_at REAL NOT NULL, deleted_at REAL)"""


@pytest.fixture
def live_run(tmp_path) -> Path:
    run = tmp_path / "run"
    root = run / "live" / "segments"
    con = sqlite3.connect(_mk(run / "live") / "catalog.sqlite")
    con.execute(SCHEMA)
    for cam, rec in (("cam-a", "live-r01"), ("cam-b", "live-r02")):
        for k in range(6):
            start = 10.0 * k
            key = f"{cam}/{cam}-{int(start * 1000):010d}.mp4"
            data = f"{cam} segment {k}".encode() * 100
            state = "deleted" if k == 0 else "stored"  # the oldest one was swept
            if state == "stored":
                _mk((root / rec / key).parent)
                (root / rec / key).write_bytes(data)
            con.execute(
                "INSERT INTO segments (camera, recorder, start_s, end_s, size_bytes,"
                " packets, key, sha256, state, written_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    cam,
                    rec,
                    start,
                    start + 10,
                    len(data),
                    10,
                    key,
                    hashlib.sha256(data).hexdigest(),
                    state,
                    0.0,
                ),
            )
    con.commit()
    con.close()
    make_desk(run)  # officers of the register (tests/desk.py), enrolled at t=0
    return run


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def desk_trail(run: Path):
    """The desk trail's entries after the register was set up (bootstrap + enrolments)."""
    entries = parse_jsonl((run / "evidence" / "audit.jsonl").read_text())
    return [e for e in entries if e.kind is not AuditKind.OFFICER]


def test_export_needs_an_approval_of_high_enough_rank_and_is_sealed(live_run, tmp_path, capsys):
    run, dest = live_run, tmp_path / "export"
    assert (
        ev(
            "request",
            run,
            "--at",
            1000,
            "--officer",
            "pc-1",
            "--camera",
            "cam-a",
            "--from",
            0,
            "--to",
            35,
            "--action",
            "export",
        )
        == 0
    )
    assert "req-0001" in capsys.readouterr().out
    # Not approved yet: refused, nothing copied.
    assert ev("export", run, "req-0001", "--at", 1001, "--officer", "pc-1", "--dest", dest) == 1
    assert "not approved" in capsys.readouterr().out and not dest.exists()
    # An Inspector may approve a view, not an export.
    assert ev("approve", run, "req-0001", "--at", 1002, "--officer", "ip-1") == 1
    assert "needs rank 'Chief Inspector' or above" in capsys.readouterr().out
    assert ev("approve", run, "req-0001", "--at", 1003, "--officer", "cip-1") == 0
    # The approval is not transferable.
    assert ev("export", run, "req-0001", "--at", 1004, "--officer", "pc-2", "--dest", dest) == 1
    assert "not transferable" in capsys.readouterr().out and not dest.exists()
    assert ev("export", run, "req-0001", "--at", 1005, "--officer", "pc-1", "--dest", dest) == 0
    out = capsys.readouterr().out
    assert "exported 3 files" in out and "10 s of the window not on disk" in out

    manifest = json.loads((dest / "manifest.json").read_text())
    assert [(f["camera"], f["start_s"]) for f in manifest["files"]] == [
        ("cam-a", 10.0),
        ("cam-a", 20.0),
        ("cam-a", 30.0),
    ]  # [0, 10) was swept; cam-b not asked
    assert manifest["missing"] == [{"camera": "cam-a", "start_s": 0.0, "end_s": 10.0}]
    for f in manifest["files"]:
        src = run / "live" / "segments" / f["evidence_key"]
        assert f["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert ev("verify", dest) == 0
    assert "intact; 3 files" in capsys.readouterr().out

    # An export approval is used once.
    assert (
        ev("export", run, "req-0001", "--at", 1006, "--officer", "pc-1", "--dest", tmp_path / "2")
        == 1
    )
    assert "good for one export" in capsys.readouterr().out

    # Every step, refused ones too, is on the desk's trail, which verifies.
    trail = desk_trail(run)
    assert [e.kind for e in trail] == [
        AuditKind.REQUEST,
        AuditKind.DENIAL,
        AuditKind.DENIAL,
        AuditKind.APPROVAL,
        AuditKind.DENIAL,
        AuditKind.EXPORT,
        AuditKind.COPY,
        AuditKind.DENIAL,
    ]
    assert trail[6].details["manifest_sha256"] == manifest["manifest_sha256"]
    assert ev("verify-audit", run) == 0

    # A copied file changed afterwards is named.
    victim = dest / manifest["files"][1]["evidence_key"]
    victim.write_bytes(victim.read_bytes() + b"x")
    capsys.readouterr()
    assert ev("verify", dest) == 1
    assert manifest["files"][1]["evidence_key"] in capsys.readouterr().out


def test_a_request_nobody_approves_expires_and_cannot_be_used(live_run, tmp_path, capsys):
    run = live_run
    assert (
        ev(
            "request",
            run,
            "--at",
            0,
            "--officer",
            "pc-1",
            "--camera",
            "cam-b",
            "--from",
            10,
            "--to",
            20,
            "--action",
            "view",
        )
        == 0
    )
    hours_72 = 72 * 3600
    assert ev("approve", run, "req-0001", "--at", hours_72 + 1, "--officer", "ip-1") == 1
    assert "expired" in capsys.readouterr().out
    trail = desk_trail(run)
    assert [e.kind for e in trail] == [AuditKind.REQUEST, AuditKind.EXPIRY, AuditKind.DENIAL]
    assert ev("status", run, "--at", hours_72 + 2) == 0
    assert "expired" in capsys.readouterr().out


def test_commands_at_once_on_one_run_keep_one_chain(live_run, capsys):
    from concurrent.futures import ThreadPoolExecutor

    run = live_run
    args = [
        "request",
        run,
        "--at",
        50,
        "--officer",
        "pc-1",
        "--camera",
        "cam-a",
        "--from",
        10,
        "--to",
        20,
    ]
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: ev(*args), range(6)))
    assert codes == [0] * 6
    trail = desk_trail(run)
    assert sorted(e.subject for e in trail) == [f"req-{i:04d}" for i in range(1, 7)]
    assert ev("verify-audit", run) == 0


# -- the desk's state is its trail: replaying any history gives the same records ---------------

_OPS = st.lists(
    st.tuples(
        st.sampled_from(["submit", "approve", "refuse", "view", "export", "tick"]),
        st.integers(0, 4),  # which request
        st.sampled_from(RANKS_ALL),  # rank of whoever acts
        st.floats(0, 30 * 3600),  # time step
        st.booleans(),  # act as the requester (uses) / ask for an export (submit)
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_OPS)
def test_replaying_a_desks_trail_rebuilds_every_record_exactly(ops):
    from twin.core.access import AccessDesk, AccessPolicy, AccessRequest, Action, Officer
    from twin.core.audit import AuditTrail
    from twin.core.types import Interval
    from twin.desk.desk import replay_desk
    from twin.errors import AccessDenied

    policy = AccessPolicy(
        tuple(RANKS_ALL), "Inspector", "Chief Inspector", 48 * 3600.0, 12 * 3600.0
    )
    trail = AuditTrail()
    desk = AccessDesk(policy, trail)
    now = 0.0
    submitted: dict[int, bool] = {}
    for op, k, rank, step, flag in ops:
        now += step
        rid = f"r{k}"
        try:
            if op == "submit" and k not in submitted:
                submitted[k] = flag
                desk.submit(
                    AccessRequest(
                        rid,
                        Officer(f"req{k}", rank),
                        f"c{k}",
                        Action.EXPORT if flag else Action.VIEW,
                        ("cam-a",),
                        Interval(0.0, 60.0),
                        now,
                    )
                )
            elif op == "approve":
                desk.approve(rid, Officer(f"boss-{rank}", rank), now)
            elif op == "refuse":
                desk.refuse(rid, Officer(f"boss-{rank}", rank), now, reason="no")
            elif op in ("view", "export"):
                who = f"req{k}" if flag else "someone"
                desk.authorize_use(rid, Action(op), now, officer_id=who)
            elif op == "tick":
                desk.expire_due(now)
        except AccessDenied:
            pass
    again = replay_desk(list(trail.entries), policy)
    assert again.records() == desk.records()
