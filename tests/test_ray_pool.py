"""The pool of warm workers on a standing Ray (twin.ray.pool), on a real head started with
`ray start` (tests.ray_cluster, stopped by PID): reused across commands, an actor killed with
kill -9 mid-run loses no item, idle actors stop themselves, `twin ray-pool stop` stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.ray_cluster import AUTH_ENV, ray_head
from twin.ray.tasks import run_ordered

TWIN = Path(sys.executable).with_name("twin")

# Not `serial`: its heads (`ray start`) run one after another on the one worker that takes
# this file; no other test of the parallel phase starts a head.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    with ray_head("127.0.0.2", num_cpus=2) as address:
        yield address
    # Stopped by PID, the head leaves nothing behind: no process names its address (its GCS,
    # raylet and agents do; so does the Ray Client server, which names nothing else of it).
    left = [
        p.info
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(address in a for a in p.info["cmdline"] or [])
    ]
    assert not left, left


@pytest.fixture
def on_head(head: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RAY_ADDRESS", head)
    for k, v in AUTH_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("TWIN_RAY_POOL_IDLE_S", raising=False)
    return head


def _make_marking():
    """An item function defined here, so Ray ships it by value (tests/ is not importable on
    a worker): it leaves a file `<item>-<pid>` when it starts, then works `seconds`."""

    def marking(folder: str, seconds: float, item: int) -> tuple[int, int]:
        import os
        import time
        from pathlib import Path

        (Path(folder) / f"{item}-{os.getpid()}").touch()
        time.sleep(seconds)
        return item * 10, os.getpid()

    return marking


def _twin_pool(action: str, address: str) -> tuple[int, str]:
    """`twin ray-pool ACTION` on the head: exit code and what it said (the twin's messages
    go to stderr)."""
    env = {**os.environ, "RAY_ADDRESS": address, **AUTH_ENV}
    proc = subprocess.run(
        [str(TWIN), "ray-pool", action], env=env, capture_output=True, text=True, timeout=120
    )
    return proc.returncode, proc.stdout + proc.stderr


def _pids(out: list[tuple[int, int]]) -> set[int]:
    return {pid for _, pid in out}


def _status_pids(address: str) -> set[int]:
    """The pids of the pool's actors as `twin ray-pool status` lists them, each of this
    version of the code."""
    code, said = _twin_pool("status", address)
    rows = re.findall(r"(twin-pool-\S+)\s*[│|]\s*(\d+)\s*[│|]", said)
    assert code == 0 and rows and said.count("this version") == len(rows), said[-2000:]
    return {int(pid) for _, pid in rows}


def test_the_pool_is_kept_across_commands_and_twin_ray_pool_stop_stops_it(on_head, tmp_path):
    # Whatever an earlier test left: start from no pool.
    assert _twin_pool("stop", on_head)[0] == 0
    t1: dict[str, float] = {}
    first = run_ordered(_make_marking(), (str(tmp_path), 0.2), list(range(6)), "ray", timings=t1)
    assert [v for v, _ in first] == [i * 10 for i in range(6)]
    # One actor per CPU of the head, as `twin ray-pool status` lists them. Each item ran on
    # one of them; not necessarily on both: an actor gets items once it answers, and on a
    # loaded machine one actor started late once found the other had done all six.
    pool = _status_pids(on_head)
    assert len(pool) == 2 and os.getpid() not in pool
    assert _pids(first) <= pool
    assert "pool_s" in t1 and t1["driver_items"] == 0
    # The next command (a new Ray job) finds the same processes, already warm: no new one.
    second = run_ordered(_make_marking(), (str(tmp_path), 0.2), list(range(6)), "ray")
    assert [v for v, _ in second] == [i * 10 for i in range(6)]
    assert _pids(second) <= pool
    assert _status_pids(on_head) == pool
    code, said = _twin_pool("stop", on_head)
    assert code == 0 and "stopped 2 pool actor(s)" in said, said[-2000:]
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p) for p in pool) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(psutil.pid_exists(p) for p in pool)
    assert "no pool on" in _twin_pool("status", on_head)[1]


def test_an_actor_killed_mid_run_loses_no_item(on_head, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    n = 8
    killed: list[int] = []

    def kill_the_actor_running_item_2() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = [f.name for f in marks.iterdir() if f.name.startswith("2-")]
            if started:
                pid = int(started[0].split("-")[1])
                time.sleep(0.2)  # well inside the item's 1.5 s
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_actor_running_item_2)
    killer.start()
    out = run_ordered(_make_marking(), (str(marks), 1.5), list(range(n)), "ray")
    killer.join()
    assert killed, "item 2 never started"
    assert [v for v, _ in out] == [i * 10 for i in range(n)]  # every item, in order
    assert out[2][1] != killed[0]  # item 2 ran again, on another actor
    runs_of_2 = sorted(f.name for f in marks.iterdir() if f.name.startswith("2-"))
    assert len(runs_of_2) == 2 and f"2-{killed[0]}" in runs_of_2
    deadline = time.monotonic() + 10
    while psutil.pid_exists(killed[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(killed[0])
    # The pool is whole again for the next command: two actors, the dead one replaced.
    again = run_ordered(_make_marking(), (str(marks), 0.3), list(range(4)), "ray")
    assert [v for v, _ in again] == [i * 10 for i in range(4)]
    pool = _status_pids(on_head)  # counted from the pool, not the work (see the first test)
    assert len(pool) == 2 and killed[0] not in pool and _pids(again) <= pool


def _make_failing():
    def failing(item: int) -> int:
        if item == 1:
            raise ValueError(f"item {item} is bad")
        return item

    return failing


def _pool_names(address: str) -> set[str]:
    code, said = _twin_pool("status", address)
    assert code == 0, said[-2000:]
    return set(re.findall(r"twin-pool-[0-9a-f]+-[0-9a-f]+", said))


def test_an_item_that_raises_raises_in_the_caller_and_the_pool_stays(on_head, tmp_path):
    run_ordered(_make_marking(), (str(tmp_path), 0.0), [0, 1], "ray")
    before = _pool_names(on_head)
    assert len(before) == 2
    with pytest.raises(ValueError, match="item 1 is bad"):
        run_ordered(_make_failing(), (), [0, 1, 2], "ray")
    assert _pool_names(on_head) == before  # an error of the work is not an actor's death


def test_an_idle_pool_stops_itself(on_head, tmp_path, monkeypatch):
    assert _twin_pool("stop", on_head)[0] == 0
    monkeypatch.setenv("TWIN_RAY_POOL_IDLE_S", "1")
    out = run_ordered(_make_marking(), (str(tmp_path), 0.1), list(range(4)), "ray")
    # The actors that ran items (one or both: an actor started late may get none) stop
    # themselves; so does any other, as the status below finds no pool at all.
    pool = _pids(out)
    assert pool and os.getpid() not in pool
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p) for p in pool) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) for p in pool)
    assert "no pool on" in _twin_pool("status", on_head)[1]


def test_twin_ray_pool_without_ray_address_names_the_fix():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [str(TWIN), "ray-pool", "stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode == 2
    assert "RAY_ADDRESS is not set" in proc.stderr + proc.stdout


def test_a_join_after_ray_was_imported_without_the_token_settings_is_let_in(head: str) -> None:
    """Ray reads RAY_AUTH_MODE when it is imported; a process that imported it before the
    join's settings were set (another test of the same worker, a caller's own import) must
    still be let in: the twin has Ray read its settings again just before it joins. Run in a
    fresh process, so the order (import first, settings after) is certain."""
    script = (
        "import os, sys\n"
        "os.environ.pop('RAY_AUTH_MODE', None)\n"
        "import ray\n"
        "from pathlib import Path\n"
        "from twin.ray.session import start_ray\n"
        f"os.environ.update(RAY_ADDRESS={head!r}, RAY_AUTH_MODE='token')\n"
        "s = start_ray(Path(sys.argv[1]))\n"
        "print('joined', len(ray.nodes()))\n"
        "ray.shutdown()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(Path(os.environ.get("TMPDIR", "/tmp")) / "j.log")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "joined 1" in proc.stdout
