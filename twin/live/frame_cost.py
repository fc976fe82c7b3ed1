"""What one analysed frame costs on this machine: the figure analyser admission rests on.

Each analyser actor measures it when it starts (`frame_cost`), on the run's own clips: their
keyframes are decoded as the live analyser decodes them (keyframes only, deblocking skipped,
scaled to `width`) and analysed by a fresh `CameraAnalytics`, timed in CPU seconds of the
measuring thread (`time.thread_time`), so other load on the machine does not inflate it
beyond what sharing the cores costs. The same figures, split into decoding, motion only and
the whole chain, are what the simulation's workloads are calibrated from
(bench/bench_analytics.py prints them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from twin.live.analytics import CameraAnalytics

__all__ = ["FrameCost", "frame_cost"]


@dataclass(frozen=True, slots=True)
class FrameCost:
    """CPU milliseconds of one core per analysed frame, and over how many frames."""

    decode_ms: float  # decode one keyframe and scale it
    motion_ms: float  # background model and blobs, no HOG
    full_ms: float  # motion, people (HOG), vehicles and incidents
    frames: int

    @property
    def total_ms(self) -> float:
        """What the live analyser spends per frame: decoding plus the whole chain."""
        return self.decode_ms + self.full_ms


def _keyframes(path: Path, width: int) -> tuple[list[np.ndarray], float]:
    frames: list[np.ndarray] = []
    spent = 0.0
    with av.open(str(path)) as f:
        st = f.streams.video[0]
        st.codec_context.thread_count = 1
        st.codec_context.options = {"skip_loop_filter": "all"}
        height = int(round(st.codec_context.height * width / st.codec_context.width / 2) * 2)
        for pkt in f.demux(st):
            if not pkt.size or not pkt.is_keyframe:
                continue
            t = time.thread_time()
            for fr in pkt.decode():
                frames.append(
                    fr.to_ndarray(
                        width=width, height=height, format="bgr24", interpolation="FAST_BILINEAR"
                    )
                )
            spent += time.thread_time() - t
    return frames, spent


def frame_cost(clip_paths: list[Path], width: int, loops: int = 2) -> FrameCost:
    """Measure on the clips' keyframes, each clip analysed `loops` times over."""
    dec_s = mot_s = full_s = 0.0
    n = 0
    for p in clip_paths:
        frames, spent = _keyframes(Path(p), width)
        if not frames:
            continue
        dec_s += spent
        h, w = frames[0].shape[:2]
        for use_hog, acc in ((False, "motion"), (True, "full")):
            ca = CameraAnalytics(w, h, use_hog=use_hog)
            t = time.thread_time()
            for k in range(loops):
                for i, img in enumerate(frames):
                    ca.process(img, (k * len(frames) + i) * 1.0)
            dt = time.thread_time() - t
            if acc == "motion":
                mot_s += dt
            else:
                full_s += dt
        n += len(frames)
    if n == 0:
        raise ValueError(f"no keyframes in clips {clip_paths}; expected H.264 clips with keyframes")
    return FrameCost(
        decode_ms=1000 * dec_s / n,
        motion_ms=1000 * mot_s / (n * loops),
        full_ms=1000 * full_s / (n * loops),
        frames=n * loops,
    )
