"""Live preservation as in the simulation: hold, copy with hashes, release, against a real
sweeper process that is killed with `kill -9` and started again (issue 12).

The sweeper runs in its own OS process (the twin.live.sweeper.Sweeper the SweeperActor wraps),
driven over a pipe; the desk steps are the real `twin evidence` commands.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.desk import ev, make_desk
from tests.test_live_core import _segment
from twin.core.audit import AuditKind, parse_jsonl
from twin.storage.live_catalog import LiveStore

CAMERAS, RECORDERS = ["c1", "c2"], ["r1", "r2"]
RETENTION_S = 30.0

# A sweeper process: "sweep RUN_CLOCK_S DESK_CLOCK_S" on stdin -> one JSON report on stdout.
_SWEEPER = """
import json, sys
from pathlib import Path
from twin.live.sweeper import Sweeper
db, root, desk = sys.argv[1:4]
desk_now = [0.0]
s = Sweeper(Path(db), Path(root), ["c1", "c2"], ["r1", "r2"], 30.0, 1000,
            desk_dir=Path(desk), clock=lambda: desk_now[0])
print(json.dumps({"pid": __import__("os").getpid(), "recovered": s.recovered}), flush=True)
for line in sys.stdin:
    _, run_s, desk_s = line.split()
    desk_now[0] = float(desk_s)
    r = s.sweep(float(run_s))
    print(json.dumps({"deleted": sorted(r.deleted_keys), "bytes": r.deleted_bytes,
                      "held": r.held_segments, "seq": r.audit_seq}), flush=True)
