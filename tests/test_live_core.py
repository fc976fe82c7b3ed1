"""The live twin's logic without Ray or MediaMTX: settings, sweeper on real files, supervisor,
gap measurement. Fast; the real-parts tests are in test_live_recorder.py and test_live_run.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.helpers import scenario
from twin.live.failover import Supervisor
from twin.live.measure import check_files, footage
from twin.live.sweeper import Sweeper
from twin.scenario.live import LiveSettings
from twin.storage.live_catalog import LiveStore


# -- settings ----------------------------------------------------------------------------------
def test_live_section_is_optional_and_validated() -> None:
    assert scenario().live is None
    sc = scenario(
        live={"time_compression": 86_400},
        faults=[{"type": "recorder_crash", "recorder": "central-r01", "at_s": 5}],
    )
    assert sc.live.retention_for(30) == 30 and sc.faults[0].recorder == "central-r01"
    assert LiveSettings(time_compression=43_200).retention_for(30) == pytest.approx(60.0)


def test_the_old_drills_section_is_refused_with_the_faults_that_replace_it() -> None:
    with pytest.raises(
        ValidationError,
        match=r"live.drills is gone.*type: recorder_crash.*"
        r"type: relay_down",
    ):
        LiveSettings.model_validate({"drills": [{"type": "kill_recorder", "at_s": 5}]})


def test_live_faults_name_live_recorders_and_only_what_one_machine_can_do() -> None:
    from twin.errors import ScenarioError
    from twin.live.faults import compile_live_faults
    from twin.live.run import live_recorder_names

    pools = {
        "recorders.pools": [
            {
                "name": "p",
                "districts": "*",
                "recorders": 4,
                "ingest_mbps": 100,
                "disk_tb": 1,
                "max_streams": 10,
            }
        ]
    }
    sc = scenario(
        **pools,
        live={"duration_s": 60},
        faults=[
            {"type": "recorder_crash", "recorder": "p-r02", "at_s": 10, "duration_s": 5},
            {"type": "relay_down", "relay": "city", "at_s": 20, "duration_s": 1},
            {"type": "set_power", "camera_set": 3, "at_s": 30},
            {"type": "recorder_crash", "recorder": "p-r01", "at_s": 90},
        ],
    )  # after the run: skipped
    recs = live_recorder_names(sc, 2)
    assert recs == ["p-r01", "p-r02"]
    got = [(f.action, f.target, f.start_s, f.end_s) for f in compile_live_faults(sc, recs, {}, 60)]
    assert got == [
        ("kill_recorder", "p-r02", 10.0, 15.0),
        ("kill_relay", "mediamtx", 20.0, 21.0),
        ("power_off", "set00003", 30.0, float("inf")),
    ]
    with pytest.raises(ScenarioError, match=r"at most 4: add recorders to recorders.pools"):
        live_recorder_names(sc, 5)
    bad = scenario(**pools, faults=[{"type": "recorder_crash", "recorder": "p-r04", "at_s": 1}])
    with pytest.raises(
        ScenarioError,
        match=r"faults\[0\].recorder: 'p-r04' is not one of the "
        r"live run's recorders",
    ):
        compile_live_faults(bad, recs, {}, 60)
    disk = scenario(**pools, faults=[{"type": "disk_failure", "recorder": "p-r01", "at_s": 1}])
    with pytest.raises(ScenarioError, match=r"a disk_failure fault cannot be carried out live"):
        compile_live_faults(disk, recs, {}, 60)


@pytest.mark.parametrize(
    ("live", "message"),
    [
        ({"heartbeat_timeout_s": 0.5}, "must be longer than"),
        ({"heartbeat_timeout_s": 1.2}, "must be a whole number of live.heartbeat_interval_s"),
        ({"clip": {"collision_at_s": 30}}, "must be inside the clip"),
    ],
)
def test_bad_live_settings_are_refused(live: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LiveSettings.model_validate(live)


# -- sweeper on real files ---------------------------------------------------------------------
def _segment(store: LiveStore, root: Path, cam: str, rec: str, start: float, seg: float) -> str:
    key = f"{cam}/{cam}-{round(start * 1000):010d}.mp4"
    path = root / rec / key
    path.parent.mkdir(parents=True, exist_ok=True)
    data = f"{cam}{start}".encode()
    path.write_bytes(data)
    store.add_segment(
        cam, rec, start, start + seg, len(data), 1, key, hashlib.sha256(data).hexdigest()
    )
    return key


def test_sweeper_deletes_exactly_the_due_files_and_keeps_catalog_and_disk_in_step(
    tmp_path: Path,
) -> None:
    root, db = tmp_path / "seg", tmp_path / "cat.sqlite"
    store = LiveStore(db)
    keys = {}
    for cam, rec in (("c1", "r1"), ("c2", "r2")):
        for k in range(10):  # 6 s segments from t=3
            keys[(cam, k)] = _segment(store, root, cam, rec, 3.0 + 6 * k, 6.0)
    sweeper = Sweeper(db, root, ["c1", "c2"], ["r1", "r2"], retention_s=30.0, batch_segments=100)
    held = sweeper.hold("case-1", "c2", 10.0, 16.0, now_s=70.0)  # c2's segments 1 and 2
    assert held == 2
    report = sweeper.sweep(now_s=70.0)  # due: end <= 40, i.e. segments 0..5 (end 9..39)
    expected = {keys[("c1", k)] for k in range(6)} | {keys[("c2", k)] for k in (0, 3, 4, 5)}
    assert set(report.deleted_keys) == expected and report.missing_files == 0
    on_disk = {str(p.relative_to(root / p.relative_to(root).parts[0])) for p in root.rglob("*.mp4")}
    assert on_disk == set(keys.values()) - expected
    states = {r.key: r.state for r in store.rows()}
    assert {k for k, s in states.items() if s == "deleted"} == expected
    assert check_files(root, store.rows())["missing"] == 0
    # Nothing more is due until time moves on; the held segments stay after their release.
    assert sweeper.sweep(now_s=70.0).deleted_keys == ()
    sweeper.release("case-1")
    assert set(sweeper.sweep(now_s=70.0).deleted_keys) == {keys[("c2", 1)], keys[("c2", 2)]}
    sweeper.close()


def test_a_sweep_cut_off_between_mark_and_unlink_is_finished_on_restart(tmp_path: Path) -> None:
    root, db = tmp_path / "seg", tmp_path / "cat.sqlite"
    store = LiveStore(db)
    key = _segment(store, root, "c1", "r1", 0.0, 6.0)
    store.mark([("r1", key)], "deleting")  # the sweeper stopped here
    assert (root / "r1" / key).exists()
    sweeper = Sweeper(db, root, ["c1"], ["r1"], 10.0, 100)
    assert sweeper.recovered == 1 and not (root / "r1" / key).exists()
    assert [r.state for r in store.rows()] == ["deleted"]
    sweeper.close()


def test_store_refuses_a_segment_that_ends_before_it_starts(tmp_path: Path) -> None:
    from twin.errors import CatalogError

    with pytest.raises(CatalogError, match=r"end \(1.0\) must be after start \(2.0\)"):
        LiveStore(tmp_path / "c.sqlite").add_segment("c", "r", 2.0, 1.0, 1, 1, "k", "")


# -- supervisor --------------------------------------------------------------------------------
def test_supervisor_moves_a_silent_recorders_cameras_within_survivors_limits() -> None:
    cams = {f"c{i:02d}": 1.0 for i in range(9)}
    sup = Supervisor(
        ["r1", "r2", "r3"],
        max_streams=5,
        ingest_mbps=100,
        camera_mbps=cams,
        interval_s=0.5,
        timeout_s=2.0,
        now_s=0.0,
    )
    first = sup.place_all()
    assert sorted(first.values()) == ["r1"] * 3 + ["r2"] * 3 + ["r3"] * 3
    for t in (0.5, 1.0, 1.5):
        sup.beat(["r1", "r2", "r3"], t)
    sup.beat(["r2", "r3"], 2.0)  # r1 fell silent after 1.5 s
    assert sup.check(3.0) == []  # silent for 1.5 s: suspect, not lost
    sup.beat(["r2", "r3"], 3.4)
    moves = sup.check(3.5)
    assert {m.camera for m in moves} == {c for c, r in first.items() if r == "r1"}
    assert all(m.from_recorder == "r1" and m.to_recorder in ("r2", "r3") for m in moves)
    sup.applied()
    after = sup.assignment()
    assert max(list(after.values()).count(r) for r in ("r2", "r3")) <= 5
    assert sup.state("r1") == "down" and "r1" not in after.values()


def test_supervisor_reports_cameras_nobody_can_take() -> None:
    sup = Supervisor(
        ["r1", "r2"],
        max_streams=3,
        ingest_mbps=100,
        camera_mbps={f"c{i}": 1.0 for i in range(6)},
        interval_s=1,
        timeout_s=2,
    )
    sup.place_all()
    sup.beat(["r2"], 2.5)
    moves = sup.check(3.0)
    assert [m.to_recorder for m in moves] == [None, None, None]


# -- gaps from the catalog ---------------------------------------------------------------------
def test_every_second_from_the_start_to_the_end_is_covered_or_a_gap(tmp_path: Path) -> None:
    """Coverage runs from t0 to t_end: a head gap past start-up, holes, and a camera that stops
    and never resumes are all gaps; those inside a fault's window are the fault's."""
    from types import SimpleNamespace

    store = LiveStore(tmp_path / "c.sqlite")
    for start, end in ((1.5, 6), (6, 12), (12, 15.5), (19, 25), (25, 31), (33, 39)):
        store.add_segment("c1", "r1", start, end, 10, 1, f"c1/{start}", "")
    for start, end in ((9, 20),):  # starts late, stops early
        store.add_segment("c2", "r1", start, end, 10, 1, f"c2/{start}", "")
    kill = {
        "id": 1,
        "kind": "recorder_crash",
        "part": "recorder:r1",
        "scripted": True,
        "injected_s": 15.0,
        "last_seen_s": None,
        "detected_s": 17.5,
        "restored_s": 20.0,
        "ended_s": 20.0,
        "cameras": ["c1"],
        "pid": 7,
    }
    settings = SimpleNamespace(profile=SimpleNamespace(keyframe_s=1.0), heartbeat_interval_s=0.5)
    o = SimpleNamespace(
        cameras=["c1", "c2", "c3"], t0=0.0, t_end=45.0, faults=[kill], settings=settings
    )
    got = footage(o, store.rows())
    c1 = got["c1"]
    assert c1.startup_s == 1.5  # within keyframe_s + 2 s of the start: start-up
    assert c1.gaps == [(31, 33), (39, 45.0)]  # a hole and a camera that stopped for good
    assert c1.fault_gaps == [
        {
            "camera": "c1",
            "fault": "recorder_crash recorder:r1",
            "fault_id": 1,
            "fault_s": 15.0,
            "gap_s": 3.5,
            "recovery_s": 4.0,
            "from_s": 15.5,
            "to_s": 19.0,
            "recorded_again": True,
        }
    ]
    assert c1.unrecorded_s == pytest.approx(1.5 + 3.5 + 2 + 6)
    assert got["c2"].gaps == [(0.0, 9), (20, 45.0)]  # too late for start-up; never came back
    assert got["c3"].gaps == [(0.0, 45.0)] and got["c3"].unrecorded_s == 45.0


# -- an external MediaMTX ----------------------------------------------------------------------
def test_external_server_logins_come_from_its_config(tmp_path: Path) -> None:
    from synthetic_streams.mediamtx_config import (
        Endpoints,
        build_config,
        make_credentials,
        render_config,
    )
    from twin.live.run import LiveError, external_credentials
    from twin.scenario.live import ExternalMediaMTX

    creds = make_credentials(["c1", "c2"])
    cfg = tmp_path / "mediamtx.yml"
    # The twin must know an external server's passwords: that config holds them in plain text.
    cfg.write_text(
        render_config(build_config(creds, Endpoints("127.0.0.1", 1, 2, 3), hashed=False))
    )
    got = external_credentials(ExternalMediaMTX(config=cfg), ["c1", "c2"])
    assert got == creds
    with pytest.raises(LiveError, match=r"no publisher user for cameras \['c3'\]"):
        external_credentials(ExternalMediaMTX(config=cfg), ["c1", "c3"])


def test_a_city_scale_scenario_is_refused_live(tmp_path: Path) -> None:
    from twin.live.run import LiveError, run_live

    sc = scenario(**{"city.districts": [{"name": "A", "sets": 400, "backhaul_mbps": 1e5}]})
    with pytest.raises(
        LiveError,
        match=r"has 977 cameras.*expected at most 500: run it "
        r"with `twin simulate`",
    ):
        run_live(sc, tmp_path)


def test_two_recorders_may_hold_the_same_camera_from_the_same_keyframe(tmp_path: Path) -> None:
    """A camera moved while its first recorder still records: both files have the same name
    under their own recorder's folder, and both are rows; deleting one leaves the other."""
    root, db = tmp_path / "seg", tmp_path / "cat.sqlite"
    store = LiveStore(db)
    k1 = _segment(store, root, "c1", "r1", 12.0, 6.0)
    k2 = _segment(store, root, "c1", "r2", 12.0, 6.0)
    assert k1 == k2 and len(store.rows()) == 2
    assert store.mark([("r1", k1)], "deleted") == 1
    assert [(r.recorder, r.state) for r in store.rows()] == [("r1", "deleted"), ("r2", "stored")]


