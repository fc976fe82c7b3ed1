"""A recorder (an NVR): records the cameras it is given into segment files and the catalog."""

from __future__ import annotations

import os
from pathlib import Path

import ray

from twin.live.recorder import Recorder, RecorderStatus

__all__ = ["RecorderActor"]


@ray.remote(num_cpus=0, max_restarts=0)
class RecorderActor:
    """Thin shell around :class:`twin.live.recorder.Recorder`."""

    def __init__(self, name: str, root: str, store_path: str, epoch: float, segment_s: float,
                 fps: int, container: str, reconnect_max_s: float) -> None:
        self._rec = Recorder(name, Path(root), Path(store_path), epoch, segment_s, fps,
                             container, reconnect_max_s)

    def pid(self) -> int:
        return os.getpid()

    def record(self, cameras: dict[str, str]) -> list[str]:
        return self._rec.record(cameras)

    def release(self, cameras: list[str]) -> None:
        self._rec.release(cameras)

    def heartbeat(self) -> RecorderStatus:
        return self._rec.status()

    def stop(self) -> RecorderStatus:
        return self._rec.stop()
