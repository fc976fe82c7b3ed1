"""The live twin on a real 3-node Ray cluster started on this machine with `ray start`.

A head on 127.0.0.2 and two workers on 127.0.0.3 and 127.0.0.4, each with its own temp folder
and its own storage folder (CCTV_TWIN_STORAGE in the environment of that node's `ray start`
only), token authentication on as Ray 2.60 expects; every process of the cluster is stopped by
PID at the end, also when a test fails. `twin live scenarios/live-cluster-2-districts.yaml`
runs on it with RAY_ADDRESS: the two districts (camera sets and a MediaMTX each) and the
central standby pool use one node each. During the run the test `kill -9`s a recorder of the
second district on its worker node, and watches every process of the cluster: no process of
one node (nor the driver) ever holds a file of another node's folder open.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.ray_cluster import client_server_of
from tests.test_live_faults import _parts, _reaped, _twin

pytestmark = [pytest.mark.live, pytest.mark.slow]

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "live-cluster-2-districts.yaml"
#: Three loopback addresses. Not 127.0.0.1: `ray start` replaces it by the machine's outward
#: address (services.resolve_ip_for_localhost), and a worker cannot join a head bound to it.
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
KILL_AT_S = 45.0  # after recording started: wan-chai-r01, on the second node, kill -9


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """`ray start` nodes on loopback addresses; stopped by the PIDs of their processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.env = {**os.environ, "RAY_AUTH_MODE": "token"}
        self.env.pop("RAY_ADDRESS", None)
        # A one-machine Ray started earlier in this process must not make the nodes refuse.
        self.env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        self.temps = [Path(f"/tmp/twin-c{os.getpid()}-{i + 1}") for i in range(len(ADDRESSES))]
        self.storage = [root / f"storage-n{i + 1}" for i in range(len(ADDRESSES))]
        self.port = _free_port(ADDRESSES[0])
        self.address = f"{ADDRESSES[0]}:{self.port}"

    def start(self) -> None:
        subprocess.run(
            [self.ray, "get-auth-token", "--generate"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        for i, ip in enumerate(ADDRESSES):
            shutil.rmtree(self.temps[i], ignore_errors=True)
            self.storage[i].mkdir(parents=True)
            common = [
                f"--node-ip-address={ip}",
                f"--temp-dir={self.temps[i]}",
                "--num-cpus=1",
                "--disable-usage-stats",
                f"--dashboard-agent-listen-port={_free_port(ip)}",
                f"--metrics-export-port={_free_port(ip)}",
            ]
            args = (
                [
                    self.ray,
                    "start",
                    "--head",
                    f"--port={self.port}",
                    "--include-dashboard=false",
                    *common,
                ]
                if i == 0
                else [self.ray, "start", f"--address={self.address}", *common]
            )
            env = {**self.env, "CCTV_TWIN_STORAGE": str(self.storage[i])}
            if i == 0:  # a lost node is found in ~3 s rather than Ray's default ~15 s
                env.update(
                    RAY_health_check_period_ms="1000",
                    RAY_health_check_timeout_ms="1000",
                    RAY_health_check_failure_threshold="3",
                )
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]

    def processes(self) -> dict[int, int]:
        """{pid: node index} of every process of the cluster (by its temp folder in its
        command line, or an ancestor's: MediaMTX is a child of a relay actor's worker; and
        the head's Ray Client server, which names only the head's address)."""
        marks = [str(t) for t in self.temps]
        out: dict[int, int] = {}
        procs = list(psutil.process_iter(["pid", "ppid", "cmdline"]))
        by_pid = {p.info["pid"]: p for p in procs}
        for p in procs:
            cur, seen = p, 0
            while cur is not None and seen < 20:
                args = cur.info["cmdline"] or []
                cmd = " ".join(args)
                hit = [i for i, m in enumerate(marks) if m in cmd] or (
                    [0] if client_server_of(self.address, args) else []
                )
                if hit:
                    out[p.info["pid"]] = hit[0]
                    break
                cur, seen = by_pid.get(cur.info["ppid"]), seen + 1
        return out

    def stop(self) -> None:
        procs = [psutil.Process(pid) for pid in self.processes() if pid != os.getpid()]
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=10)
        for t in self.temps:
            shutil.rmtree(t, ignore_errors=True)


