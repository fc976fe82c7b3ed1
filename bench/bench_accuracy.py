"""How many scored frames a run needs before its person precision and recall are stable.

Run: .venv/bin/python bench/bench_accuracy.py   (or: .venv/bin/pytest bench/bench_accuracy.py
     --benchmark-only -s)

The live analyser's own chain (twin.live.analytics.CameraAnalytics) and scoring
(twin.live.analyser.score_frame) on the live profile's clips (1280x720, 15 fps, ~1 Mbps, a
keyframe a second, 3 scenes), keyframes decoded and scaled to 640 px as live: each scene is
analysed for `--loops` loops from each of its keyframes as the first one (a camera starting
at another point of the clip), and every scored frame's counts are kept. A run of N scored
frames is then drawn again and again (`--runs` times): cameras of random scene and start,
their frames in order, N in all; its precision and recall are the figure a live run of that
many frames would report. Printed per N: the mean, the standard deviation and the 5-95 %
range over the runs, and the smallest N whose standard deviation is under 0.02 (so a target
of 0.9 is not passed or failed by chance). The smoke size is one loop from 3 keyframes of
the first scene only, 20 runs per size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sizes import SMOKE, sizes  # noqa: E402
from twin.live.analyser import CameraScore, score_frame  # noqa: E402
from twin.live.analytics import CameraAnalytics  # noqa: E402
from twin.live.clips import prepare_clips  # noqa: E402
from twin.live.frame_cost import _keyframes  # noqa: E402
from twin.scenario.live import LiveProfile  # noqa: E402

SIZES = (50, 100, 300, 1000, 3000, 10_000)


def streams(
    loops: int,
    width: int = 640,
    seed: int = 2024,
    starts: int | None = None,
    scenes: int | None = None,
) -> list[np.ndarray]:
    """Per (scene, first keyframe): an array (frames, 4) of person tp, detections, truths
    and vehicle-free frames scored, one row per scored frame (from the first `starts`
    keyframes of each scene only, when given; of the profile's first `scenes` scenes, when
    given)."""
    profile = LiveProfile() if scenes is None else LiveProfile(scenes=scenes)
    out: list[np.ndarray] = []
    for clip in prepare_clips(profile, seed):
        truth = clip.truth()
        frames, _ = _keyframes(Path(clip.path), width)
        gop = profile.gop_frames
        h, w = frames[0].shape[:2]
        scale = width / truth.config.width
        min_area = w * h * 0.0015
        for first in range(len(frames) if starts is None else min(starts, len(frames))):
            ca = CameraAnalytics(w, h)
            rows: list[tuple[int, int, int]] = []
            for n in range(loops * len(frames)):
                i = (first + n) % len(frames)
                dets, _ = ca.process(frames[i], float(n))
                if not ca.warm:
                    continue
                s = CameraScore("x")
                score_frame(s, dets, truth, (i * gop) % len(truth.frames), gop, scale, min_area)
                rows.append((s.tp["person"], s.detections["person"], s.truths["person"]))
            out.append(np.array(rows, dtype=np.int64))
    return out


def spread(
    data: list[np.ndarray], n: int, runs: int, frames_per_camera: int, rng: np.random.Generator
) -> dict[str, Any]:
    prec, rec = [], []
    for _ in range(runs):
        tot = np.zeros(3, dtype=np.int64)
        left = n
        while left > 0:
            s = data[int(rng.integers(len(data)))]
            k = min(left, frames_per_camera, len(s))
            start = int(rng.integers(0, len(s) - k + 1))
            tot += s[start : start + k].sum(axis=0)
            left -= k
        if tot[1]:
            prec.append(tot[0] / tot[1])
        if tot[2]:
            rec.append(tot[0] / tot[2])
    p, r = np.array(prec), np.array(rec)
    return {
        "n": n,
        "precision": (p.mean(), p.std(), *np.percentile(p, [5, 95])),
        "recall": (r.mean(), r.std(), *np.percentile(r, [5, 95])),
    }


def report(
    loops: int,
    runs: int,
    frames_per_camera: int,
    starts: int | None = None,
    scenes: int | None = None,
) -> list[dict[str, Any]]:
    t = time.time()
    data = streams(loops, starts=starts, scenes=scenes)
    scored = sum(len(s) for s in data)
    print(
        f"{len(data)} camera streams, {scored:,} frames scored once "
        f"({time.time() - t:.0f} s); {runs} runs per size, cameras of "
        f"{frames_per_camera} frames",
        flush=True,
    )
    rng = np.random.default_rng(16)
    rows = [spread(data, n, runs, frames_per_camera, rng) for n in SIZES]
    for r in rows:
        p, q = r["precision"], r["recall"]
        print(
            f"  {r['n']:6,d} frames: person precision {p[0]:.3f} sd {p[1]:.3f} "
            f"(5-95 % {p[2]:.3f}-{p[3]:.3f}); recall {q[0]:.3f} sd {q[1]:.3f} "
            f"(5-95 % {q[2]:.3f}-{q[3]:.3f})"
        )
    ok = [r["n"] for r in rows if r["precision"][1] < 0.02 and r["recall"][1] < 0.02]
    print(
        f"  stable (sd < 0.02 for both): from {ok[0]:,} frames"
        if ok
        else "  not stable at any size tried"
    )
    return rows


@pytest.mark.parametrize("size", sizes("large"))
def test_accuracy_stability(benchmark: Any, size: str) -> None:
    rows: list[dict[str, Any]] = []
    # The smoke size encodes one scene, not three: on a fresh clone (no clip cache) each
    # 1280x720 scene costs ~8 s of encoding, most of the smoke's time.
    loops, runs, starts, scenes = (1, 20, 3, 1) if size == SMOKE else (4, 200, None, None)
    benchmark.pedantic(
        lambda: rows.extend(report(loops, runs, 150, starts, scenes)), rounds=1, iterations=1
    )
    assert rows[-1]["precision"][1] < rows[0]["precision"][1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loops", type=int, default=4, help="clip loops analysed per stream")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument(
        "--frames-per-camera",
        type=int,
        default=150,
        help="frames a camera contributes to a run (150: 2.5 min at 1 fps)",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="1 loop from 3 keyframes of the first scene, 20 runs: seconds",
    )
    a = p.parse_args(argv)
    if a.smoke:
        report(1, 20, a.frames_per_camera, starts=3, scenes=1)
    else:
        report(a.loops, a.runs, a.frames_per_camera)
    return 0


if __name__ == "__main__":
    sys.exit(main())
