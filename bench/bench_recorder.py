"""What one recorder process sustains on one core: streams and Mbps with zero dropped packets,
beside the vendor figures the city scenarios assume (250 streams / 1,200 Mbps per recorder).

Run:  .venv/bin/python bench/bench_recorder.py --streams 20 60 100 140
  or: .venv/bin/pytest bench/bench_recorder.py --benchmark-only -s   (10 and 30 streams, 20 s;
      with --smoke, or --smoke as a script: 2 and 4 streams, 6 s)

Each step is real: a MediaMTX (auth on) relays N synthetic 1280x720 15 fps H.264 cameras
(one clip encoded once, published over RTSP by N threads in a process of their own), and one
`twin.live.recorder.Recorder` process, pinned to one core (sched_setaffinity), records all N
into fragmented-MP4 segment files and a SQLite catalog for `--seconds`. A step passes when
no packet was lost: every stream connected once, with no failure and no discontinuity inside
its connection, and every stream's segments follow each other without a gap from its first
to the end. Printed per step: the recorder's CPU (its own process time over the step, so
other load on the machine does not count), % of its core per stream and per Mbps, and the
machine's load. The figure carried into a calibration (`recorder_streams_per_core`) is the
last step that passed, and what its CPU per stream extrapolates to at 100 % of the core;
on a 2-core machine the feed (publishers and MediaMTX on the other core) may run out before
the recorder does: a step that loses packets while the recorder's core is not full says so
by its CPU figure.

Ratios printed: CPU per stream at the top step over CPU per stream at the first step (the
baseline measured in the same run: 1.0 means the cost per stream does not grow with N), and
the sustained figures over the vendor's.

The relay is measured on the same ladder: MediaMTX's own CPU time over the recording window,
each stream published into it once and read out of it once (by the recorder), per stream and
extrapolated to a core (`relay_streams_per_core`; a live run's calibration measures it too,
from `live_cpu_pct_relay_per_camera`).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sizes import SMOKE, sizes  # noqa: E402

VENDOR_STREAMS, VENDOR_MBPS = 250, 1200.0
SEGMENT_S = 6.0
GAP_S = 0.05


def _cpu_s(proc: psutil.Process | None) -> float:
    """A process's CPU seconds so far (user + system; 0 if it is gone)."""
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


def _pin(core: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[core % len(cores)]})


def _publish(clip: str, urls: list[str], seconds: float, ready: Any, done: Any, core: int) -> None:
    """Publish until the recorder is done (`done` set), at most `seconds`."""
    from synthetic_streams.publish import RtspPublisher

    _pin(core)
    pubs = [RtspPublisher(Path(clip), u).start() for u in urls]
    ready.set()
    done.wait(seconds)
    for p in pubs:
        p.stop()


def _record(urls: dict[str, str], root: str, seconds: float, core: int, q: Any) -> None:
    from twin.live.recorder import Recorder, cpu_seconds

    _pin(core)
    epoch = time.time()
    rec = Recorder(
        "bench-r01", Path(root) / "segments", Path(root) / "catalog.sqlite", epoch, SEGMENT_S, 15
    )
    cpu0 = cpu_seconds()
    t0 = time.time()
    rec.record(urls)
    time.sleep(seconds)
    cpu = cpu_seconds() - cpu0
    wall = time.time() - t0
    st = rec.stop()
    q.put(
        {
            "cpu_s": cpu,
            "wall_s": wall,
            "streams": [
                (s.camera, s.connects, s.failures, s.discontinuities, s.segments, s.bytes)
                for s in st.streams
            ],
        }
    )


def run_step(n: int, seconds: float, out: Path, mbps: float = 1.0) -> dict[str, Any]:
    from synthetic_streams.mediamtx import MediaMTXServer
    from twin.live.clips import prepare_clips
    from twin.scenario.live import LiveProfile
    from twin.storage.live_catalog import LiveStore

    (clip,) = prepare_clips(
        LiveProfile(width=1280, height=720, fps=15, bitrate_mbps=mbps, scenes=1, clip_s=20.0),
        seed=7,
    )
    cams = [f"cam{i:04d}" for i in range(n)]
    folder = out / f"step-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    load0 = os.getloadavg()[0]
    with MediaMTXServer(cams, log_level="error") as server:
        ready, done = ctx.Event(), ctx.Event()
        pub = ctx.Process(
            target=_publish,
            args=(
                str(clip.path),
                [server.rtsp_url(c, "publisher") for c in cams],
                seconds + 120,
                ready,
                done,
                1,
            ),
        )
        pub.start()
        ready.wait(60)
        deadline = time.monotonic() + 60
        while {p.name for p in server.paths() if p.ready} < set(cams):
            if time.monotonic() > deadline:
                raise RuntimeError("cameras were not published within 60 s")
            time.sleep(0.2)
        q = ctx.Queue()
        relay = psutil.Process(server.pid) if server.pid else None
        relay0 = _cpu_s(relay)
        t_relay = time.monotonic()
        rec = ctx.Process(
            target=_record,
            args=({c: server.rtsp_url(c, "recorder") for c in cams}, str(folder), seconds, 0, q),
        )
        rec.start()
        try:
            got = q.get(timeout=seconds + 120)
        finally:
            done.set()  # the recorder has stopped: the publishers stop now, not 8 s later
        relay_pct = 100 * (_cpu_s(relay) - relay0) / (time.monotonic() - t_relay)
        rec.join(60)
        pub.join(60)
    store = LiveStore(folder / "catalog.sqlite")
    try:
        rows = store.rows()
    finally:
        store.close()
    by: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        by.setdefault(r.camera, []).append((r.start_s, r.end_s))
    gaps = sum(
        1
        for spans in by.values()
        for (a, b), (c, d) in zip(sorted(spans), sorted(spans)[1:])
        if c - b > GAP_S
    )
    streams = got["streams"]
    lost = [s[0] for s in streams if s[1] != 1 or s[2] or s[3]]
    total_bytes = sum(s[5] for s in streams)
    mbps_in = total_bytes * 8 / 1e6 / got["wall_s"]
    cpu_pct = 100 * got["cpu_s"] / got["wall_s"]
    ok = not lost and not gaps and len(by) == n and len(streams) == n
    return {
        "streams": n,
        "passed": ok,
        "cpu_pct": cpu_pct,
        "mbps": mbps_in,
        "cpu_pct_per_stream": cpu_pct / n,
        "cpu_pct_per_mbps": cpu_pct / mbps_in,
        "relay_cpu_pct": relay_pct,
        "relay_cpu_pct_per_stream": relay_pct / n,
        "lost": lost[:5],
        "gaps": gaps,
        "segments": len(rows),
        "load": (round(load0, 2), round(os.getloadavg()[0], 2)),
    }


