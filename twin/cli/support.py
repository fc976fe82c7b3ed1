"""What every `twin` command shares at its edge: argument types, output folders, the handler.

Theory of operation
-------------------
- Arguments are checked by argparse types (`days`, `seconds`, `finite`, ...) before the
  command runs: a bad one exits 2 with the usage line, the argument, the value and the range.
- Output folders: a command that writes a folder opens it with `staged_output(out)` before it
  does any work. That checks the place (not a file, not under a file, creatable and
  writable: a temporary folder is made next to it, so the check is the real thing), the
  command writes into the temporary folder, and only when it finishes are the files moved
  into `out` (one rename each, replacing what an earlier run left under the same names). A
  command that fails leaves `out` as it was, and no folder it made on the way.
  The live twin writes in place instead (`checked_output`: the same checks first), since its
  folder is read while it runs (`live/parts.json`, the catalog) and its logs say why a part
  failed; a folder made for a run that failed before writing anything is removed.
- The answer goes to stdout, everything else to stderr: a command's verdict table (or, with
  `--json`, its summary as JSON) is printed by `print_answer` / `print_json`, so `twin
  simulate ... > out.txt` or a script reading it gets the answer, and progress, notes and
  errors (`console`) stay on the screen. On a terminal a table fits its width; piped or
  redirected, it is as wide as it needs (rich would wrap it at 80 columns).
- `run_command` is the one top-level handler: a TwinError (or the MediaServerError of
  synthetic_streams) prints its message and exits with
  its code (2 bad input, 3 a part could not run); anything else prints one line saying what
  failed and where its traceback was written (a log file in the temporary folder of the
  system), and exits 3. No command prints a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.table import Table

from synthetic_streams.errors import MediaServerError
from twin.errors import TwinError, UsageError
from twin.model.sizing import SIZING_TITLE, needs_rows
from twin.scenario import MAX_DAYS

if TYPE_CHECKING:
    from twin.model.results import Results

__all__ = [
    "days_arg",
    "positive_seconds_arg",
    "finite_arg",
    "bounded_int_arg",
    "nonnegative_arg",
    "check_out",
    "staged_output",
    "checked_output",
    "run_command",
    "INTERRUPTED",
    "console",
    "targets_table",
    "answer_console",
    "print_answer",
    "print_json",
    "results_summary",
    "fixes_text",
    "drill_text",
]

INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C
console = Console(stderr=True)  # progress and messages; a command's answer goes to stdout
# Piped or redirected, a table is printed this wide at most: as wide as it needs, not 80.
UNWRAPPED_WIDTH = 1000


def answer_console() -> Console:
    """A console on stdout for a command's answer: the terminal's width on a terminal, else
    wide enough that no table is wrapped. Made per call, so it writes to sys.stdout as it is
    now (a test's capture, a redirect)."""
    probe = Console(file=sys.stdout)
    if probe.is_terminal:
        return probe
    return Console(file=sys.stdout, width=UNWRAPPED_WIDTH)


def print_answer(renderable: RenderableType) -> None:
    """A command's answer (its verdict table) on stdout."""
    answer_console().print(renderable)


def print_json(data: Any) -> None:
    """A command's answer as JSON on stdout (`--json`): one document, keys sorted."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def results_summary(res: Results, out: Path) -> dict[str, Any]:
    """What `twin simulate --json` prints: results.json's answer (engine, scenario, passed,
    targets, metrics, and the city's compute needs when calibrated; the same values, read from
    the same model) and where the files are. The per-district, per-recorder and event tables
    stay in results.json."""
    full = res.model_dump(mode="json")
    keys = (
        "schema_version",
        "engine",
        "scenario",
        "horizon_s",
        "passed",
        "targets",
        "metrics",
        "sizing",  # only when the scenario names a calibration that measured CPU
    )
    summary: dict[str, Any] = {k: full[k] for k in keys if k in full}
    summary["schema_name"] = "cctv-twin/summary"
    summary["files"] = {
        "results": str(out / "results.json"),
        "report_html": str(out / full["files"].get("report_html", "report.html")),
    }
    return summary


def targets_table(res: Results) -> Table:
    """A run's targets as a terminal table: bound, measured value, PASS or FAIL."""
    # start-up time: twin.output.pages loads matplotlib (~0.4 s); only a finished run needs it
    from twin.output.pages.numbers import fmt

    t = Table(title=f"{res.scenario.name}: {'PASS' if res.passed else 'FAIL'}")
    t.add_column("target", no_wrap=True)
    for col in ("bound", "measured", "verdict"):
        t.add_column(col)
    for v in res.targets:
        bound = " ".join(
            x
            for x in (
                f">= {v.min:g}" if v.min is not None else "",
                f"<= {v.max:g}" if v.max is not None else "",
            )
            if x
        )
        t.add_row(
            v.metric,
            f"{bound} {v.unit}",
            fmt(v.value),
            "[green]PASS[/]" if v.passed else "[bold red]FAIL[/]",
        )
    return t