def test_what_a_killed_recorder_left_is_recovered_into_the_catalog(
    tmp_path: Path, live_clip
) -> None:
    """A `.part` file, and a finished file whose row was never written (killed between the
    rename and the insert), become rows with their real span; an empty stub is removed; what
    already has a row is left alone; running it again changes nothing."""
    import shutil

    from twin.live.recorder import recover_partials

    root, db = tmp_path / "seg" / "r1", tmp_path / "cat.sqlite"
    store = LiveStore(db)
    (root / "c1").mkdir(parents=True)
    shutil.copy(live_clip.path, root / "c1" / "c1-0000012000.mp4.part")
    shutil.copy(live_clip.path, root / "c1" / "c1-0000016000.mp4")  # no row
    (root / "c1" / "c1-0000020000.mp4.part").write_bytes(b"")  # opened, nothing written
    done = _segment(store, tmp_path / "seg", "c1", "r1", 4.0, 4.0)  # has its row
    got = recover_partials(root, store, "r1")
    assert sorted(got.recovered) == ["c1/c1-0000012000.mp4", "c1/c1-0000016000.mp4"]
    assert got.removed == ("c1/c1-0000020000.mp4.part",) and got.seconds == pytest.approx(8.0)
    rows = {r.key: r for r in store.rows()}
    assert set(rows) == {done, "c1/c1-0000012000.mp4", "c1/c1-0000016000.mp4"}
    r = rows["c1/c1-0000012000.mp4"]
    assert (r.start_s, r.end_s, r.packets) == (12.0, pytest.approx(16.0), 60)
    assert r.sha256 == hashlib.sha256((root / r.key).read_bytes()).hexdigest()
    assert check_files(tmp_path / "seg", store.rows())["orphans"] == 0
    assert recover_partials(root, store, "r1").recovered == ()


