"""`twin live` end to end on Ray, small: 2 sets (6 cameras), 2 recorders, one recorder crashed.

The whole live engine (real MediaMTX, real Ray actors, real files) on a scripted fault from
the scenario's `faults:`: every segment opens in ffprobe, each camera's footage has no gap
outside start-up and the fault, the crashed recorder's cameras record again within heartbeat
detection plus one keyframe interval, what it had received before the kill is kept, the
sweeper deleted exactly what was due and catalog and disk agree, and results.json has the
simulate format with engine "live". A real Prometheus scrapes the same run meanwhile
(tests/prometheus.py) and follows it through the crash. Faults nobody scripted:
test_live_faults.py.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.prometheus import PrometheusWatch
from tests.test_live_recorder import ffprobe
from twin.cli.live import live_to
from twin.model.results import read_results
from twin.scenario import parse_scenario

pytestmark = pytest.mark.live

SEGMENT_S = 3.0
CAMERAS = 6
KILL_AT_S = 14.0
HB_INTERVAL_S, HB_TIMEOUT_S = 0.5, 2.0

SCENARIO = {
    "name": "live-test",
    "seed": 5,
    "city": {
        "districts": [{"name": "Mong Kok", "sets": 2, "backhaul_mbps": 1000}],
        "cameras_per_set": {3: 1.0},
    },
    "camera_profiles": [{"name": "hd", "width": 640, "height": 360, "bitrate_mbps": 0.5}],
    "recorders": {
        "pools": [
            {
                "name": "p",
                "districts": "*",
                "recorders": 2,
                "ingest_mbps": 100,
                "disk_tb": 1,
                "max_streams": 6,
            }
        ]
    },
    # One deployment: 3 s segments, 30 days compressed to 9 s, swept every 3 s.
    "recording": {"segment_s": int(SEGMENT_S), "sweep_interval_s": 3},
    "simulation": {"tick_s": 3},
    "faults": [{"type": "recorder_crash", "recorder": "p-r01", "at_s": KILL_AT_S}],
    "live": {
        "duration_s": 30,
        "time_compression": 288_000,
        "heartbeat_interval_s": HB_INTERVAL_S,
        "heartbeat_timeout_s": HB_TIMEOUT_S,
        "clip": {"clip_s": 10, "scenes": 1, "collision_at_s": 4},
        "analyser": {"cameras": 2, "width": 320},
    },
    "targets": {"live_gap_max_s": {"max": 0}, "live_segments_unreadable": {"max": 0}},
}


@pytest.fixture(scope="module")
def watched_run(tmp_path_factory):
    """One real live run shared by the tests of this file, watched meanwhile by a real
    Prometheus: ((results, measures, folder, leftover processes), the watch)."""
    import yaml

    tmp_path = tmp_path_factory.mktemp("live")
    path = tmp_path / "live-test.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    parse_scenario(SCENARIO, "<test>")  # the dict is a valid scenario
    before = _mediamtx_children()
    work = tmp_path / "prometheus"
    work.mkdir()
    watch = PrometheusWatch(tmp_path / "out", work, CAMERAS, "p-r01")
    watch.start()
    try:
        res, m = live_to(path, tmp_path / "out", quiet=True)
    finally:
        watch.stopped.set()
        watch.join(60)
    leftover = (_mediamtx_children() - before) | _zombie_children()
    # The run has ended: its metrics endpoint went with it.
    try:
        httpx.get(watch.url, timeout=2)
        watch.endpoint_closed = False
    except httpx.ConnectError:
        watch.endpoint_closed = True
    return (res, m, tmp_path, leftover), watch


@pytest.fixture(scope="module")
def live_run(watched_run):
    """The run: (results, measures, folder, leftover processes)."""
    return watched_run[0]


@pytest.fixture(scope="module")
def prometheus_watch(watched_run) -> PrometheusWatch:
    return watched_run[1]


def _mediamtx_children() -> set[int]:
    import psutil

    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "mediamtx" in " ".join(p.cmdline()):
                found.add(p.pid)
        except psutil.ZombieProcess:
            found.add(p.pid)  # dead but never reaped: left behind all the same
        except psutil.NoSuchProcess:
            pass  # gone between the listing and the look
    return found


def _zombie_children() -> set[int]:
    """Processes the run started and killed but never reaped (they stay in the table)."""
    import psutil

    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_live_run_records_sweeps_and_fails_over(live_run) -> None:
    res, m, tmp_path, leftover = live_run

    # results.json: the simulate format, engine "live", targets judged.
    saved = read_results(tmp_path / "out" / "results.json")
    assert saved.engine == "live" and saved.passed and res.passed
    assert {"coverage", "segments"} <= {
        k.split(":", 1)[1] for k in saved.files if k.startswith("plot:")
    }
    assert (tmp_path / "out" / "cameras.csv").exists() and (tmp_path / "out" / "report.md").exists()

    # Every recorded segment that is still on disk opens in ffprobe.
    root = tmp_path / "out" / "live" / "segments"
    stored = [r for r in m.rows if r.state == "stored"]
    assert stored
    for r in stored:
        assert ffprobe(root / r.recorder / r.key)["streams"][0]["codec_name"] == "h264"

    # Footage: no gap outside start-up and the fault; the crashed recorder's cameras came back
    # within detection (timeout + one beat interval) plus one keyframe interval and a margin.
    (kill,) = [e for e in res.events if e["kind"] == "fault"]
    assert kill["fault_kind"] == "recorder_crash" and kill["scripted"]
    assert kill["part"] == "recorder:p-r01" and kill["pid"] > 0
    moved = set(m.faults[0]["cameras"])
    assert moved and all(f.segments > 0 for f in m.cameras.values())
    assert m.metrics["live_gaps_unexplained"] == 0 == m.metrics["live_unrecorded_unexplained_s"]
    detect = m.faults[0]["detect_s"]
    assert detect <= HB_TIMEOUT_S + HB_INTERVAL_S + 0.5
    for cam, f in m.cameras.items():
        assert [g["fault"] for g in f.fault_gaps] == (
            ["recorder_crash recorder:p-r01"] if cam in moved else []
        )
        for g in f.fault_gaps:
            assert g["recorded_again"] and g["gap_s"] <= detect + 1.0 + 1.0, (cam, g)
        assert len(f.recorders) == (2 if cam in moved else 1)
    assert m.metrics["live_failover_detect_s_max"] == detect
    # What the crashed recorder had received is kept: each camera's segment in progress left
    # one `.part` file, recovered if it held a whole fragment (one is cut every 0.2 s) and
    # removed as an empty stub if the kill came just after the segment opened; either way the
    # camera's last segment on the crashed recorder plays and ends within 0.5 s of the kill.
    assert m.metrics["live_partials_recovered"] + m.metrics["live_partials_removed"] == len(moved)
    for cam in moved:
        last = max(
            (r for r in m.rows if r.camera == cam and r.recorder == "p-r01"), key=lambda r: r.end_s
        )
        # Segment times are the stream's own clock anchored on the wall time the connection's
        # first keyframe arrived: under load that anchor can sit a few tenths late.
        assert abs(last.end_s - kill["happened_s"]) <= 0.5, (last, kill["happened_s"])
        assert ffprobe(root / last.recorder / last.key)["streams"][0]["codec_name"] == "h264"

    # Retention: what is deleted was due at the last sweep; catalog and disk agree.
    sweeps = (tmp_path / "out" / "sweeps.csv").read_text().splitlines()[1:]
    assert sweeps and m.metrics["segments_deleted"] > 0
    last_cutoff = float(sweeps[-1].split(",")[1])
    for r in m.rows:
        if r.state == "deleted":
            assert r.end_s <= last_cutoff + 1e-6
    assert m.files["missing"] == m.files["orphans"] == m.files["deleted_but_present"] == 0
    assert m.files["partials"] == 0  # the run recovered them all

    # Every sweep that deleted is one DELETION entry on the run's desk trail (MAC'd by the
    # sweeper, under the desk's lock), with the same counts; the trail verifies.
    from twin.core.audit import AuditKind, parse_jsonl

    trail = parse_jsonl((tmp_path / "out" / "evidence" / "audit.jsonl").read_text())
    deletions = [e for e in trail if e.kind is AuditKind.DELETION]
    deleting = [row.split(",") for row in sweeps if int(row.split(",")[2]) > 0]
    by_t = {round(e.details["run_clock_s"], 3): e for e in deletions}
    assert deleting and all(
        (by_t[float(t)].details["segments"], by_t[float(t)].details["bytes"]) == (int(n), int(b))
        for t, _cut, n, b, *_ in deleting
    )
    # The driver does not report the sweep still running when it stops; the trail has it.
    assert len(deletions) - len(deleting) in (0, 1)
    assert sum(e.details["segments"] for e in deletions) == sum(
        1 for r in m.rows if r.state == "deleted"
    )
    assert all(e.actor == "sweeper" and e.sig.startswith("hmac-sha256:") for e in deletions)
    from twin.cli.main import main

    assert main(["evidence", "verify-audit", str(tmp_path / "out")]) == 0

    # Nothing left running: no MediaMTX child of this process that the run started.
    assert leftover == set()


def test_live_report_html_opens_in_a_browser_on_the_verdict_and_the_drill(live_run) -> None:
    """The live run's report.html, rendered by headless Chromium from this real run's
    results: every plot loaded, the verdict on the first screen, the drill's cost on it."""
    from tests.browser import render
    from tests.test_report_html import _text
    from twin.output.pages.summary import fmt

    res, m, tmp_path, _ = live_run
    out = tmp_path / "out"
    r = render(out / "report.html", tmp_path / "screens", "live")
    assert r.broken == [] and r.external == [] and r.verdict_on_first_screen, r
    missed = [t.metric for t in res.targets if not t.passed]  # the run's own verdict, shown
    assert r.verdict == (
        "live-test: PASS: all 2 targets met"
        if not missed
        else f"live-test: FAIL: {len(missed)} of 2 targets missed ({', '.join(missed)})"
    )
    assert r.images == sum(1 for k in res.files if k.startswith("plot:")) >= 2
    html = (out / "report.html").read_text()
    assert "recorder_crash recorder:p-r01" in _text(html, "drill")  # the fault, by name, first
    gaps = [e for e in res.events if e["kind"] == "fault_gap"]
    assert gaps and (
        f"footage lost to the faults: {fmt(sum(e['gap_s'] for e in gaps), 's')} of "
        f"camera time in {len(gaps)} gaps"
    ) in _text(html, "drill")
    assert res.scenario.source == "live-test.yaml"  # not the machine's temporary path
    for f in ("results.json", "report.md", "report.html"):
        assert str(tmp_path) not in (out / f).read_text(), f