SIZING_POOLS_SHOWN = 4  # pools listed one by one under the city's compute needs


def sizing_table(res: Results) -> Table | None:
    """The recorder processes and cores the city needs by its calibration (twin.model.sizing),
    as a terminal table with the caveat as its caption; None without a sizing."""
    # start-up time: twin.output.pages loads matplotlib (~0.4 s); only a finished run needs it
    from twin.output.pages.numbers import fmt

    s = res.sizing
    if s is None:
        return None
    t = Table(title=f"{SIZING_TITLE}: {s['calibration']}", caption=s["caveat"])
    for col in ("need", "value", "how"):
        t.add_column(col)
    for what, v, unit, how in needs_rows(s):
        t.add_row(what, fmt(v, unit), how)
    pools = s["pools"]
    if len(pools) <= SIZING_POOLS_SHOWN:
        for p in pools:
            t.add_row(
                f"pool {p['pool']}",
                f"{p['recorder_processes']} processes",
                f"busiest {p['streams_busiest']:,} streams: {fmt(p['cores_per_process_busiest'])}"
                f" cores a process; at the vendor's {p['max_streams']:,} streams / "
                f"{fmt(p['ingest_mbps'])} Mbps: {fmt(p['cores_per_process_at_limit'])} cores",
            )
    else:  # a city of many pools: the worst process; each pool's row is in the report
        top = max(pools, key=lambda p: p["cores_per_process_busiest"])
        t.add_row(
            f"{len(pools)} pools",
            f"{fmt(top['cores_per_process_busiest'])} cores",
            f"the busiest recorder process (pool {top['pool']}, {top['streams_busiest']:,} "
            f"streams); filled to the vendor's limits, up to "
            f"{fmt(max(p['cores_per_process_at_limit'] for p in pools))} cores a process; "
            f"each pool in report.html",
        )
    return t


def drill_text(res: Results) -> str | None:
    """A drill in a few lines, as its page opens on it: the faults, the recorders that failed
    and took their cameras, footage lost and the time to recover; None without faults."""
    # start-up time: twin.output.pages loads matplotlib (~0.4 s); only a finished run needs it
    from twin.output.pages.summary import drill

    d = drill(res)
    if d is None:
        return None
    shown = "; ".join(d.faults[:3]) + (f"; and {d.n_faults - 3:,} more" if d.n_faults > 3 else "")
    lines = [f"Drill: {shown}"]
    if d.failed:
        more = f" and {len(d.failed) - 8} more" if len(d.failed) > 8 else ""
        lines.append(f"- recorders that failed: {', '.join(d.failed[:8])}{more}")
    if d.took:
        more = f" and {len(d.took) - 8} more" if len(d.took) > 8 else ""
        lines.append(
            "- recorders that took their cameras: "
            + ", ".join(f"{n} ({c:,} cameras)" for n, c in d.took[:8])
            + more
        )
    lines += [
        f"- {what}: {v}"
        for what, v in d.facts
        if what.startswith(("footage lost", "time to recover", "camera time unrecorded"))
    ]
    return "\n".join(lines)


def fixes_text(res: Results) -> str | None:
    """What would fix a failed run, where the twin knows (twin.output.pages.fixes), as lines to
    print under its targets table; None when nothing failed or the twin cannot say."""
    # start-up time: twin.output.pages loads matplotlib (~0.4 s); only a finished run needs it
    from twin.output.pages.fixes import fixes

    fix = [] if res.invalid else fixes(res)  # an invalid live run's targets are not judged
    return "What would fix it:\n" + "\n".join(f"- {f.text}" for f in fix) if fix else None


