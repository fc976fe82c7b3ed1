"""The `twin` command line.

A command's answer (its verdict table, or with --json its summary) goes to stdout;
progress, notes and errors to stderr.

Exit codes: 0 all targets met; 1 a target failed; 2 bad input (the message names the file,
the field and the fix); 3 a part of the twin could not run (MediaMTX, Ray), or an unexpected
error (one line on the screen, the traceback in a log file it names). Arguments and output
folders are checked before any work, and outputs are moved into place only when a run
finishes (twin/cli/support.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from twin.cli.support import (
    answer_console,
    console,
    days_arg,
    drill_text,
    fixes_text,
    print_answer,
    print_json,
    results_summary,
    run_command,
    sizing_table,
    targets_table,
)
from twin.errors import ScenarioError
from twin.model.results import Results
from twin.scenario import load_scenario, scenario_json_schema
from twin.scenario.model import scenario_data
from twin.scenario.overlay import show_yaml

if TYPE_CHECKING:
    from twin.compare.replications import ReplicationResults

__all__ = ["main", "default_scenario"]

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"  # the checkout's root
DEFAULT_SCENARIO = "city-7000.yaml"
# Modules that add subcommands: each has register(subparsers). Kept apart so that the live
# twin, evidence and comparison tools grow without touching the simulator's commands; they
# import Ray, PyAV and OpenCV only when their command runs.
COMMAND_MODULES = ("twin.cli.live", "twin.cli.evidence", "twin.cli.compare", "twin.cli.calibrate")


def default_scenario() -> Path:
    path = SCENARIOS_DIR / DEFAULT_SCENARIO
    if not path.exists():
        raise ScenarioError(
            f"{path}: the default scenario is missing; pass a scenario file, e.g. "
            "`twin simulate scenarios/phase1-615.yaml`"
        )
    return path


def _replications_table(res: ReplicationResults) -> Table:
    # start-up time: the distribution plots load matplotlib (~0.4 s); only replications need
    # them
    from twin.output.distribution_plots import shown_metrics

    t = Table(
        title=f"{res.scenario.name}: {res.replications} replications: "
        f"{'PASS' if res.passed else 'FAIL'}"
    )
    for col in ("metric", "unit", "mean", "95 % CI of mean", "p5", "p50", "p95", "target"):
        t.add_column(col, justify="left" if col in ("metric", "unit", "target") else "right")
    verdicts = {v.metric: v for v in res.targets}
    for name in shown_metrics(res):
        d = res.metrics[name]
        v = verdicts.get(name)
        mark = ""
        if v is not None:
            bound = " ".join(
                x
                for x in (
                    f">= {v.min:g}" if v.min is not None else "",
                    f"<= {v.max:g}" if v.max is not None else "",
                )
                if x
            )
            mark = f"{v.stat} {bound} " + ("[green]PASS[/]" if v.passed else "[bold red]FAIL[/]")
        ci = "all draws equal" if d.min == d.max else f"[{d.ci_low:,.4g}, {d.ci_high:,.4g}]"
        t.add_row(
            name,
            d.unit,
            f"{d.mean:,.4g}",
            ci,
            f"{d.p5:,.4g}",
            f"{d.p50:,.4g}",
            f"{d.p95:,.4g}",
            mark,
        )
    for v in res.targets:  # targets on metrics no replication measured
        if v.metric not in res.metrics:
            t.add_row(v.metric, v.unit, "not measured", "", "", "", "", "[bold red]FAIL[/]")
    return t


def cmd_simulate(args: argparse.Namespace) -> int:
    # start-up time: the simulator (simpy, the engine) loads only for this command
    from twin.cli.runs import replicate_to, simulate_to

    path = Path(args.scenario) if args.scenario else default_scenario()
    if args.replications is not None:
        out = Path(args.out) if args.out else Path("out") / f"{path.stem}-replications"
        rep, _ = replicate_to(
            path, out, args.replications, args.backend, args.days, args.quiet, args.set or ()
        )
        if args.json:
            print_json(rep.model_dump(mode="json"))  # what replications.json holds
        else:
            print_answer(_replications_table(rep))
        if all(d.sd == 0 for d in rep.metrics.values()):
            console.print(
                "[yellow]note:[/] every replication is the same: the scenario has no "
                "random parts (random faults with mtbf_h, or an evidence: section)",
                highlight=False,
            )
        console.print(
            f"replications: {out / 'replications.json'}   draws: {out / 'draws.csv'}   "
            f"report: {out / 'report.html'} (and replications.md)   ({rep.run.wall_s:.1f} s, "
            f"{rep.run.replications_per_s:.2f} replications/s, CI: {rep.ci_method})"
        )
        return 0 if rep.passed else 1
    out = Path(args.out) if args.out else Path("out") / path.stem
    res = simulate_to(
        path, out, args.days, args.quiet, args.set or (), Path(args.as_run) if args.as_run else None
    )
    if args.json:
        print_json(results_summary(res, out))
    else:
        print_answer(targets_table(res))
        for note in (drill_text(res), fixes_text(res)):
            if note:
                answer_console().print(note, markup=False, highlight=False)
        needs = sizing_table(res)
        if needs is not None:
            print_answer(needs)
    console.print(
        f"results: {out / 'results.json'}   report: {out / 'report.html'} "
        f"(and report.md)   ({res.run.wall_s:.1f} s)",
        soft_wrap=True,
    )
    return 0 if res.passed else 1


def cmd_validate(args: argparse.Namespace) -> int:
    if args.show:
        return _show(args.files, args.set or ())
    bad = 0
    answer = answer_console()  # each file's verdict is the command's answer: stdout
    for f in args.files:
        try:
            sc = load_scenario(f, sets=args.set or ())
            answer.print(
                f"[green]ok[/] {escape(f)}: {escape(sc.name)}, {sc.city.total_sets:,} sets",
                highlight=False,
                soft_wrap=True,
            )
        except ScenarioError as e:
            answer.print(f"[red]invalid[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            bad += 1
    return 2 if bad else 0


def _show(files: list[str], sets: list[str] | tuple[str, ...]) -> int:
    """Print each scenario as it is run: its bases merged, `--set` applied, validated (a bad
    one is exit 2 like any run). Its canonical JSON is that of the file as run."""
    for f in files:
        load_scenario(f, check_memory=False, sets=sets)  # the errors of a run, if any
        data, source = scenario_data(f, sets)
        print(
            f"# {source}, merged"
            + (f", with --set {'; '.join(sets)}" if sets else "")
            + " (twin validate --show)"
        )
        print(show_yaml(data), end="")
    return 0


def set_arg(p: argparse.ArgumentParser) -> None:
    """`--set PATH=VALUE`, repeatable: one field changed for this run only."""
    p.add_argument(
        "--set",
        action="append",
        metavar="PATH=VALUE",
        help="change one field for this run only, e.g. --set "
        "recorders.pools.central.recorders=80 (dotted path, list items by name or "
        "index; VALUE read as YAML; repeatable); results.json names the change",
    )


def cmd_schema(args: argparse.Namespace) -> int:
    if args.results:
        schema = Results.model_json_schema()
    else:
        schema = scenario_json_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


def _version() -> str:
    try:
        return version("cctv-twin")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed: `make install`)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="twin", description=__doc__.splitlines()[0])
    p.add_argument(
        "--version",
        action="version",
        version=f"twin {_version()}",
        help="print the version of cctv-twin and exit",
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("simulate", help="run a scenario on SimPy virtual time")
    s.add_argument(
        "scenario", nargs="?", help=f"scenario YAML (default scenarios/{DEFAULT_SCENARIO})"
    )
    s.add_argument(
        "--days", type=days_arg, help="simulated days, up to 3,650 (default: the scenario's)"
    )
    s.add_argument(
        "--out",
        help="output folder (default out/<scenario file stem>); checked "
        "first, filled only when the run finishes",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument(
        "--as-run",
        metavar="RUN",
        help="a `twin live --out` folder of this scenario: simulate it with the "
        "crash detection that live run really had (for fidelity on a loaded "
        "machine; the results say so)",
    )
    s.add_argument(
        "--json",
        action="store_true",
        help="print the answer as JSON on stdout instead of the table: passed, "
        "targets and metrics as in results.json (with --replications: "
        "replications.json)",
    )
    s.add_argument(
        "--replications",
        type=int,
        metavar="N",
        help="run N seeded draws of the random parts (faults, incidents, evidence and "
        "access requests) on one city, as Ray tasks; report each metric's mean, "
        "p5/p50/p95 and 95 %% CI (default output out/<stem>-replications)",
    )
    s.add_argument(
        "--backend",
        choices=("ray", "local"),
        default="ray",
        help="with --replications: ray (local instance, or RAY_ADDRESS) or local "
        "(one after another in this process)",
    )
    set_arg(s)
    s.set_defaults(fn=cmd_simulate)

    v = sub.add_parser("validate", help="check scenario files; print every problem")
    v.add_argument("files", nargs="+")
    v.add_argument(
        "--show",
        action="store_true",
        help="print each scenario merged with its bases (and --set), as it is run",
    )
    set_arg(v)
    v.set_defaults(fn=cmd_validate)

    sch = sub.add_parser("schema", help="print the JSON Schema of scenario files (or results)")
    sch.add_argument("--results", action="store_true", help="the results.json schema instead")
    sch.set_defaults(fn=cmd_schema)
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return p


def _say(msg: str) -> None:
    head, sep, rest = msg.partition(":")
    # soft_wrap: no line breaks added inside a message, so paths in it stay whole
    console.print(
        f"[red]{escape(head)}{sep}[/]{escape(rest)}" if sep else escape(msg),
        highlight=False,
        soft_wrap=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Every command runs under one handler (twin.cli.support.run_command): a TwinError
    exits with its code, anything else with 3 and its traceback in a log file, never on the
    screen. Bad arguments exit 2 from argparse, before anything runs."""
    argv = sys.argv[1:] if argv is None else list(argv)
    name = next((a for a in argv if not a.startswith("-")), "twin")

    def run() -> int:
        args = build_parser().parse_args(argv)
        code: int = args.fn(args)
        return code

    return run_command(run, name, _say)


if __name__ == "__main__":
    sys.exit(main())
