"""The analyser: keyframe decoding, motion, people/vehicles and incidents, scored against truth."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ray

from twin.live.analyser import Analyser
from twin.live.frame_cost import frame_cost
from twin.live.recorder import cpu_seconds

__all__ = ["AnalyserActor"]


@ray.remote(num_cpus=0, max_restarts=0)
class AnalyserActor:
    """Thin shell around :class:`twin.live.analyser.Analyser`."""

    def __init__(
        self,
        urls: dict[str, str],
        scene_of: dict[str, int],
        truth_paths: list[str],
        epoch: float,
        gop_frames: int,
        width: int,
        min_interval_s: float,
    ) -> None:
        self._an = Analyser(urls, scene_of, truth_paths, epoch, gop_frames, width, min_interval_s)

    def pid(self) -> int:
        return os.getpid()

    def where(self) -> tuple[int, str]:
        """(PID, Ray node id) of the process this actor runs in: what a crash drill kills."""
        return os.getpid(), ray.get_runtime_context().get_node_id()

    def frame_cost(self, clip_paths: list[str], width: int) -> float:
        """CPU ms of one core this process spends on a frame (twin.live.frame_cost), measured
        on the run's clips: what the pool admits cameras by."""
        return frame_cost([Path(p) for p in clip_paths], width).total_ms

    def start(self, origins_wall: dict[str, float], cameras: list[str] | None = None) -> None:
        """Analyse `cameras` (None: every camera this actor was given)."""
        self._an.start(origins_wall, cameras)

    def cpu_s(self) -> float:
        return cpu_seconds()

    def snapshot(self) -> dict[str, Any]:
        """The scores so far (the driver keeps the last one, in case this process dies)."""
        return {"cameras": self._an.snapshot(), "cpu_s": cpu_seconds()}

    def stop(self) -> dict[str, Any]:
        return {"cameras": self._an.stop(), "cpu_s": cpu_seconds()}