def test_a_segment_killed_before_its_first_fragment_is_an_empty_stub(
    tmp_path: Path, live_clip
) -> None:
    """The segment file a recorder is writing holds only its header until the first fragment
    is cut (3 frames, 0.2 s, at 15 fps): a kill in that window leaves a stub that plays
    nothing, which recovery removes; one packet later the file plays and is recovered."""
    import av

    from twin.live.recorder import _Segment, recover_partials

    root, store = tmp_path / "seg" / "r1", LiveStore(tmp_path / "cat.sqlite")
    with av.open(str(live_clip.path)) as inp:
        stream = inp.streams.video[0]
        pkts = [p for p in inp.demux(stream) if p.pts is not None and p.size][:4]
        seg = _Segment(root, "c1", "mp4", stream, 24.0, pkts[0].pts)
        for p in pkts[:3]:
            seg.write(p, p.pts)
        # the process is "killed" here: recovery reads the file as the muxer left it
        stub = recover_partials(root, store, "r1")
        assert stub.recovered == () and stub.removed == ("c1/c1-0000024000.mp4.part",)
        seg = _Segment(root, "c1", "mp4", stream, 24.0, pkts[0].pts)
        for p in pkts:
            seg.write(p, p.pts)
        got = recover_partials(root, store, "r1")
        assert got.recovered == ("c1/c1-0000024000.mp4",) and got.removed == ()
        assert got.seconds == pytest.approx(3 / 15)
    assert [(r.key, r.packets) for r in store.rows()] == [("c1/c1-0000024000.mp4", 3)]


def test_a_live_run_never_reuses_a_folder_that_holds_an_evidence_desk(tmp_path: Path) -> None:
    from twin.errors import UsageError
    from twin.live.run import run_live

    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "audit.jsonl").write_text("{}\n")
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "catalog.sqlite").write_bytes(b"the earlier run's catalog")
    with pytest.raises(
        UsageError,
        match=r"holds the evidence desk of an earlier live run.*"
        r"pass another --out",
    ):
        run_live(scenario(live={"duration_s": 30}), tmp_path)
    assert (tmp_path / "live" / "catalog.sqlite").read_bytes() == b"the earlier run's catalog"
