"""A recorder (an NVR): records the cameras it is given into segment files and the catalog."""

from __future__ import annotations

import os

import ray

from twin.live.cluster import node_folder
from twin.live.recorder import Recorder, RecorderStatus, Recovered, recover_partials

__all__ = ["RecorderActor"]


@ray.remote(num_cpus=0, max_restarts=0)
class RecorderActor:
    """Thin shell around :class:`twin.live.recorder.Recorder`.

    A recorder started again after its process died first recovers what its predecessor left
    in its folder (`.part` files that play up to their last fragment) into the catalog.
    """

    def __init__(
        self,
        name: str,
        storage: tuple[str, str, str],
        epoch: float,
        segment_s: float,
        fps: int,
        container: str,
        reconnect_max_s: float,
    ) -> None:
        """`storage`: (run key, the driver's run folder, the driver's node id): the folder is
        this node's own (twin.live.cluster.node_folder), found here, never told by the driver."""
        folder = node_folder(*storage)
        root = folder / "segments" / name
        self._rec = Recorder(
            name, root, folder / "catalog.sqlite", epoch, segment_s, fps, container, reconnect_max_s
        )
        self._recovered = recover_partials(root, self._rec.store, name)

    def pid(self) -> int:
        return os.getpid()

    def where(self) -> tuple[int, str]:
        """(PID, Ray node id) of the process this actor runs in: what a crash drill kills."""
        return os.getpid(), ray.get_runtime_context().get_node_id()

    def recovered(self) -> Recovered:
        return self._recovered

    def record(self, cameras: dict[str, str]) -> list[str]:
        return self._rec.record(cameras)

    def release(self, cameras: list[str]) -> None:
        self._rec.release(cameras)

    def heartbeat(self) -> RecorderStatus:
        return self._rec.status()

    def stop(self) -> RecorderStatus:
        return self._rec.stop()