def capacity(steps: list[int], seconds: float, out: Path) -> tuple[dict[str, Any] | None, list]:
    done: list[dict[str, Any]] = []
    best = None
    for n in steps:
        r = run_step(n, seconds, out)
        print(
            f"{n:4d} streams  {'PASS' if r['passed'] else 'FAIL'}  recorder CPU "
            f"{r['cpu_pct']:.1f} % of its core ({r['cpu_pct_per_stream']:.3f} % per stream, "
            f"{r['cpu_pct_per_mbps']:.3f} % per Mbps), {r['mbps']:.1f} Mbps in, "
            f"{r['segments']} segments, gaps {r['gaps']}, streams with loss {r['lost']}; "
            f"relay (MediaMTX) CPU {r['relay_cpu_pct']:.1f} % of a core "
            f"({r['relay_cpu_pct_per_stream']:.3f} % per stream in and out), "
            f"load {r['load'][0]} -> {r['load'][1]}",
            flush=True,
        )
        done.append(r)
        if not r["passed"]:
            break
        best = r
    return best, done


def summary(best: dict[str, Any] | None, steps: list[dict[str, Any]]) -> dict[str, float]:
    if best is None:
        print("no step passed")
        return {}
    base = steps[0]
    per_stream = best["cpu_pct_per_stream"]
    ext_streams = 100 / per_stream
    ext_mbps = 100 / best["cpu_pct_per_mbps"]
    if best is not steps[-1]:
        limited = f"a loss at {steps[-1]['streams']} streams"
    elif best["cpu_pct"] >= 90:
        limited = "the recorder's core, full"
    else:
        limited = "its last step; give more --streams to go further"
    print(
        f"\nsustained by one recorder process on one core, zero packets lost: "
        f"{best['streams']} streams, {best['mbps']:.1f} Mbps, at {best['cpu_pct']:.1f} % of "
        f"the core (the ladder stopped at {limited})"
    )
    print(
        f"extrapolated to 100 % of the core: ~{ext_streams:.0f} streams, ~{ext_mbps:.0f} Mbps "
        f"(CPU per stream x{per_stream / base['cpu_pct_per_stream']:.2f} from "
        f"{base['streams']} to {best['streams']} streams)"
    )
    relay = best["relay_cpu_pct_per_stream"]
    print(
        f"one relay (MediaMTX, each stream in once and out once): "
        f"{relay:.3f} % of a core per stream, ~{100 / relay:.0f} streams and "
        f"~{100 / relay * best['mbps'] / best['streams']:.0f} Mbps per core (extrapolated)"
    )
    print(
        f"vendor figures per recorder: {VENDOR_STREAMS} streams / {VENDOR_MBPS:,.0f} Mbps; "
        f"measured/vendor: streams x{ext_streams / VENDOR_STREAMS:.2f}, "
        f"Mbps x{ext_mbps / VENDOR_MBPS:.2f} (one core of this machine, 1 Mbps streams)"
    )
    return {
        "streams_sustained": best["streams"],
        "mbps_sustained": best["mbps"],
        "streams_per_core": ext_streams,
        "mbps_per_core": ext_mbps,
        "relay_streams_per_core": 100 / relay,
    }


#: (streams at each step, seconds each) per size; the smoke size is the ladder's code path
STEPS = {"small": ([10, 30], 20.0), SMOKE: ([2, 4], 6.0)}


@pytest.mark.live
@pytest.mark.parametrize("size", sizes("small"))
def test_recorder_capacity(benchmark: Any, size: str, tmp_path: Path) -> None:
    result: dict[str, Any] = {}
    steps, seconds = STEPS[size]

    def run() -> None:
        result["best"], result["steps"] = capacity(steps, seconds, tmp_path)

    benchmark.pedantic(run, rounds=1, iterations=1)
    figures = summary(result["best"], result["steps"])
    benchmark.extra_info.update({**figures, "steps": result["steps"]})
    assert result["best"] is not None and result["best"]["streams"] == steps[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, nargs="+", default=[20, 60, 100, 140])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--out", type=Path, help="where the steps go (default: a temporary folder)")
    p.add_argument("--smoke", action="store_true", help="2 and 4 streams, 6 s (the code path)")
    args = p.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-recorder-"))
    streams, seconds = STEPS[SMOKE] if args.smoke else (args.streams, args.seconds)
    best, steps = capacity(streams, seconds, out)
    summary(best, steps)
    return 0 if best is not None else 1


if __name__ == "__main__":
    sys.exit(main())