def test_preserved_window_outlives_retention_matches_its_manifest_and_plays(live_run, tmp_path):
    """Issue 5's live check: preserve a window of real footage (an export approved by rank,
    copied with a SHA-256 manifest), let retention delete the originals, and the copy still
    matches its manifest and opens in ffprobe."""
    from tests.desk import make_desk
    from twin.cli.main import main
    from twin.live.sweeper import Sweeper

    _, m, run_tmp, _ = live_run
    run = run_tmp / "out"
    stored = sorted((r for r in m.rows if r.state == "stored"), key=lambda r: (r.camera, r.start_s))
    camera = stored[0].camera
    mine = [r for r in stored if r.camera == camera][:2]
    assert len(mine) == 2
    window = (mine[0].start_s, mine[-1].end_s)

    def ev(*args) -> int:
        return main(["evidence", *[str(a) for a in args]])

    # The live sweeper's DELETION entries are on the desk's (wall) clock: the desk goes on after.
    t0 = time.time()
    make_desk(run, at=t0)
    assert (
        ev(
            "request",
            run,
            "--at",
            t0 + 1,
            "--officer",
            "pc-7",
            "--camera",
            camera,
            "--from",
            window[0],
            "--to",
            window[1],
            "--action",
            "export",
        )
        == 0
    )
    assert ev("approve", run, "req-0001", "--at", t0 + 2, "--officer", "cip-2") == 0
    dest = tmp_path / "evidence"
    assert ev("export", run, "req-0001", "--at", t0 + 3, "--officer", "pc-7", "--dest", dest) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert sorted(f["start_s"] for f in manifest["files"]) == [r.start_s for r in mine]

    # Retention runs long after the run: every original is due and goes, from disk and catalog.
    root = run / "live" / "segments"
    names = sorted({r.camera for r in m.rows}), sorted({r.recorder for r in m.rows})
    sweeper = Sweeper(
        run / "live" / "catalog.sqlite", root, *names, retention_s=9.0, batch_segments=10**6
    )
    try:
        report = sweeper.sweep(max(r.end_s for r in m.rows) + 3600.0)
    finally:
        sweeper.close()
    gone = set(report.deleted_keys)
    assert {r.key for r in mine} <= gone and report.missing_files == 0
    assert not any((root / r.recorder / r.key).exists() for r in mine)

    # The preserved copy still matches its manifest, and plays.
    assert ev("verify", dest) == 0
    for f in manifest["files"]:
        copy = dest / f["evidence_key"]
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == f["sha256"]
        assert ffprobe(copy)["streams"][0]["codec_name"] == "h264"
    assert ev("verify-audit", run) == 0


