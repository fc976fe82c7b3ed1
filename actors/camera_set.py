"""A camera set (a lamp post with 2-3 cameras): one RTSP publisher per camera."""

from __future__ import annotations

import os
import time
from pathlib import Path

import ray

from synthetic_streams.publish import PublisherStats, RtspPublisher
from twin.live.recorder import cpu_seconds

__all__ = ["CameraSetActor"]


@ray.remote(num_cpus=0, max_restarts=0)
class CameraSetActor:
    """Publishes each camera's pre-encoded clip to MediaMTX in real time (stream copy)."""

    def __init__(self, set_name: str, cameras: list[tuple[str, str, str]]) -> None:
        """`cameras`: (camera name, clip path, publisher RTSP URL) for each camera of the set."""
        self.set_name = set_name
        self._pubs = {cam: RtspPublisher(Path(clip), url, backoff_initial_s=0.1,
                                         backoff_max_s=1.0, name=cam)
                      for cam, clip, url in cameras}

    def pid(self) -> int:
        return os.getpid()

    def start(self) -> dict[str, float]:
        """Start publishing; returns each camera's clip origin on the wall clock (time.time()).

        The publisher puts clip time `t` of loop `n` on the air at origin + n * D + t, so the
        ground truth of any frame has a wall-clock time.
        """
        origins = {}
        for cam, pub in self._pubs.items():
            before = time.time()
            pub.start()
            origins[cam] = before
        return origins

    def stats(self) -> tuple[dict[str, PublisherStats], float]:
        return {c: p.stats() for c, p in self._pubs.items()}, cpu_seconds()

    def stop(self) -> tuple[dict[str, PublisherStats], float]:
        for p in self._pubs.values():
            p.stop()
        return self.stats()