class OpenFiles(threading.Thread):
    """Samples, every 0.3 s, which node folders each process of the cluster (and the driver)
    holds open: {(process's node, folder's node)} seen, with an example each."""

    def __init__(self, cluster: LocalCluster, driver_pid: int) -> None:
        super().__init__(daemon=True)
        self.cluster, self.driver_pid = cluster, driver_pid
        self.seen: dict[tuple[str, int], str] = {}
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        folders = [str(s) + "/" for s in self.cluster.storage]
        while not self._halt.is_set():
            owners = {pid: f"n{i + 1}" for pid, i in self.cluster.processes().items()}
            owners[self.driver_pid] = "driver"
            for pid, who in owners.items():
                try:
                    files = [f.path for f in psutil.Process(pid).open_files()]
                except psutil.Error:
                    continue
                for path in files:
                    for j, folder in enumerate(folders):
                        if path.startswith(folder):
                            self.seen.setdefault((who, j + 1), path)
            self.samples += 1
            self._halt.wait(0.3)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster_run(local_cluster):
    cluster = local_cluster
    run = cluster.root / "out"
    env = {"RAY_ADDRESS": cluster.address, "RAY_AUTH_MODE": "token"}
    with _reaped(_twin("live", str(SCENARIO), "--out", str(run), env=env)) as proc:
        watch = OpenFiles(cluster, proc.pid)
        watch.start()
        try:
            info = _parts(run, timeout_s=240)
            t_rec = time.monotonic()  # parts.json is first written when recording starts
            listening = {}
            for part, p in info["parts"].items():
                if part.startswith("relay:"):
                    conns = psutil.Process(p["pid"]).net_connections(kind="tcp")
                    listening[part] = sorted(
                        {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
                    )
            time.sleep(max(0.0, t_rec + KILL_AT_S - time.monotonic()))
            part = _parts(run)["parts"]["recorder:wan-chai-r01"]
            os.kill(part["pid"], signal.SIGKILL)  # a worker process on 127.0.0.3
            killed = {"part": "recorder:wan-chai-r01", "pid": part["pid"], "wall": time.time()}
            out, err = proc.communicate(timeout=400)
        finally:
            watch.stop()
    return {
        "rc": proc.returncode,
        "out": out,
        "err": err,
        "run": run,
        "info": info,
        "killed": killed,
        "cluster": cluster,
        "open": watch,
        "listening": listening,
    }


def _results(run: Path):
    from twin.model.results import read_results

    return read_results(run / "results.json")


def test_the_cluster_run_uses_three_nodes_and_every_target_passes(cluster_run) -> None:
    assert cluster_run["rc"] == 0, cluster_run["err"][-4000:]
    res = _results(cluster_run["run"])
    assert res.passed, [t for t in res.targets if not t.passed]
    (ev,) = [e for e in res.events if e["kind"] == "cluster"]
    nodes = {n["node"]: n for n in ev["nodes"]}
    assert sorted(n["address"] for n in nodes.values()) == list(ADDRESSES)
    assert res.metrics["live_nodes"] == 3
    by_addr = {n["address"]: n for n in nodes.values()}
    head, w1, w2 = ADDRESSES
    assert by_addr[head]["driver"] and by_addr[head]["districts"] == ["Yau Tsim Mong"]
    assert by_addr[w1]["districts"] == ["Wan Chai"]
    assert by_addr[w2]["pools"] == ["central"] and not by_addr[w2]["districts"]
    label = {a: n["node"] for a, n in by_addr.items()}
    # The node of every actor, relay and recorder.
    parts = ev["parts"]
    assert parts["relay:" + label[head]] == label[head]
    assert parts["relay:" + label[w1]] == label[w1]
    # The scenario's one analyser runs where it runs on one machine: the driver's node.
    assert parts["analyser"] == label[head] and by_addr[head]["analysers"] == ["analyser"]
    assert ev["placed_by"]["analysers"] == "spread"
    for r in res.per_recorder:
        want = {"yau-tsim-mong": head, "wan-chai": w1, "central": w2}
        assert r["node"] == label[want[r["pool"]]], r
        assert parts[f"recorder:{r['recorder']}"] == r["node"]
    # Each relay's MediaMTX listens on its own node's (loopback) address, and its API on
    # 127.0.0.1 only.
    listening = cluster_run["listening"]
    assert listening == {
        "relay:" + label[head]: ["127.0.0.1", head],
        "relay:" + label[w1]: ["127.0.0.1", w1],
    }, listening
    with open(cluster_run["run"] / "cameras.csv") as f:
        cams = list(csv.DictReader(f))
    sets = {p for p in parts if p.startswith("set:")}
    assert len(sets) == 8 and {parts[p] for p in sets} == {label[head], label[w1]}
    assert {c["recorder_initial"].rsplit("-r", 1)[0] for c in cams} == {"yau-tsim-mong", "wan-chai"}


def test_each_node_keeps_its_own_recorders_segments_in_its_own_folder(cluster_run) -> None:
    run, cluster = cluster_run["run"], cluster_run["cluster"]
    res = _results(run)
    node_of = {r["recorder"]: r["node"] for r in res.per_recorder}
    labels = {
        n["address"]: n["node"]
        for n in next(e for e in res.events if e["kind"] == "cluster")["nodes"]
    }
    folder_of = {labels[a]: cluster.storage[i] for i, a in enumerate(ADDRESSES)}
    with open(run / "segments.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["state"] == "stored"]
    assert rows
    for node, folder in folder_of.items():
        (run_dir,) = [d for d in folder.iterdir() if d.is_dir()]  # one run's folder each
        files = {
            str(p.relative_to(run_dir / "segments"))
            for p in (run_dir / "segments").rglob("*")
            if p.is_file()
        }
        mine = {f"{r['recorder']}/{r['key']}" for r in rows if node_of[r["recorder"]] == node}
        assert mine and files == mine, (node, sorted(files ^ mine)[:5])
        assert (run_dir / "catalog.sqlite").is_file()
    assert not (run / "live" / "segments").exists() or not any(
        (run / "live" / "segments").rglob("*.mp4")
    )


def test_a_recorder_killed_on_one_node_is_recorded_again_on_another(cluster_run) -> None:
    run = cluster_run["run"]
    res = _results(run)
    node_of = {r["recorder"]: r["node"] for r in res.per_recorder}
    faults = [e for e in res.events if e["kind"] == "fault"]
    mine = [f for f in faults if f["part"] == "recorder:wan-chai-r01" and not f["scripted"]]
    assert len(mine) == 1, faults
    f = mine[0]
    assert f["cameras_hit"] >= 1 and f["camera_s_lost"] > 0 and f["gap_max_s"] > 0
    assert f["cameras_never_back"] == 0 and f["restored_s"] is not None
    scripted = [x for x in faults if x["part"] == "recorder:yau-tsim-mong-r01"]
    assert len(scripted) == 1 and scripted[0]["scripted"]
    # Its cameras' gaps are its own, unless a fault already under way had stopped them: one
    # gap is booked to the fault that began it (a busy machine's relay found hung just before
    # the kill, restarted, and the kill landing before its cameras reconnected).
    k = scripted[0]
    earlier = [
        x
        for x in faults
        if x is not k
        and set(x["cameras"]) & set(k["cameras"])
        and x["happened_s"] <= k["happened_s"]
        and x["cameras_hit"] >= 1
        and (x["recorded_again_s"] or float("inf")) >= k["happened_s"]
    ]
    assert k["cameras_hit"] >= 1 or earlier, faults
    with open(run / "segments.csv") as fh:
        rows = list(csv.DictReader(fh))
    t0 = min(float(e["t_s"]) for e in res.events if e["kind"] == "recording_started")
    for fault in (f, scripted[0]):
        lost = set(fault["cameras"])
        rec = fault["part"].split(":", 1)[1]
        after = fault["happened_s"] - t0
        again = {
            r["recorder"]
            for r in rows
            if r["camera"] in lost and float(r["start_s"]) > after and r["recorder"] != rec
        }
        assert again and all(node_of[a] != node_of[rec] for a in again), (rec, again)
    # The gap is counted: every lost camera's gap is the fault's, none unexplained.
    assert res.metrics["live_unrecorded_unexplained_s"] == 0
    assert res.metrics["live_recorder_kill_gap_s_max"] >= f["gap_max_s"] > 0


def test_no_process_opens_another_nodes_folder(cluster_run) -> None:
    """Each node's folder is in its own `ray start`'s environment only; sampled all through
    the run, no process of one node, nor the driver, held a file of another node's open, and
    no output of the run names a node's folder."""
    watch, cluster, run = cluster_run["open"], cluster_run["cluster"], cluster_run["run"]
    assert watch.samples > 50
    own = {(f"n{i + 1}", i + 1) for i in range(len(ADDRESSES))}
    seen = set(watch.seen)
    assert own <= seen, seen  # each node was seen writing its own folder
    assert seen <= own, {k: v for k, v in watch.seen.items() if k not in own}
    for p in run.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".csv", ".md", ".html", ".log"):
            text = p.read_text(errors="replace")
            assert not any(str(s) in text for s in cluster.storage), p


def test_evidence_export_fetches_each_nodes_footage_through_ray(
    cluster_run, monkeypatch, tmp_path: Path
) -> None:
    """The desk of a cluster run reads no node's folder: an approved export asks each node
    for its own segments through Ray; the files match their catalog hashes and `verify`."""
    import hashlib

    from tests.desk import ev, make_desk

    run, cluster = cluster_run["run"], cluster_run["cluster"]
    (evt,) = [e for e in _results(run).events if e["kind"] == "cluster"]
    with open(run / "cameras.csv") as f:
        cams = list(csv.DictReader(f))
    # A camera of each killed recorder: recorded on its own node, then on the standby's.
    faults = [
        e
        for e in _results(run).events
        if e["kind"] == "fault" and e["part"].startswith("recorder:")
    ]
    chosen = sorted({min(f["cameras"]) for f in faults})
    assert len(chosen) == 2 and {c["camera"] for c in cams} >= set(chosen)
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    make_desk(run, at=1000)
    args = [a for c in chosen for a in ("--camera", c)]
    assert (
        ev(
            "request",
            run,
            "--at",
            1001,
            "--officer",
            "pc-1",
            *args,
            "--from",
            0,
            "--to",
            3600,
            "--action",
            "export",
        )
        == 0
    )
    assert ev("approve", run, "req-0001", "--at", 1002, "--officer", "cip-1") == 0
    dest = tmp_path / "export"
    assert ev("export", run, "req-0001", "--at", 1003, "--officer", "pc-1", "--dest", dest) == 0
    assert ev("verify", dest) == 0
    with open(run / "segments.csv") as f:
        stored = {
            f"{r['recorder']}/{r['key']}": r["sha256"]
            for r in csv.DictReader(f)
            if r["state"] == "stored" and r["camera"] in chosen
        }
    got = {
        str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in dest.rglob("*")
        if p.is_file() and p.suffix in (".mp4", ".ts")
    }
    assert got == stored
    # The recorders behind them ran on different nodes (the standby's on a third).
    node_of = {r["recorder"]: r["node"] for r in _results(run).per_recorder}
    assert len({node_of[k.split("/")[0]] for k in got}) >= 2


def test_bench_cluster_smoke(
    cluster_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/bench_cluster.py at its smoke size: its three-node side is this module's cluster
    run (the same scenario), its one-node side a short run of its own."""
    from tests.bench_smoke import bench, positive

    clus = bench("bench_cluster")
    three = clus.figures(cluster_run["run"])
    one = clus.run_once(tmp_path / "one-node", {"RAY_ADDRESS": ""}, clus.SMOKE_DURATION_S)
    clus.report(one, three)
    out = capsys.readouterr().out
    assert len(one["nodes"]) == 1 and len(three["nodes"]) == 3, out
    positive(r"driver CPU ([\d.]+) % of a core \(([\d.]+) per camera\)", out)
    positive(r"3 nodes / 1 node: x([\d.]+)", out)


def test_a_wrong_token_is_refused_at_the_first_refusal_with_the_fix(
    local_cluster, tmp_path: Path
) -> None:
    """The cluster started as docs/cluster.md says (token auth on): a run given a wrong token
    is refused, with the fix, at Ray's first refusal (a wrong token never becomes right), not
    after Ray's client has retried for ~20 s. (Joining with the right token: cluster_run.)"""
    env = {
        "RAY_ADDRESS": local_cluster.address,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": "0" * 64,
    }
    t = time.monotonic()
    with _reaped(_twin("live", str(SCENARIO), "--out", str(tmp_path / "bad"), env=env)) as bad:
        out, err = bad.communicate(timeout=90)
    assert bad.returncode == 3 and time.monotonic() - t < 12, err[-2000:]
    assert "refused the login" in err and "RAY_AUTH_TOKEN" in err and "Traceback" not in err


def test_a_whole_node_lost_is_one_fault_with_every_camera_it_served(local_cluster) -> None:
    """Last (it takes a node away): the raylet of the second district's node is killed -9,
    and with it that node's relay, camera sets, recorders and sweeper."""
    cluster = local_cluster
    run = cluster.root / "node-lost"
    env = {"RAY_ADDRESS": cluster.address, "RAY_AUTH_MODE": "token"}
    # 28 s: before the scenario's recorder crash (at 30 s), which would find the standby full
    # with the lost district's cameras (moved there, with nothing left to publish them).
    with _reaped(
        _twin("live", str(SCENARIO), "--out", str(run), "--duration", "28", env=env)
    ) as proc:
        _parts(run, timeout_s=240)
        time.sleep(10)
        (raylet,) = [
            p
            for p in psutil.process_iter(["pid", "cmdline"])
            if str(cluster.temps[1]) in " ".join(p.info["cmdline"] or [])
            and "raylet" in (p.info["cmdline"] or [""])[0]
        ]
        raylet.kill()
        out, err = proc.communicate(timeout=400)
    assert proc.returncode == 1, err[-3000:]  # a fault never restored: a target fails
    assert "Traceback" not in out + err
    res = _results(run)
    (node,) = [e for e in res.events if e["kind"] == "fault" and e["fault_kind"] == "node_lost"]
    (ev,) = [e for e in res.events if e["kind"] == "cluster"]
    n2 = next(n["node"] for n in ev["nodes"] if n["address"] == ADDRESSES[1])
    assert node["part"] == f"node:{n2}" and node["detected_s"] is not None
    with open(run / "cameras.csv") as f:
        cams = list(csv.DictReader(f))
    wan_chai = {c["camera"] for c in cams if ev["parts"][f"set:{c['set']}"] == n2}
    assert wan_chai and wan_chai <= set(node["cameras"])
    # Every camera the node published is counted, the node's: its footage on the node's
    # disk (unreachable) and none after; none unexplained.
    assert node["cameras_hit"] >= len(wan_chai) and node["cameras_never_back"] >= len(wan_chai)
    assert node["camera_s_lost"] > 20 * len(wan_chai)
    # Its relay, sets and recorders are that one fault (a part found dead before the node
    # was may have a record of its own, never restarted there).
    others = [
        f
        for f in res.events
        if f["kind"] == "fault" and f["part"] != node["part"] and not f["scripted"]
    ]
    assert all(f["part"] in node["parts"] and f["restarted_s"] is None for f in others), others
    assert res.metrics["live_unrecorded_unexplained_s"] == 0
    failed = {t.metric for t in res.targets if not t.passed}
    assert "live_faults_unrestored" in failed
