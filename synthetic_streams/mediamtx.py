"""The MediaMTX server as a real part of the twin: process, Control API and metrics.

Theory of operation. :class:`MediaMTXServer` either *launches* the real binary (built by
``make mediamtx``) on loopback with a configuration from :mod:`.mediamtx_config`, or *attaches*
to a server the user already runs (``MediaMTXServer.external``), in which case it never starts
or stops anything. Either way the server is "up" only once its Control API answers an
authenticated request. Ports are chosen free on the first start and kept across
:meth:`~MediaMTXServer.restart`, so publishers and readers reconnect to the same URLs during a
failover drill. A child process is never left behind: :meth:`~MediaMTXServer.stop` terminates
it by PID (kill after a grace period), and a finalizer does the same if the object is dropped.

The configuration holds password hashes only (:mod:`.mediamtx_config`), in a 0600 file in a
0700 folder, and the file is deleted as soon as the server is up (MediaMTX has read it and
does not reload on a removal), so no exit of the driver, SIGTERM or ``kill -9`` included,
leaves a configuration behind. The folder (its log and an ``owner.pid``) is removed by
:meth:`~MediaMTXServer.close`; one left by a driver that was killed is removed by the next
start once its owner's PID is gone.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx
from prometheus_client.parser import text_string_to_metric_families

from synthetic_streams.errors import MediaServerError

from .install import mediamtx_binary
from .mediamtx_config import (
    Credentials,
    Endpoints,
    build_config,
    free_ports,
    make_credentials,
    render_config,
)

__all__ = ["PathState", "MediaMTXServer", "clean_stale_run_dirs"]

_PORT_RETRIES = 3
_RUN_DIR_PREFIX = "cctv-twin-mediamtx-"
_OWNER = "owner.pid"
# MediaMTX answers a failed login only after a 2 s pause, so HTTP calls wait longer than that.
_HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class PathState:
    """One path as the Control API reports it."""

    name: str
    ready: bool
    tracks: tuple[str, ...]
    bytes_received: int
    bytes_sent: int
    readers: int
    source_type: str | None


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the process that started it dies (Linux), so
    a driver killed with `kill -9` leaves no server behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_run_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the server folders that killed drivers left behind: those with an ``owner.pid``
    whose process is gone (a folder without one is not ours to judge). Returns them."""
    parent = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    for d in sorted(parent.glob(_RUN_DIR_PREFIX + "*")):
        try:
            pid = int((d / _OWNER).read_text().strip())
        except (OSError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _terminate(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace_s)


class MediaMTXServer:
    """A MediaMTX server for a list of camera paths; use as a context manager.

    ``MediaMTXServer(["cam1", "cam2"])`` launches the binary (``$CCTV_TWIN_MEDIAMTX_BIN`` or
    the one ``make mediamtx`` built) with fresh per-run credentials, on free loopback ports.
    """

    def __init__(
        self,
        camera_paths: Sequence[str],
        *,
        binary: Path | None = None,
        run_dir: Path | None = None,
        start_timeout_s: float = 15.0,
        log_level: str = "info",
        credentials: Credentials | None = None,
        host: str = "127.0.0.1",
        endpoints: Endpoints | None = None,
    ) -> None:
        """``credentials``: logins made elsewhere (a relay started again keeps them);
        ``host``: the address RTSP listens on (the node's; the API stays on loopback);
        ``endpoints``: ports to keep from an earlier server (else free ones are chosen)."""
        self._credentials = credentials or make_credentials(list(camera_paths))
        self._binary = binary
        self._run_dir = run_dir
        self._own_run_dir = False
        self._start_timeout_s = start_timeout_s
        self._log_level = log_level
        self._host = host
        self._endpoints: Endpoints | None = endpoints
        self._managed = True
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize[..., MediaMTXServer] | None = None

    @classmethod
    def external(
        cls, endpoints: Endpoints, credentials: Credentials, *, start_timeout_s: float = 15.0
    ) -> MediaMTXServer:
        """Attach to a MediaMTX the user runs (e.g. the official container); start nothing.

        ``credentials`` must match that server's configuration (see ``render_config``).
        """
        self = cls.__new__(cls)
        self._credentials = credentials
        self._binary = None
        self._run_dir = None
        self._own_run_dir = False
        self._start_timeout_s = start_timeout_s
        self._log_level = "info"
        self._host = endpoints.host
        self._endpoints = endpoints
        self._managed = False
        self._proc = None
        self._log = None
        self._finalizer = None
        return self

    # -- properties -------------------------------------------------------------------------
    @property
    def credentials(self) -> Credentials:
        """All logins of this run (passwords are hidden from repr)."""
        return self._credentials

    @property
    def endpoints(self) -> Endpoints:
        """Host and ports; MediaServerError before the first start of a launched server."""
        if self._endpoints is None:
            raise MediaServerError(
                "the server has no ports yet; expected start() to be called first"
            )
        return self._endpoints

    @property
    def managed(self) -> bool:
        """True when this object launched the process (False for an external server)."""
        return self._managed

    @property
    def pid(self) -> int | None:
        """PID of the running child process, or None (not started, stopped, or external)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def log_path(self) -> Path | None:
        """The server's log file (None for an external server or before the first start)."""
        return self._run_dir / "mediamtx.log" if self._managed and self._run_dir else None

    def rtsp_url(self, path: str, role: str = "recorder") -> str:
        """RTSP URL of ``path`` with the credentials of ``role``.

        ``role`` is ``"publisher"`` (the path's own publisher), ``"recorder"``, ``"analyser"``
        or ``"none"`` (no credentials).
        """
        c = self._credentials
        logins = {"publisher": None, "recorder": c.recorder, "analyser": c.analyser, "none": None}
        if role not in logins:
            raise MediaServerError(f"role {role!r} is unknown; expected one of {sorted(logins)}")
        login = c.publisher(path) if role == "publisher" else logins[role]
        return self.endpoints.rtsp_url(path, login)

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Launch the process (or check an external server) and wait until its API answers."""
        if not self._managed:
            self._wait_ready(None)
            return self
        if self.pid is not None:
            return self
        if self._run_dir is None:
            clean_stale_run_dirs()
            self._run_dir = Path(tempfile.mkdtemp(prefix=_RUN_DIR_PREFIX))  # 0700
            (self._run_dir / _OWNER).write_text(f"{os.getpid()}\n")
            self._own_run_dir = True
        self._run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        binary = self._binary or mediamtx_binary()
        fixed_ports = self._endpoints is not None
        for attempt in range(1 if fixed_ports else _PORT_RETRIES):
            if not fixed_ports:
                (rtsp,), (api, metrics) = free_ports(1, self._host), free_ports(2)
                self._endpoints = Endpoints(self._host, rtsp, api, metrics)
            try:
                self._launch(binary)
                return self
            except MediaServerError:
                # Another process may have taken a port between choosing and binding it.
                if fixed_ports or attempt == _PORT_RETRIES - 1 or not self._port_clash():
                    raise
        raise AssertionError("unreachable")

    def _launch(self, binary: Path) -> None:
        assert self._run_dir is not None and self._endpoints is not None
        config_path = self._run_dir / "mediamtx.yml"
        text = render_config(
            build_config(self._credentials, self._endpoints, log_level=self._log_level)
        )
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        assert self.log_path is not None
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self._proc = subprocess.Popen(
                [str(binary), str(config_path)],
                cwd=self._run_dir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            self._log.close()
            config_path.unlink(missing_ok=True)
            raise MediaServerError(
                f"cannot run MediaMTX binary {binary}: {exc}; expected an executable: "
                f"run `make mediamtx`"
            ) from exc
        self._finalizer = weakref.finalize(self, _terminate, self._proc, 5.0)
        try:
            self._wait_ready(self._proc)
        except MediaServerError:
            self._stop_process()
            raise
        finally:
            # Read at start-up; a removal does not make MediaMTX reload. Nothing is left.
            config_path.unlink(missing_ok=True)

    def _wait_ready(self, proc: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise MediaServerError(
                    f"MediaMTX exited with status {proc.returncode} during start-up; expected it "
                    f"to keep running: see its log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                r = self._api_get("/v3/paths/list")
                if r.status_code == 200 and self._rtsp_listening():
                    return
                if r.status_code in (401, 403):  # waiting longer will not fix a wrong login
                    raise MediaServerError(
                        f"MediaMTX Control API at {self.endpoints.api_url} answered HTTP "
                        f"{r.status_code} to user {self._credentials.admin.user!r}; expected 200: "
                        f"the credentials do not match the server's configuration"
                    )
                last = f"HTTP {r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise MediaServerError(
            f"MediaMTX Control API at {self.endpoints.api_url} did not answer within "
            f"{self._start_timeout_s} s (last: {last}); expected HTTP 200 to the admin user: "
            f"check the address and credentials"
            + (f"; log tail:\n{self.log_tail()}" if self._managed else "")
        )

    def _rtsp_listening(self) -> bool:
        try:
            with socket.create_connection((self.endpoints.host, self.endpoints.rtsp_port), 1.0):
                return True
        except OSError:
            return False

    def _port_clash(self) -> bool:
        return "address already in use" in self.log_tail(20).lower()

    def _stop_process(self, grace_s: float = 5.0) -> None:
        if self._proc is not None:
            _terminate(self._proc, grace_s)
            self._proc = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, grace_s: float = 5.0) -> None:
        """Terminate the process by PID, kill it after ``grace_s`` if needed; idempotent.

        An external server is left running.
        """
        if self._managed:
            self._stop_process(grace_s)

    def restart(self) -> None:
        """Stop and start again on the same ports and credentials (for failover drills)."""
        if not self._managed:
            raise MediaServerError(
                "restart() of an external MediaMTX server; expected a server this twin "
                "launched: restart the external one yourself"
            )
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and delete the run directory if this object created it."""
        self.stop()
        if self._own_run_dir and self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
            self._own_run_dir = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server's log ('' if there is none)."""
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- Control API and metrics ------------------------------------------------------------
    def _api_get(self, path: str, **params: Any) -> httpx.Response:
        a = self._credentials.admin
        return httpx.get(
            self.endpoints.api_url + path,
            params=params,
            auth=(a.user, a.password),
            timeout=_HTTP_TIMEOUT_S,
        )

    def paths(self) -> list[PathState]:
        """Every path the server knows, from ``/v3/paths/list`` (all pages), sorted by name."""
        items: list[dict[str, Any]] = []
        page, pages = 0, 1
        while page < pages:
            r = self._api_get("/v3/paths/list", page=page, itemsPerPage=1000)
            if r.status_code != 200:
                raise MediaServerError(
                    f"GET {self.endpoints.api_url}/v3/paths/list answered HTTP {r.status_code} "
                    f"{r.text[:200]!r}; expected 200: check the admin credentials"
                )
            body = r.json()
            items.extend(body.get("items") or [])
            pages = int(body.get("pageCount", 1))
            page += 1
        return sorted(
            (
                PathState(
                    name=i["name"],
                    ready=bool(i.get("ready")),
                    tracks=tuple(i.get("tracks") or ()),
                    bytes_received=int(i.get("bytesReceived", 0)),
                    bytes_sent=int(i.get("bytesSent", 0)),
                    readers=len(i.get("readers") or ()),
                    source_type=(i.get("source") or {}).get("type"),
                )
                for i in items
            ),
            key=lambda p: p.name,
        )

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Prometheus metrics as ``{sample name: [{"labels": {...}, "value": float}, ...]}``."""
        a = self._credentials.admin
        try:
            r = httpx.get(
                self.endpoints.metrics_url, auth=(a.user, a.password), timeout=_HTTP_TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            raise MediaServerError(
                f"metrics at {self.endpoints.metrics_url} unreachable ({exc}); expected the "
                f"server to be running: start() it first"
            ) from exc
        if r.status_code != 200:
            raise MediaServerError(
                f"GET {self.endpoints.metrics_url} answered HTTP {r.status_code}; expected 200: "
                f"check the admin credentials"
            )
        out: dict[str, list[dict[str, Any]]] = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                out.setdefault(s.name, []).append({"labels": dict(s.labels), "value": s.value})
        return out

    def metric(self, name: str, /, **labels: str) -> float:
        """Sum of the samples of metric ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(
            float(s["value"])
            for s in self.metrics().get(name, [])
            if all(s["labels"].get(k) == v for k, v in labels.items())
        )