def test_a_real_prometheus_scraped_the_run_through_the_crash(prometheus_watch, live_run) -> None:
    """Debian's Prometheus (`make tools`), started by the test with its own configuration,
    data folder and loopback port, scraped the run every second (tests/prometheus.py): every
    camera recording while healthy, the crash as it happened (a fault open, p-r01 down, its
    cameras' gaps each counted once), every camera recording again on p-r02 while the fault
    stays open; bytes offered growing, relayed of the order of offered; the driver's lag and
    the machine's CPU sane; every query of the shipped Grafana dashboard valid PromQL that
    finds series on the twin's metrics. Prometheus was stopped by its PID, and the run's
    endpoint closed when the run ended."""
    w = prometheus_watch
    res, _, tmp_path, _ = live_run
    if w.error is not None:
        raise AssertionError(f"watching the run failed: {w.error!r}; rows {w.rows}") from w.error
    healthy, crashed, back = w.phases()
    assert 0 <= healthy < crashed < back, w.rows
    assert w.seen["still_running"], "asked once the run had ended: its series were stale"
    rows = w.rows
    # The run says where it serves in live/parts.json (read there by the watch).
    assert w.url.startswith("http://127.0.0.1:") and w.url.endswith("/metrics"), w.url

    # While healthy: no gap; bytes offered growing.
    assert rows[healthy]["gaps"] == 0
    offered = [r["offered"] for r in rows if r["offered"] > 0]  # 0 until the sets answer
    assert offered == sorted(offered) and offered[-1] > offered[0], rows
    # The crash shows: a fault open, p-r01 down, its cameras stopped (each once) and then
    # recorded by p-r02, so every camera records again while the fault stays open.
    assert rows[back]["faults_open"] == 1 and rows[back]["down_up"] == 0
    s = w.seen
    assert 1 <= len(s["gaps"]) <= CAMERAS // 2 and all(float(g["value"][1]) == 1 for g in s["gaps"])
    unrecorded = {u["metric"]["camera"] for u in s["unrecorded"]}
    assert {g["metric"]["camera"] for g in s["gaps"]} <= unrecorded
    assert {r["metric"]["recorder"] for r in s["recording_on"]} == {"p-r02"}
    assert s["crashes"] == 1
    assert len({o["metric"]["camera"] for o in s["offered"]}) == CAMERAS
    assert s["cameras"] == CAMERAS == s["cameras_with_state"]
    assert s["lag"] is not None and 0 <= s["lag"] < 5, s["lag"]
    assert s["cpu"] is not None and 0 <= s["cpu"] <= 100, s["cpu"]
    # Offered at ~0.5 Mbps a camera (the clip's own rate, within a wide margin: the encoder
    # does not hit its target exactly on a 10 s clip).
    assert s["mbps"] is not None and 0.2 * CAMERAS * 0.5 < s["mbps"] < 3 * CAMERAS * 0.5, s
    assert [i["metric"]["scenario"] for i in s["info"]] == ["live-test"]
    # Every query of the Grafana dashboard is valid PromQL to this Prometheus, and each one
    # on the twin's own metrics finds series (those on MediaMTX's need its job).
    for title, expr, got in s["dashboard"]:
        assert got or "mediamtx" in expr, (title, expr)
    # What MediaMTX counted on each path (read by its relay actor, up to two samples behind;
    # RTP headers included) is of the order of what the cameras offered.
    relayed = {r["metric"]["camera"]: float(r["value"][1]) for r in s["relayed"]}
    sent = {o["metric"]["camera"]: float(o["value"][1]) for o in s["offered"]}
    assert set(relayed) == set(sent)
    assert sum(relayed.values()) > 0.5 * sum(sent.values()), (relayed, sent)

    # Prometheus was stopped by its PID; the run's endpoint closed with the run.
    assert w.prom_returncode is not None
    assert w.endpoint_closed is True
    assert "metrics_served" in (Path(tmp_path) / "out" / "results.json").read_text()
    assert res.engine == "live"
