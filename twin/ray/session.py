"""Ray for the live twin: a private local Ray on loopback, or the cluster RAY_ADDRESS names.

- Without RAY_ADDRESS the twin starts a Ray of its own (`address="local"`: it never joins a
  cluster `ray start` left on the machine), advertised and bound on 127.0.0.1, with its own
  temp folder (so no other program's `ray.init()` joins it either), and shuts it down at the
  end.
- With RAY_ADDRESS=host:port it joins that cluster. Nothing answering there, or a cluster that
  refuses the login (token authentication: `RAY_AUTH_MODE=token` and the head's token, in
  `~/.ray/auth_token` or `RAY_AUTH_TOKEN`), is a :class:`RayUnavailable` naming RAY_ADDRESS and
  the fix, raised within `connect_timeout_s`; nothing is left running.

Ray's own log lines (its C++ core prints to the process's stderr) go to `ray.log` in the run
folder, not into the twin's output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from twin.errors import TwinError

__all__ = ["RayUnavailable", "RaySession", "start_ray"]

# Ray is imported where it is first used, here and in the twin's other modules that a command
# or a caller may import before it starts or joins Ray (twin.ray, twin.live.cluster and
# health): Ray reads its settings from the environment when it is imported (RAY_AUTH_MODE and
# RAY_AUTH_TOKEN among them), so one imported early ignores those set after, in-process (the
# standing-cluster tests of tests/test_benches.py set them so). The live run's own modules
# (twin.live.lifecycle, parts, wiring, startup, stopping) and the actors load only once a run
# starts, after its settings. Whoever imported Ray first, `_settings_from_environment` has it
# read its settings again just before it starts or joins, so the environment of that moment
# is the one that counts.


def _settings_from_environment() -> None:
    """Have Ray's settings (RayConfig, its token loader) read the environment again: Ray read
    them when it was imported, and the RAY_AUTH_MODE / RAY_AUTH_TOKEN of a join set after that
    (by a caller, or a test of the same process) would otherwise be ignored, and the head would
    refuse the login. Ray's own tests refresh them this way (ray._private.
    authentication_test_utils.reset_auth_token_state)."""
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


class RayUnavailable(TwinError):
    """Ray could not be started or joined (exit 3)."""

    exit_code = 3


def _descendants() -> dict[int, Any]:
    """This process's descendants now, {pid: psutil.Process}."""
    try:
        return {p.pid: p for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return {}


def _reap(procs: list[Any], grace_s: float = 3.0) -> None:
    """Kill what is left of processes this run's Ray started (psutil checks each is still the
    same process, so a reused PID is never hit), all at once, and wait up to `grace_s` for them
    to be gone (a zombie is gone: its parent, or PID 1 for a worker whose raylet died, reaps it)."""
    alive = [p for p in procs if p.is_running()]
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    deadline = time.monotonic() + grace_s
    while alive and time.monotonic() < deadline:
        still = []
        for p in alive:
            try:
                # Our own child is gone once reaped here (a zombie until then: killed is not
                # yet exited, and one left unreaped stays in the process table for good).
                if os.waitpid(p.pid, os.WNOHANG)[0] == 0:
                    still.append(p)
                continue
            except ChildProcessError:
                pass  # not our child: gone once it exits (its parent reaps it)
            if _running(p):
                still.append(p)
        alive = still
        if alive:
            time.sleep(0.01)


def _running(p: Any) -> bool:
    try:
        return bool(p.is_running()) and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class RaySession:
    address: str
    started_here: bool
    temp_dir: Path | None
    _restore: Any = None
    _before: dict[int, Any] | None = None  # our descendants before a local Ray started

    def close(self) -> None:
        # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
        import ray

        # A local Ray's processes (GCS, raylet, its agents, workers) are this process's
        # descendants. ray.shutdown() would stop them one process type after another, each
        # given up to 1 s to exit on SIGTERM (~1.2 s of waiting on 2 cores); this Ray holds
        # nothing that outlives it (its temp folder goes below), so the driver only
        # disconnects and the processes started since are killed here, all at once, by PID.
        spawned = (
            [p for pid, p in _descendants().items() if pid not in self._before]
            if self.started_here and self._before is not None
            else []
        )
        if ray.is_initialized():
            if spawned:
                _forget_local_node()
            ray.shutdown()
        _reap(spawned)
        if self._restore is not None:
            self._restore()
            self._restore = None
        if self.started_here and self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def _forget_local_node() -> None:
    """Detach the local Ray node this driver started from `ray.shutdown()`, so it only
    disconnects the driver; the caller then kills the node's processes. Spilled objects, if
    any, are deleted first, as ray.shutdown() would. (Ray's private module: if it changes,
    ray.shutdown() stops the node itself, only slower.)"""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    from ray._private import worker as ray_worker

    node = getattr(ray_worker, "_global_node", None)
    if node is None or not hasattr(node, "kill_all_processes"):
        return
    with contextlib.suppress(Exception):
        if node.is_head():
            node.destroy_external_storage()
    ray_worker._global_node = None


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send fd 2 (where Ray's C++ core writes) to `path` for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise _Timeout in this (main) thread after `seconds`."""
    if threading_main():

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            raise _Timeout

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    else:
        yield


_REFUSED = ("InvalidAuthToken", "Unauthenticated")


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_since(path: Path, start: int) -> str:
    """What Ray's log got from byte `start` on (this attempt's lines, not an earlier one's)."""
    try:
        with path.open("rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def _refused_at_once(log_path: Path, start: int) -> Iterator[None]:
    """Inside `_deadline`: end the wait as soon as Ray's log says the cluster refused the
    login. Ray's client retries a refused token until its own timeout (~20 s), though a wrong
    token never becomes right; the caller then reads the log and names the fix."""
    if not threading_main():
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            text = _log_since(log_path, start)
            if any(mark in text for mark in _REFUSED):
                signal.setitimer(signal.ITIMER_REAL, 0.001)  # _deadline's alarm, now
                return

    t = threading.Thread(target=watch, name="twin-ray-login", daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join()


def threading_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _reachable(host: str, port: int, timeout_s: float = 3.0) -> str | None:
    try:
        with socket.create_connection((host, port), timeout_s):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def _route_messages(log_path: Path) -> Any:
    """Send the messages Ray's driver threads print (raylet warnings, worker logs) to
    `log_path` instead of stdout/stderr; returns a function that undoes it."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    from ray._private import worker as ray_worker

    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None:
        return None
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed by the returned function

    def to_log(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        for line in data.get("lines") or []:
            log.write(f"({data.get('pid', 'ray')}) {line}\n")

    ray_worker.print_to_stdstream = to_log

    def restore() -> None:
        ray_worker.print_to_stdstream = original
        log.close()

    return restore


def start_ray(log_path: Path, *, connect_timeout_s: float = 25.0) -> RaySession:
    session = _start_ray(log_path, connect_timeout_s=connect_timeout_s)
    session._restore = _route_messages(log_path)
    return session


def _start_ray(log_path: Path, *, connect_timeout_s: float = 25.0) -> RaySession:
    """Start or join Ray as the module docstring says; Ray's log lines go to `log_path`."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    log_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if ray.is_initialized():
        return RaySession(str(ray.get_runtime_context().gcs_address), False, None)
    if address:
        if address.startswith("ray://"):
            raise RayUnavailable(
                f"RAY_ADDRESS={address}: Ray Client addresses (ray://) are not supported; "
                f"expected the head's GCS address host:port (as `ray start --head --port=6379` "
                f"prints): set RAY_ADDRESS=<head ip>:6379"
            )
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RayUnavailable(
                f"RAY_ADDRESS={address!r} is not host:port; expected the head's address, e.g. "
                f"RAY_ADDRESS=127.0.0.2:6379, or unset RAY_ADDRESS to run on a local Ray"
            )
        why = _reachable(host, int(port))
        if why:
            raise RayUnavailable(
                f"RAY_ADDRESS={address}: no Ray cluster answers there ({why}); expected a head "
                f"started with `ray start --head --node-ip-address={host} --port={port}` (see "
                f"docs/cluster.md): start it, fix RAY_ADDRESS, or unset "
                f"it to run on a Ray of the twin's own"
            )
        start = _log_size(log_path)
        try:
            with (
                _stderr_to(log_path),
                _deadline(connect_timeout_s),
                _refused_at_once(log_path, start),
            ):
                _settings_from_environment()
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (_Timeout, ConnectionError, RuntimeError, ValueError) as exc:
            with contextlib.suppress(Exception):
                ray.shutdown()
            text = _log_since(log_path, start)
            if any(mark in text for mark in _REFUSED) or "auth" in str(exc).lower():
                raise RayUnavailable(
                    f"RAY_ADDRESS={address}: the cluster refused the login (token "
                    f"authentication); expected this machine to hold the head's token: run with "
                    f"RAY_AUTH_MODE=token and the token the head uses (`ray get-auth-token` on "
                    f"the head; copy it to ~/.ray/auth_token here or set RAY_AUTH_TOKEN)"
                ) from None
            what = "did not answer in time" if isinstance(exc, _Timeout) else str(exc)[:300]
            raise RayUnavailable(
                f"RAY_ADDRESS={address}: joining the Ray cluster failed ({what}); expected a "
                f"running head at that address: check `ray status --address={address}` there, "
                f"or unset RAY_ADDRESS to run on a Ray of the twin's own (Ray's log: {log_path})"
            ) from None
        return RaySession(address, False, None)

    # A Ray of our own, on loopback only. Ray advertises the machine's outward address for
    # 127.0.0.1 unless told that this is a one-machine Ray.
    # Only while it starts: the variable would leak into every process this one starts later
    # (a `ray start` of a worker node refuses to join any cluster with it set).
    _ONE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    was = os.environ.get(_ONE_MACHINE)
    os.environ[_ONE_MACHINE] = "0"
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    temp_dir = Path(tempfile.mkdtemp(prefix="twin-ray-"))
    before = _descendants()
    try:
        try:
            with _stderr_to(log_path), _deadline(120.0):
                _settings_from_environment()
                ray.init(
                    address="local",
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                    _node_ip_address="127.0.0.1",
                    _temp_dir=str(temp_dir),
                )
        finally:
            if was is None:
                os.environ.pop(_ONE_MACHINE, None)
            else:
                os.environ[_ONE_MACHINE] = was
    except (_Timeout, ConnectionError, RuntimeError, ValueError, OSError) as exc:
        spawned = [p for pid, p in _descendants().items() if pid not in before]
        with contextlib.suppress(Exception):
            ray.shutdown()
        _reap(spawned)
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise RayUnavailable(
            f"starting a local Ray failed ({str(exc)[:300] or type(exc).__name__}); expected "
            f"`ray.init()` to start on this machine: see Ray's log {log_path}"
        ) from None
    except BaseException:  # a signal while Ray starts: take down what it had started
        spawned = [p for pid, p in _descendants().items() if pid not in before]
        with contextlib.suppress(BaseException):
            ray.shutdown()
        _reap(spawned)
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return RaySession(str(ray.get_runtime_context().gcs_address), True, temp_dir, _before=before)
