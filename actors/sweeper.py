"""The retention sweeper: the core's sweep on the live catalog, files deleted for real and
audited on the run's desk trail."""

from __future__ import annotations

import os
from pathlib import Path

import ray

from twin.live.cluster import node_folder
from twin.live.recorder import cpu_seconds
from twin.live.sweeper import Sweeper, SweepReport

__all__ = ["SweeperActor"]


@ray.remote(num_cpus=0, max_restarts=0)
class SweeperActor:
    """Thin shell around :class:`twin.live.sweeper.Sweeper`; the driver calls `sweep(now)`
    through twin.live.parts.RayParts.sweep_start, and the Sweeper does the rest (its module
    docstring follows one deletion from here to the desk trail)."""

    def __init__(
        self,
        storage: tuple[str, str, str],
        camera_names: list[str],
        recorder_names: list[str],
        retention_s: float,
        batch_segments: int,
        desk_dir: str,
    ) -> None:
        # storage: (run key, the driver's run folder, the driver's node id): this node's own
        # folder (twin.live.cluster.node_folder). desk_dir: the run's evidence/ folder, whose
        # trail gets one DELETION entry per sweep that deletes, when this node's folder is the
        # run folder; another node keeps the trail of its own deletions in its folder. Holds
        # come from the store, so a restarted actor keeps them.
        folder = node_folder(*storage)
        desk = Path(desk_dir) if folder == Path(storage[1]) else folder / "evidence"
        self._sweeper = Sweeper(
            folder / "catalog.sqlite",
            folder / "segments",
            camera_names,
            recorder_names,
            retention_s,
            batch_segments,
            desk_dir=desk,
        )

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
