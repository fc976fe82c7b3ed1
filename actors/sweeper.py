"""The retention sweeper: the core's sweep on the live catalog, files deleted for real and
audited on the run's desk trail."""

from __future__ import annotations

import os
from pathlib import Path

import ray

from twin.live.recorder import cpu_seconds
from twin.live.sweeper import Sweeper, SweepReport

__all__ = ["SweeperActor"]


@ray.remote(num_cpus=0, max_restarts=0)
class SweeperActor:
    """Thin shell around :class:`twin.live.sweeper.Sweeper`; the driver calls `sweep(now)`."""

    def __init__(self, store_path: str, root: str, camera_names: list[str],
                 recorder_names: list[str], retention_s: float, batch_segments: int,
                 desk_dir: str) -> None:
        # desk_dir: the run's evidence/ folder, whose trail gets one DELETION entry per sweep
        # that deletes; holds come from the store, so a restarted actor keeps them.
        self._sweeper = Sweeper(Path(store_path), Path(root), camera_names, recorder_names,
                                retention_s, batch_segments, desk_dir=Path(desk_dir))

    def pid(self) -> int:
        return os.getpid()

    def where(self) -> tuple[int, str]:
        """(PID, Ray node id) of the process this actor runs in: what a crash drill kills."""
        return os.getpid(), ray.get_runtime_context().get_node_id()

    def sweep(self, now_s: float) -> SweepReport:
        return self._sweeper.sweep(now_s)

    def hold(self, hold_id: str, camera: str, start_s: float, end_s: float, now_s: float) -> int:
        return self._sweeper.hold(hold_id, camera, start_s, end_s, now_s)

    def release(self, hold_id: str, now_s: float) -> None:
        self._sweeper.release(hold_id, now_s)

    def cpu_s(self) -> float:
        return cpu_seconds()

    def close(self) -> None:
        self._sweeper.close()