"""


class SweeperProcess:
    def __init__(self, run: Path) -> None:
        live = run / "live"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SWEEPER,
                str(live / "catalog.sqlite"),
                str(live / "segments"),
                str(run / "evidence"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.hello = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the sweeper process died (exit {self.proc.poll()})"
        return json.loads(line)

    def sweep(self, run_s: float, desk_s: float) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"sweep {run_s} {desk_s}\n")
        self.proc.stdin.flush()
        return self._read()

    def kill9(self) -> None:
        os.kill(self.hello["pid"], signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def test_a_live_hold_outlives_kill_9_of_the_sweeper_and_retention_then_copy_and_release(
    tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    root, db = run / "live" / "segments", run / "live" / "catalog.sqlite"
    store = LiveStore(db)
    keys = {
        (cam, k): _segment(store, root, cam, rec, 3.0 + 6 * k, 6.0)
        for cam, rec in zip(CAMERAS, RECORDERS, strict=True)
        for k in range(10)
    }
    size = {r.key: r.size_bytes for r in store.rows()}
    make_desk(run, at=0.0)

    # Hold c2's footage in [10, 16): its segments 1 and 2 ([9, 15) and [15, 21)).
    assert (
        ev(
            "preserve",
            run,
            "--at",
            10,
            "--officer",
            "pc-1",
            "--case",
            "case-1",
            "--camera",
            "c2",
            "--from",
            10,
            "--to",
            16,
        )
        == 0
    )
    assert "2 segments" in capsys.readouterr().out
    held = {keys[("c2", 1)], keys[("c2", 2)]}
    holds = store.holds(case_id="case-1")
    assert len(holds) == 1 and (holds[0].camera, holds[0].start_s, holds[0].end_s) == ("c2", 9, 21)

    first = SweeperProcess(run)
    try:
        rep = first.sweep(70.0, 100.0)  # due: every segment ending by 40, but the held ones
        expected = {keys[("c1", k)] for k in range(6)} | {keys[("c2", k)] for k in (0, 3, 4, 5)}
        assert set(rep["deleted"]) == expected and rep["held"] == 2
        first.kill9()  # no clean shutdown: whatever it held in memory is gone
    finally:
        first.stop()

    again = SweeperProcess(run)
    try:
        # Long after: the retention cutoff (1000 - 30) passes every segment, held ones too.
        rep2 = again.sweep(1000.0, 200.0)
        assert set(rep2["deleted"]) == set(keys.values()) - expected - held
        assert all((root / "r2" / k).exists() for k in held)
        states = {r.key: r.state for r in store.rows()}
        assert {k for k, s in states.items() if s == "stored"} == held

        # Every sweep that deleted is one DELETION entry on the run's trail, MAC'd by the desk.
        trail = parse_jsonl((run / "evidence" / "audit.jsonl").read_text())
        deletions = [e for e in trail if e.kind is AuditKind.DELETION]
        assert [e.seq for e in deletions] == [rep["seq"], rep2["seq"]]
        for e, r in zip(deletions, (rep, rep2), strict=True):
            assert e.actor == "sweeper" and e.sig.startswith("hmac-sha256:")
            assert e.details["segments"] == len(r["deleted"])
            assert e.details["bytes"] == sum(size[k] for k in r["deleted"]) == r["bytes"]
            assert e.details["missing_files"] == 0
        assert [e.details["run_clock_s"] for e in deletions] == [70.0, 1000.0]
        assert ev("verify-audit", run) == 0

        # Copy with hashes: the case is preserved and its holds are released ...
        assert ev("copy", run, "case-1", "--at", 300, "--officer", "pc-1") == 0
        assert "preserved; 2 files" in capsys.readouterr().out
        assert store.holds(case_id="case-1") == []
        assert store.holds(case_id="case-1", active=False)[0].released_at == 300.0
        manifest = json.loads((run / "evidence" / "cases" / "case-1" / "manifest.json").read_text())
        # ... so the originals now go, and the copies stay, matching the manifest.
        assert set(again.sweep(1001.0, 400.0)["deleted"]) == held
        for f in manifest["files"]:
            copy = run / "evidence" / f["evidence_key"]
            assert hashlib.sha256(copy.read_bytes()).hexdigest() == f["sha256"]
        complete = [
            e
            for e in parse_jsonl((run / "evidence" / "audit.jsonl").read_text())
            if e.kind is AuditKind.COPY and e.details.get("complete")
        ]
        assert complete[-1].details["manifest_sha256"] == manifest["manifest_sha256"]

        # Release: the copies are deleted, and that is on the trail too.
        assert (
            ev(
                "release",
                run,
                "case-1",
                "--at",
                500,
                "--officer",
                "pc-1",
                "--reason",
                "case closed",
            )
            == 0
        )
        assert not any((run / "evidence" / f["evidence_key"]).exists() for f in manifest["files"])
        tail = parse_jsonl((run / "evidence" / "audit.jsonl").read_text())[-2:]
        assert [(e.kind, e.actor) for e in tail] == [
            (AuditKind.RELEASE, "pc-1"),
            (AuditKind.DELETION, "pc-1"),
        ]
        assert tail[1].details["what"] == "evidence copies" and tail[1].details["count"] == 2
        assert ev("verify-audit", run) == 0
    finally:
        again.stop()
        store.close()


def test_an_edited_case_plan_is_caught_before_anything_is_copied(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    root, db = run / "live" / "segments", run / "live" / "catalog.sqlite"
    store = LiveStore(db)
    for k in range(3):
        _segment(store, root, "c1", "r1", 6.0 * k, 6.0)
    make_desk(run, at=0.0)
    assert (
        ev(
            "preserve",
            run,
            "--at",
            10,
            "--officer",
            "pc-1",
            "--case",
            "case-9",
            "--camera",
            "c1",
            "--from",
            0,
            "--to",
            6,
        )
        == 0
    )
    plan = run / "evidence" / "cases" / "case-9" / "plan.json"
    text = plan.read_text()
    assert "c1-0000000000.mp4" in text
    plan.write_text(text.replace("c1-0000000000.mp4", "c1-0000006000.mp4"))
    capsys.readouterr()
    assert ev("copy", run, "case-9", "--at", 20, "--officer", "pc-1") == 3
    assert "the plan was edited" in " ".join(capsys.readouterr().err.split())
    assert not (run / "evidence" / "cases" / "case-9" / "copies").exists()
    store.close()


def test_a_hold_lifted_by_editing_the_catalog_is_kept_and_deleted_rows_stop_the_sweep(
    tmp_path: Path,
) -> None:
    import sqlite3

    import pytest

    from twin.errors import EvidenceError
    from twin.live.sweeper import Sweeper

    run = tmp_path / "run"
    root, db = run / "live" / "segments", run / "live" / "catalog.sqlite"
    store = LiveStore(db)
    keys = [_segment(store, root, "c1", "r1", 6.0 * k, 6.0) for k in range(4)]
    make_desk(run, at=0.0)
    assert (
        ev(
            "preserve",
            run,
            "--at",
            10,
            "--officer",
            "pc-1",
            "--case",
            "case-1",
            "--camera",
            "c1",
            "--from",
            0,
            "--to",
            6,
        )
        == 0
    )
    # The insider marks the hold released straight in the SQLite file.
    con = sqlite3.connect(db)
    con.execute("UPDATE holds SET released_at = 11 WHERE case_id = 'case-1'")
    con.commit()
    sweeper = Sweeper(
        db, root, ["c1"], ["r1"], RETENTION_S, 100, desk_dir=run / "evidence", clock=lambda: 100.0
    )
    try:
        report = sweeper.sweep(1000.0)
        assert set(report.deleted_keys) == set(keys[1:]) and report.held_segments == 1
        assert (root / "r1" / keys[0]).exists()
        # Rows deleted outright: the sweep stops, nothing is deleted.
        con.execute("DELETE FROM holds")
        con.commit()
        with pytest.raises(EvidenceError, match="rows were deleted from the catalog"):
            sweeper.sweep(2000.0)
        assert (root / "r1" / keys[0]).exists()
    finally:
        con.close()
        sweeper.close()
        store.close()
