"""The run's watchdog: when `twin live` (the driver) dies, nothing of its run stays running.

Theory of operation
-------------------
A Ray the driver starts itself shares the driver's fate only in part: its GCS and raylet die
with the driver (Ray starts them with PR_SET_PDEATHSIG), the workers follow the raylet, but
the raylet's agents (`ray::DashboardAgent`, `ray::RuntimeEnvAgent`) are re-parented to init
and ignore SIGTERM, and whatever a worker was doing when its raylet vanished goes on for a
while. So the driver starts this small process first (`start_watchdog`, before Ray), in a
session of its own: a signal to the driver's process group or terminal does not reach it,
and a `kill -9` of the driver leaves it running.

- It is told the driver's PID and start time, and the driver's descendants that existed
  before it (never the run's: an in-process caller such as a test may have others).
- Every `interval_s` it notes the driver's descendants that are new, each by PID and start
  time, so a PID the system reuses later is never taken for the run's process; what it noted
  stays noted after the process is re-parented (Ray's agents, once the raylet is gone).
- The driver holds the write end of the watchdog's stdin. It writes `dir PATH` for each
  temporary folder of the run (Ray's, each MediaMTX's) and `stop` at a normal end, then
  closes it. The pipe closing without `stop` means the driver died (the kernel closes a
  killed process's files at once); so does the driver's process being gone (checked every
  round, in case some other process holds the pipe open).
- The driver dead: every noted process that is still the same process, every process whose
  command line names one of the run's temporary folders, and every descendant of one, is
  sent SIGKILL, in rounds until none is left (at most `KILL_FOR_S`); the folders
  it was told of are removed if they are temporary folders of the kind the run makes; then
  `live/watchdog.json` says when the driver was lost and what was killed, and it exits.
- `stop` (a normal end: the driver has stopped its parts itself): it exits, killing nothing.

It is used only with a Ray of the driver's own: a cluster joined through RAY_ADDRESS is not
the run's to kill (Ray ends the actors of a driver that died on its own).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import psutil

__all__ = ["WATCHDOG_FILE", "KILL_FOR_S", "Watchdog", "start_watchdog", "main"]

#: What the watchdog writes into the run's `live/` folder when the driver died.
WATCHDOG_FILE = "watchdog.json"
#: The longest it goes on killing what is left of the run after the driver died.
KILL_FOR_S = 5.0
#: The temporary folders it may remove: Ray's (twin.ray.session) and MediaMTX's.
_TEMP_PREFIXES = ("twin-ray-", "cctv-twin-mediamtx-")

Key = tuple[int, float]  # (PID, start time): one process, never a later one with its PID


def _same(a: float | None, b: float | None) -> bool:
    """Two start times of one process (as written with two decimals, or read again)."""
    return a is not None and b is not None and abs(a - b) < 0.02


def _table() -> tuple[dict[int, list[int]], dict[int, float], dict[int, str]]:
    """Every process now: children by parent, start time, status (one pass over /proc)."""
    kids: dict[int, list[int]] = {}
    started: dict[int, float] = {}
    status: dict[int, str] = {}
    for p in psutil.process_iter(["ppid", "create_time", "status"]):
        info = p.info
        if info.get("create_time") is None:
            continue
        kids.setdefault(int(info["ppid"] or 0), []).append(p.pid)
        started[p.pid] = float(info["create_time"])
        status[p.pid] = str(info.get("status") or "")
    return kids, started, status


def _below(roots: list[int], kids: dict[int, list[int]], stop: set[int]) -> list[int]:
    """Every descendant of `roots` (not the roots), not going below a PID in `stop`."""
    out: list[int] = []
    todo = [c for r in roots for c in kids.get(r, [])]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid in stop:
            continue
        seen.add(pid)
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


class _Watch:
    def __init__(self, parent: int, parent_start: float, before: set[Key], run_dir: Path) -> None:
        self.parent = (parent, parent_start)
        self.before = before
        self.run_dir = run_dir
        self.noted: dict[int, float] = {}  # PID -> start time
        self.names: dict[int, str] = {}
        self.dirs: list[str] = []
        self.me = os.getpid()

    def parent_alive(self) -> bool:
        try:
            p = psutil.Process(self.parent[0])
            return _same(p.create_time(), self.parent[1]) and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def note(self) -> None:
        """Note the driver's descendants that are new since the last round."""
        kids, started, _ = _table()
        if not _same(started.get(self.parent[0]), self.parent[1]):
            return  # the driver is gone: its PID's children are not its
        before = dict(self.before)
        skip = {pid for pid, t in started.items() if _same(before.get(pid), t)} | {self.me}
        for pid in _below([self.parent[0]], kids, skip):
            if pid not in self.noted and pid in started:
                self.noted[pid] = started[pid]
                with contextlib.suppress(psutil.Error):
                    self.names[pid] = psutil.Process(pid).name()

    def naming_dirs(self) -> None:
        """Note every process whose command line names one of the run's temporary folders
        (each made by this run, under a random name): the run's, even if never seen below
        the driver (one started in the last round, then re-parented)."""
        if not self.dirs:
            return
        for p in psutil.process_iter(["cmdline", "create_time"]):
            cmd = " ".join(p.info.get("cmdline") or [])
            if p.pid not in self.noted and p.pid != self.me and any(d in cmd for d in self.dirs):
                self.noted[p.pid] = float(p.info["create_time"])

    def kill_all(self) -> tuple[list[dict[str, Any]], list[int]]:
        """SIGKILL every noted process still running and its descendants, in rounds, until
        none is left or KILL_FOR_S passed; returns (what was killed, what is still left)."""
        self.naming_dirs()
        killed: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + KILL_FOR_S
        left: list[int] = []
        while True:
            kids, started, status = _table()
            ours = [pid for pid, t in self.noted.items() if _same(started.get(pid), t)]
            # Descendants of the run's processes are the run's, even ones never noted (a
            # worker started in the last round), but never the driver's parent's or ours.
            ours += [
                pid
                for pid in _below(ours, kids, {self.me, self.parent[0]})
                if pid not in self.noted
            ]
            left = [
                pid
                for pid in dict.fromkeys(ours)
                if status.get(pid) not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD, None)
                and pid not in (1, self.me)
            ]
            if not left or time.monotonic() > deadline:
                break
            for pid in left:
                if pid not in killed:
                    name = self.names.get(pid, "")
                    with contextlib.suppress(psutil.Error):
                        name = psutil.Process(pid).name()
                    killed[pid] = {"pid": pid, "name": name, "started": started.get(pid)}
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                self.noted.setdefault(pid, started[pid])
            time.sleep(0.05)
        return list(killed.values()), left

    def remove_dirs(self) -> list[str]:
        """The run's temporary folders the driver named, if they are of the kinds it makes."""
        tmp = Path(tempfile.gettempdir()).resolve()
        removed = []
        for d in self.dirs:
            p = Path(d).resolve()
            if p.parent == tmp and p.name.startswith(_TEMP_PREFIXES) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(str(p))
        return removed


