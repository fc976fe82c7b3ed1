"""A district relay: the MediaMTX of one node, started and supervised on that node."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
import ray

from synthetic_streams.errors import MediaServerError
from synthetic_streams.mediamtx import MediaMTXServer
from synthetic_streams.mediamtx_config import Credentials, Endpoints
from twin.live.parts import RelayWatch, path_bytes
from twin.live.recorder import cpu_seconds

__all__ = ["RelayActor"]


@ray.remote(num_cpus=0, max_restarts=0)
class RelayActor:
    """Thin shell around a :class:`synthetic_streams.mediamtx.MediaMTXServer` and its
    :class:`twin.live.parts.RelayWatch`, on the node whose cameras publish to it.

    MediaMTX is started (and started again) by the watch's own long-lived thread: it dies with
    the thread that started it (`PR_SET_PDEATHSIG`), so the server never outlives this actor's
    process, `kill -9` included. RTSP listens on `host` (this node's address); the Control API
    and metrics on loopback, probed from here. A relay started again after its actor died is
    given the same ports and logins, so publishers and recorders reconnect to the same URLs.
    """

    def __init__(
        self,
        cameras: list[str],
        credentials: Credentials,
        host: str,
        endpoints: Endpoints | None,
        interval_s: float,
        hung_after_s: float,
        log_level: str,
        start_timeout_s: float,
    ) -> None:
        self._server = MediaMTXServer(
            cameras, credentials=credentials, host=host, endpoints=endpoints, log_level=log_level
        )
        self._pids: list[int] = []
        self._watch = RelayWatch(
            self._server, interval_s, hung_after_s, self._pids.append, start=True
        )
        deadline = time.monotonic() + start_timeout_s
        while self._watch.state() == "restarting" and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._server.pid is None:
            raise MediaServerError(
                f"MediaMTX did not start on {host} within {start_timeout_s} s; expected it to "
                f"run on this node: check `make mediamtx` was run here (or "
                f"CCTV_TWIN_MEDIAMTX_BIN), and its log:\n{self._server.log_tail()}"
            )

    def where(self) -> tuple[int, str]:
        """(PID, Ray node id) of this actor's process (MediaMTX's PID: `state`)."""
        return os.getpid(), ray.get_runtime_context().get_node_id()

    def endpoints(self) -> Endpoints:
        return self._server.endpoints

    def state(self) -> tuple[str, int | None, list[int], int]:
        """("up" | "dead" | "hung" | "restarting", MediaMTX's PID now, every PID it had, this
        actor's PID)."""
        return self._watch.state(), self._server.pid, list(self._pids), os.getpid()

    def run_dir(self) -> str:
        """MediaMTX's folder on this node (its log; gone once the relay stops)."""
        p = self._server.log_path
        return str(p.parent) if p else ""

    def restart(self) -> None:
        self._watch.restart()

    def ready_paths(self) -> list[str]:
        return [p.name for p in self._server.paths() if p.ready]

    def path_bytes(self) -> dict[str, float]:
        """Bytes MediaMTX received per camera path (its own metrics; {} while it is down)."""
        try:
            return path_bytes(self._server.metrics())
        except Exception:  # noqa: BLE001 - dead or restarting: no witness now
            return {}

    def log_tail(self) -> str:
        return self._server.log_tail()

    def cpu_s(self) -> dict[str, Any]:
        """CPU seconds of MediaMTX (user + system) and of this actor's process."""
        relay = 0.0
        if self._server.pid:
            try:
                t = psutil.Process(self._server.pid).cpu_times()
                relay = t.user + t.system
            except psutil.Error:
                pass
        return {"relay": relay, "actor": cpu_seconds()}

    def stop(self) -> None:
        self._watch.close()
        self._server.close()
