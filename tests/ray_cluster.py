"""Ray nodes started with `ray start`, as docs/cluster.md tells a user to, for tests and benchmarks.

`ray_head(ip)` starts a head on a loopback address with its own temp folder and token auth on
(Ray 2.60's default for `ray start --head`), yields its address, and at the end stops every
process of that node by PID (found by its temp folder), never with `ray stop`, which would hit
every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

RAY_BIN = Path(sys.executable).with_name("ray")
AUTH_ENV = {"RAY_AUTH_MODE": "token"}


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def client_server_of(address: str, cmdline: list[str]) -> bool:
    """Is this the Ray Client server a head at `address` started? (`ray start --head` starts
    one, detached, whose command line names the head's address but not its temp folder.)"""
    return "ray.util.client.server" in cmdline and f"--address={address}" in cmdline


def stop_node(temp: Path, address: str | None = None) -> None:
    """Kill (by PID) every process whose command line names this node's temp folder, and
    their descendants (the raylet's agents and workers retitle themselves `ray::...`, so their
    command lines no longer name it); for a head at `address`, its Ray Client server too."""
    procs: dict[int, psutil.Process] = {}
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.pid != os.getpid() and (
            str(temp) in " ".join(cmd) or (address is not None and client_server_of(address, cmd))
        ):
            procs[p.pid] = p
            with contextlib.suppress(psutil.Error):
                procs.update((c.pid, c) for c in p.children(recursive=True))
    procs.pop(os.getpid(), None)
    for p in procs.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(list(procs.values()), timeout=10)
    shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def ray_head(ip: str = "127.0.0.2", num_cpus: int = 2) -> Iterator[str]:
    """A one-node Ray cluster on `ip`; yields RAY_ADDRESS (set RAY_AUTH_MODE=token to join)."""
    port = free_port(ip)
    temp = Path(f"/tmp/twin-head-{os.getpid()}-{port}")
    shutil.rmtree(temp, ignore_errors=True)
    env = {**os.environ, **AUTH_ENV}
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # a local Ray's, if one ran here
    subprocess.run(
        [str(RAY_BIN), "get-auth-token", "--generate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        start = subprocess.run(
            [
                str(RAY_BIN),
                "start",
                "--head",
                f"--node-ip-address={ip}",
                f"--port={port}",
                f"--temp-dir={temp}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--num-cpus={num_cpus}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert start.returncode == 0, start.stderr[-2000:]
        time.sleep(0.5)
        yield f"{ip}:{port}"
    finally:
        stop_node(temp, f"{ip}:{port}")