def _lines(fd: int, buf: bytearray) -> tuple[list[str], bool]:
    """Whole lines read from `fd` now (it is readable) and whether it reached its end."""
    try:
        data = os.read(fd, 65536)
    except OSError:
        return [], True
    if not data:
        return [], True
    buf.extend(data)
    *whole, rest = bytes(buf).split(b"\n")
    buf[:] = rest
    return [w.decode(errors="replace").strip() for w in whole], False


def run(watch: _Watch, stdin: IO[bytes], interval_s: float) -> int:
    """Watch until `stop` (0) or the driver's death (kill, write watchdog.json, 0)."""
    fd = stdin.fileno()
    buf = bytearray()
    why = ""
    while not why:
        watch.note()
        ready, _, _ = select.select([fd], [], [], interval_s)
        if ready:
            lines, ended = _lines(fd, buf)
            for line in lines:
                cmd, _, arg = line.partition(" ")
                if cmd == "stop":
                    return 0
                if cmd == "dir" and Path(arg).name.startswith(_TEMP_PREFIXES):
                    watch.dirs.append(arg)  # only the kinds of folder a run makes
            if ended:
                why = "its pipe to the watchdog closed"
        if not why and not watch.parent_alive():
            why = "its process is gone"
    lost_at = time.time()
    t = time.monotonic()
    killed, left = watch.kill_all()
    cleared_s = time.monotonic() - t
    removed = watch.remove_dirs()
    report = {
        "driver_pid": watch.parent[0],
        "driver_lost_at": lost_at,
        "detected_by": why,
        "killed": killed,
        "left": left,
        "cleared_s": round(cleared_s, 3),
        "removed_dirs": removed,
        "watchdog_pid": watch.me,
    }
    out = watch.run_dir / WATCHDOG_FILE
    with contextlib.suppress(OSError):
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1, sort_keys=True))
        tmp.replace(out)
    print(
        f"watchdog: driver {watch.parent[0]} lost ({why}); killed {len(killed)} "
        f"process(es) of its run in {cleared_s:.2f} s, {len(left)} left",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m twin.live.watchdog",
        description="Kill what is left of a live run if its driver dies",
    )
    ap.add_argument("--parent", type=int, required=True, help="the driver's PID")
    ap.add_argument(
        "--parent-start",
        type=float,
        required=True,
        help="the driver's start time (psutil create_time)",
    )
    ap.add_argument(
        "--before", default="", help="the driver's descendants before the run: PID:start,..."
    )
    ap.add_argument("--run-dir", required=True, help="the run's live/ folder")
    ap.add_argument("--interval", type=float, default=0.5)
    a = ap.parse_args(argv)
    before: set[Key] = set()
    for item in filter(None, a.before.split(",")):
        pid, _, t = item.partition(":")
        before.add((int(pid), float(t)))
    # Ctrl-C at the driver's terminal is the driver's business; only its death is ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch = _Watch(a.parent, a.parent_start, before, Path(a.run_dir))
    return run(watch, sys.stdin.buffer, a.interval)


class Watchdog:
    """The driver's side: tell it the run's temporary folders; `close` at a normal end."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _send(self, line: str) -> None:
        if self.proc.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()

    def tell_dirs(self, *dirs: str | Path | None) -> None:
        for d in dirs:
            if d:
                self._send(f"dir {d}")

    def close(self) -> None:
        """A normal end: the watchdog exits and kills nothing."""
        self._send("stop")
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_watchdog(run_dir: Path) -> Watchdog:
    """Start the watchdog of this process's run (`run_dir`: its live/ folder); call it before
    Ray starts, so every process the run starts is new to it."""
    me = psutil.Process()
    before = ",".join(f"{p.pid}:{p.create_time():.2f}" for p in _children_now(me))
    root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    log = open(Path(run_dir) / "watchdog.log", "ab")  # noqa: SIM115 - the child's stderr
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "twin.live.watchdog",
                "--parent",
                str(me.pid),
                "--parent-start",
                f"{me.create_time():.2f}",
                "--before",
                before,
                "--run-dir",
                str(run_dir),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()
    return Watchdog(proc)


def _children_now(p: psutil.Process) -> list[psutil.Process]:
    try:
        return list(p.children(recursive=True))
    except psutil.Error:
        return []


if __name__ == "__main__":
    sys.exit(main())
