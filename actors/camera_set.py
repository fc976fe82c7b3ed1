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
    """Publishes each camera's pre-encoded clip to MediaMTX in real time (stream copy).

    The supervisor restarts a dead one as a new actor with the same cameras and their
    original clip origins, so the cameras carry on the same time line (and ground truth).
    """

    def __init__(
        self,
        set_name: str,
        cameras: list[tuple[str, str, str]],
        origins_wall: dict[str, float] | None = None,
    ) -> None:
        """`cameras`: (camera name, clip path, publisher RTSP URL) for each camera of the set."""
        self.set_name = set_name
        self._origins = dict(origins_wall or {})
        self._pubs = {
            cam: RtspPublisher(
                Path(clip),
                url,
                backoff_initial_s=0.1,
                backoff_max_s=1.0,
                name=cam,
                origin_wall=self._origins.get(cam),
            )
            for cam, clip, url in cameras
        }
        self._off: set[str] = set()

    def pid(self) -> int:
        return os.getpid()

    def where(self) -> tuple[int, str]:
        """(PID, Ray node id) of the process this actor runs in: what a crash drill kills."""
        return os.getpid(), ray.get_runtime_context().get_node_id()

    def start(self) -> dict[str, float]:
        """Start publishing; returns each camera's clip origin on the wall clock (time.time()).

        The publisher puts clip time `t` of loop `n` on the air at origin + n * D + t, so the
        ground truth of any frame has a wall-clock time.
        """
        for cam, pub in self._pubs.items():
            before = time.time()
            pub.start()
            self._origins.setdefault(cam, before)
        return dict(self._origins)

    def power(self, cameras: list[str], on: bool) -> list[str]:
        """Cut or restore these cameras' power (a set's power fault); returns those now off."""
        for cam in cameras:
            if on and cam in self._off:
                self._off.discard(cam)
                self._pubs[cam].start()
            elif not on and cam not in self._off:
                self._off.add(cam)
                self._pubs[cam].stop()
        return sorted(self._off)

    def stats(self) -> tuple[dict[str, PublisherStats], float]:
        return {c: p.stats() for c, p in self._pubs.items()}, cpu_seconds()

    def stop(self) -> tuple[dict[str, PublisherStats], float]:
        for p in self._pubs.values():
            p.stop()
        return self.stats()