# -- argument types ------------------------------------------------------------------------------
def finite_arg(text: str) -> float:
    """A finite number (argparse type)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number")
    return x


def _ranged(text: str, lo: float, hi: float, what: str, example: str) -> float:
    x = finite_arg(text)
    if not lo < x <= hi:
        raise argparse.ArgumentTypeError(
            f"{text} is out of range: expected {what} greater than {lo:g} and at most {hi:,g}, "
            f"e.g. {example}"
        )
    return x


def days_arg(text: str) -> float:
    """Simulated days: > 0 and at most twin.scenario.MAX_DAYS (argparse type)."""
    return _ranged(
        text, 0, MAX_DAYS, "simulated days", "--days 35 (default: the scenario's simulation.days)"
    )


def positive_seconds_arg(hi: float, example: str) -> Callable[[str], float]:
    """Seconds, > 0 and at most `hi` (an argparse type)."""

    def parse(text: str) -> float:
        return _ranged(text, 0, hi, "seconds", example)

    parse.__name__ = "seconds"
    return parse


def bounded_int_arg(lo: int, hi: int, example: str) -> Callable[[str], int]:
    """An integer in [lo, hi] (an argparse type)."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(
                f"{n} is out of range: expected {lo} to {hi}, e.g. {example}"
            )
        return n

    parse.__name__ = "int"
    return parse


def nonnegative_arg(text: str) -> float:
    """A finite number >= 0 (argparse type)."""
    x = finite_arg(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative: expected a number >= 0")
    return x


# -- output folders ------------------------------------------------------------------------------
def check_out(out: Path, what: str = "--out") -> list[Path]:
    """Refuse an output place that cannot be a folder; the missing folders to create, outermost
    first. (Writability is checked by making the temporary folder: see staged_output.)"""
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"{what} {out}: is a file, not a folder; give a folder (it is created "
            f"if missing), e.g. {what} {out.with_suffix('')}-run"
        )
    missing: list[Path] = []
    p = out.absolute()
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise UsageError(
            f"{what} {out}: {p} is a file, so no folder can be made under it; "
            "give a folder path whose parents are folders"
        )
    return list(reversed(missing))


def _fail_place(out: Path, what: str, err: OSError) -> UsageError:
    return UsageError(
        f"{what} {out}: cannot write there ({err.strerror or err}); give a folder "
        "you can write to, e.g. one under out/"
    )


@contextlib.contextmanager
def staged_output(out: Path, what: str = "--out") -> Iterator[Path]:
    """A temporary folder next to `out` to write into; moved into `out` when the block ends
    without an error, removed (with any folder made for it) when it raises."""
    out = Path(out)
    missing = check_out(out, what)
    made: list[Path] = []
    try:
        for p in missing[:-1]:  # the parents; `out` itself is made by the move
            p.mkdir()
            made.append(p)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.absolute().parent))
    except OSError as err:
        _remove_made(made)
        raise _fail_place(out, what, err) from None
    try:
        yield tmp
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_made(made)
        raise


@contextlib.contextmanager
def checked_output(out: Path, what: str = "--out") -> Iterator[Path]:
    """`out` itself, checked before any work (not a file, not under a file, writable) and
    made if missing: for a run whose folder is read while it runs (the live twin's
    `live/parts.json`, its catalog and logs). If the run fails before writing anything, the
    folders made for it are removed; otherwise what it wrote stays, its logs included."""
    out = Path(out)
    missing = check_out(out, what)
    made: list[Path] = []
    try:
        for p in missing:
            p.mkdir()
            made.append(p)
        probe = tempfile.mkdtemp(prefix=".twin-write-check-", dir=out)
        os.rmdir(probe)
    except OSError as err:
        _remove_made(made)
        raise _fail_place(out, what, err) from None
    try:
        yield out
    except BaseException:
        _remove_made(made)  # only the ones still empty
        raise


def _remove_made(made: list[Path]) -> None:
    for p in reversed(made):
        with contextlib.suppress(OSError):
            p.rmdir()  # only if still empty


def _move_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.absolute().parent))
    try:
        for entry in sorted(tmp.iterdir()):
            target = out / entry.name
            if target.exists() or target.is_symlink():
                os.rename(target, old / entry.name)
            os.rename(entry, target)
    finally:
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


# -- the top-level handler -----------------------------------------------------------------------
def _log_traceback(command: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"twin-{command}-error-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(traceback.format_exc())
    return Path(name)


def run_command(fn: Callable[[], int], command: str, say: Callable[[str], None]) -> int:
    """Run one command; its exit code whatever happens, and never a traceback on the screen."""
    try:
        return int(fn())
    except (TwinError, MediaServerError) as err:
        say(f"error: {err}")
        return err.exit_code
    except KeyboardInterrupt:
        say(f"twin {command}: interrupted; nothing was moved into the output folder")
        return INTERRUPTED
    except Exception as err:  # the edge of the program: everything not foreseen ends here
        try:
            where = f"the traceback is in {_log_traceback(command)}"
        except OSError as log_err:
            where = f"the traceback could not be written ({log_err.strerror})"
        what = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        say(
            f"error: twin {command} could not run: {what}; {where} (a bug or a broken install, "
            "not your input: please report it with that file)"
        )
        return 3
