"""Subcommands `twin compare`, `twin sweep`, `twin check`, `twin breakpoint` and `twin ray-pool`
(registered by twin.cli)."""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from twin.cli.main import set_arg
from twin.cli.support import (
    answer_console,
    bounded_int_arg,
    console,
    days_arg,
    nonnegative_arg,
    staged_output,
)
from twin.compare.compare import (
    compare,
    input_differences,
    input_markdown,
    scenario_inputs,
    short_value,
    write_csv,
    write_markdown,
)
from twin.compare.fidelity import FidelityTable, fidelity_rows_for_html, write_fidelity_csv
from twin.compare.runs import is_scenario_file
from twin.errors import ScenarioError, UsageError
from twin.model.results import refuse_invalid, write_results
from twin.model.stats import DIFF_METHOD

if TYPE_CHECKING:
    from twin.compare.breakpoint import Breakpoint
    from twin.compare.check import ScenarioCheck
    from twin.compare.compare import Comparison, InputDiff
    from twin.compare.grid import Param, SweepResult
    from twin.compare.replications import Draws
    from twin.model.results import ScenarioInfo

__all__ = ["register"]


def _console() -> Console:
    return console


def _print_wide(table: Table, width: int) -> None:
    """Print a table of the command's answer on stdout (progress and messages stay on
    stderr), at least `width` wide, so no number is cut to "…" (a CI log or a narrow
    terminal scrolls instead)."""
    con = answer_console()
    Console(
        file=con.file,
        width=max(con.width, width),
        force_terminal=con.is_terminal,
        no_color=con.no_color,
    ).print(table)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(),
        disable=quiet,
        transient=True,
    )


# ------------------------------------------------------------------ compare
def short(v: float | None) -> str:
    """Compact numbers for a terminal table (the CSV and Markdown keep every digit)."""
    if v is None:
        return "-"
    if v != 0 and abs(v) < 0.001:  # never an exponent (5e-06) in front of a person
        # start-up time: twin.output loads matplotlib (~0.4 s); only this command needs it
        from twin.output.pages.numbers import fmt

        return fmt(v)
    for div, suffix in ((1e9, " G"), (1e6, " M")):
        if abs(v) >= div:
            return f"{v / div:.4g}{suffix}"
    return f"{v:,.0f}" if v == int(v) or abs(v) >= 1e4 else f"{v:.4g}"


def _compare_table(c: Comparison) -> Table:
    """Every metric, each variant with its difference from the first (absolute and percent,
    green better, red worse)."""
    fmt = short
    ref = c.labels[0]
    t = Table(
        title="Comparison"
        + (f": each against {ref} (difference = variant - {ref})" if len(c.columns) > 1 else "")
    )
    t.add_column("metric", no_wrap=True)
    t.add_column("unit")
    t.add_column(ref, justify="right")
    for lab in c.labels[1:]:
        t.add_column(lab, justify="right")
        t.add_column("delta", justify="right")
        t.add_column("delta %", justify="right")
    verdicts = ["[green]PASS[/]" if col.passed else "[bold red]FAIL[/]" for col in c.columns]
    t.add_row("targets", "", verdicts[0], *[x for v in verdicts[1:] for x in (v, "", "")])
    for row in c.rows:  # key metrics first, then drill metrics, then the rest
        cells = [fmt(row.values[0])]
        for i in range(1, len(c.columns)):
            v = row.verdict(i)
            colour = {"better": "green", "worse": "red"}.get(v)
            d, rel = row.delta(i)
            dtext = (
                "-" if d is None else ("0" if abs(d) < 1e-9 else ("+" if d > 0 else "") + fmt(d))
            )
            rtext = row.delta_text(i)[1]
            cells += [
                fmt(row.values[i]),
                f"[{colour}]{dtext}[/]" if colour else dtext,
                f"[{colour}]{rtext}[/]" if colour else rtext,
            ]
        t.add_row(row.metric, row.unit, *cells)
    return t


def _inputs_tables(
    labels: list[str] | tuple[str, ...], diffs: tuple[InputDiff, ...]
) -> list[Table | str]:
    """Per variant, the inputs that differ from the first (path, first, variant)."""
    out: list[Table | str] = []
    ref = labels[0]
    for d in diffs:
        lab = labels[d.column]
        if d.unknown:
            out.append(
                f"[yellow]inputs:[/] {escape(lab)} against {escape(ref)}: {escape(d.unknown)}"
            )
            continue
        if not d.fields:
            out.append(
                f"inputs: {escape(lab)} and {escape(ref)} are the same scenario "
                "(names and descriptions aside)"
            )
            continue
        t = Table(
            title=f"Inputs that differ: {lab} against {ref} ({len(d.fields)}; bases "
            "merged, names and descriptions aside)"
        )
        for col in ("path", ref, lab):
            t.add_column(col, overflow="fold")
        for path, a, b in d.fields:
            t.add_row(escape(path), escape(short_value(a)), escape(short_value(b)))
        out.append(t)
    return out


def _replicated_input(
    item: str,
    out: Path,
    n: int,
    backend: str,
    days: float | None,
    quiet: bool,
    sets: list[str] | None = None,
) -> tuple[str, Draws, ScenarioInfo]:
    """(label, Draws, scenario) of a scenario replicated n times, or of a replications run
    folder."""
    # start-up time: replications load the simulator (simpy, the engine); only this command
    # needs them
    from twin.cli.runs import replicate_to
    from twin.compare.replications import read_draws, read_replications

    p = Path(item)
    if p.is_dir() or p.name == "replications.json":
        folder = p if p.is_dir() else p.parent
        if not (folder / "replications.json").exists():
            raise ScenarioError(
                f"{item}: no replications.json; with --replications pass scenario "
                "YAMLs or folders from `twin simulate --replications N --out DIR`"
            )
        info = read_replications(folder / "replications.json").scenario
        return info.name, read_draws(folder), info
    if not is_scenario_file(p):
        raise ScenarioError(
            f"{item}: with --replications expected a scenario (.yaml) or a replications folder"
        )
    res, draws = replicate_to(p, out / p.stem, n, backend, days, quiet, sets or ())
    return res.scenario.name, draws, res.scenario


def cmd_compare_replicated(args: argparse.Namespace) -> int:
    # start-up time: replications load the simulator (simpy, the engine); only this command
    # needs them
    from twin.compare.replications import compare_draws

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = [
        _replicated_input(
            i, out / "runs", args.replications, args.backend, args.days, args.quiet, args.set
        )
        for i in args.inputs
    ]
    labels = args.label or [name for name, _, _ in inputs]
    ref_label, ref = labels[0], inputs[0][1]
    con = _console()
    diffs = input_differences(scenario_inputs(args.inputs, [i[2] for i in inputs], args.set or ()))
    for part in _inputs_tables(labels, diffs):
        if isinstance(part, str):
            con.print(part, highlight=False)
        else:
            _print_wide(part, 100)
    lines = [
        f"# Replicated comparison against {ref_label}",
        *input_markdown(labels, diffs),
        "",
        f'Difference test: {DIFF_METHOD}. "beyond noise": the 95 % interval of the '
        "difference excludes 0. % is the difference relative to the reference's mean.",
        "",
    ]
    rows_csv = []
    pages = []
    for lab, (_, draws, _) in zip(labels[1:], inputs[1:]):
        rows = compare_draws(ref, draws)
        pages.append((lab, len(ref.metrics), len(draws.metrics), rows))
        t = Table(
            title=f"{lab} - {ref_label} ({len(ref.metrics)} and {len(draws.metrics)} "
            "replications; Welch t-test)"
        )
        for col in (
            "metric",
            "unit",
            ref_label,
            lab,
            "difference",
            "%",
            "95 % CI of difference",
            "p",
            "verdict",
        ):
            t.add_column(col, justify="left" if col in ("metric", "unit", "verdict") else "right")
        lines += [
            f"## {lab} against {ref_label}",
            "",
            f"| metric | unit | {ref_label} mean | {lab} mean | difference | % | 95 % CI | p "
            "| verdict |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in rows:
            d = r.diff
            rows_csv.append(
                [
                    lab,
                    r.metric,
                    r.unit,
                    d.mean_a,
                    d.mean_b,
                    d.diff,
                    d.ci_low,
                    d.ci_high,
                    d.p_value,
                    r.verdict,
                ]
            )
            pct = "-" if d.mean_a == 0 else f"{100 * d.diff / abs(d.mean_a):+.1f} %"
            lines.append(
                f"| {r.metric} | {r.unit} | {d.mean_a:,.6g} | {d.mean_b:,.6g} | "
                f"{d.diff:,.6g} | {pct} | [{d.ci_low:,.6g}, {d.ci_high:,.6g}] | "
                f"{d.p_value:.3g} | {r.verdict} |"
            )
            if r.verdict == "same":
                continue  # the terminal shows only what differs; the report has every metric
            colour = {"better": "green", "worse": "red"}.get(r.verdict, "yellow")
            t.add_row(
                r.metric,
                r.unit,
                short(d.mean_a),
                short(d.mean_b),
                short(d.diff),
                pct,
                f"[{short(d.ci_low)}, {short(d.ci_high)}]",
                f"{d.p_value:.3g}",
                f"[{colour}]{r.verdict}[/]",
            )
        lines.append("")
        _print_wide(t, 150)
    with (out / "comparison-replications.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "variant",
                "metric",
                "unit",
                "mean_reference",
                "mean_variant",
                "difference",
                "ci_low",
                "ci_high",
                "p_value",
                "verdict",
            ]
        )
        w.writerows(rows_csv)
    (out / "comparison-replications.md").write_text("\n".join(lines))
    # start-up time: twin.output loads matplotlib (~0.4 s); only this command needs it
    from twin.output.pages.answers import write_compare_replicated_html

    write_compare_replicated_html(list(labels), diffs, pages, DIFF_METHOD, out)
    con.print(
        f"report: {out / 'report.html'} (and comparison-replications.md)   table: "
        f"{out / 'comparison-replications.csv'}"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    final = Path(args.out)
    with staged_output(final) as out:
        return _compare_into(args, out, final)


def _compare_into(args: argparse.Namespace, out: Path, final: Path) -> int:
    if args.replications is not None:
        return cmd_compare_replicated(args)
    # start-up time: twin.output loads matplotlib (~0.4 s), twin.cli.runs the simulator; only
    # this command needs them
    from twin.cli.runs import resolve_input
    from twin.output.compare_plots import plot_comparison, plot_districts
    from twin.output.pages.charts import pool_headroom_by_variant
    from twin.output.pages.render import write_compare_html

    if args.label and len(args.label) != len(args.inputs):
        raise UsageError(
            f"--label given {len(args.label)} time(s) for {len(args.inputs)} "
            "input(s); give one label per input, in order, or none"
        )
    results = []
    with _progress(args.quiet) as prog:
        task = prog.add_task("running variants", total=len(args.inputs))
        for item in args.inputs:
            prog.update(task, description=f"{Path(item).name}")
            results.append(resolve_input(item, out / "runs", args.days, sets=args.set or ()))
            prog.advance(task)
    c = compare(
        results,
        args.label or None,
        scenario_inputs(args.inputs, [r.scenario for r in results], args.set or ()),
    )
    if not args.accept_invalid:  # fidelity against a harness that fell behind means nothing
        for _, j in c.fidelity:
            refuse_invalid(c.columns[j].results, args.inputs[j], "`twin compare` (fidelity)")
    plots = {"metrics": plot_comparison(c, out)}
    d = plot_districts(c, out)
    if d:
        plots["districts"] = d
    write_csv(c, out)
    write_markdown(c, out, plots)
    pools = pool_headroom_by_variant(
        c.labels, [col.results for col in c.columns], out / "pool_headroom_by_variant.png"
    )
    if pools:
        plots = {"pool_headroom_by_variant": pools, **plots}
    fidelity = c.fidelity_tables()
    if fidelity:
        write_fidelity_csv(fidelity[0][0], out / "fidelity.csv")
    write_compare_html(c, plots, out)
    con = _console()
    for part in _inputs_tables(c.labels, c.inputs):
        if isinstance(part, str):
            con.print(part, highlight=False)
        else:
            _print_wide(part, 100)
    _print_wide(_compare_table(c), 62 + sum(max(10, len(lab) + 3) + 24 for lab in c.labels))
    for table, note in fidelity:
        _print_wide(_fidelity_table(table), 140)
        if table.timing_note():
            con.print(f"[yellow]timing:[/] {table.timing_note()}", highlight=False)
        if note:
            con.print(f"[yellow]note:[/] {note}", highlight=False)
        for line in table.failure_lines():
            con.print(f"[bold red]FAIL[/] {line}", highlight=False)
    for m in c.missing():
        con.print(f"[yellow]note:[/] {m}", highlight=False)
    for col in c.columns:
        if col.failed_targets:
            con.print(
                f"[bold red]{col.label} FAILS[/] " + ", ".join(col.failed_targets), highlight=False
            )
    con.print(
        f"report: {final / 'report.html'} (and comparison.md)   table: {final / 'comparison.csv'}"
    )
    return 0 if c.passed and all(t.passed for t, _ in fidelity) else 1


def _fidelity_table(t: FidelityTable) -> Table:
    tab = Table(
        title=f"Fidelity: {t.live.scenario.name}, live against simulated "
        f"(simulate - live; relative to live)"
    )
    for col in ("metric", "unit", "live", "simulate", "difference", "relative", "target", ""):
        tab.add_column(col, justify="left" if col in ("metric", "unit", "target", "") else "right")
    for r in fidelity_rows_for_html(t):
        verdict = (
            ""
            if r["passed"] is None
            else ("[green]PASS[/]" if r["passed"] else "[bold red]FAIL[/]")
        )
        tab.add_row(
            escape(r["metric"]),
            r["unit"],
            r["live"],
            r["sim"],
            r["diff"],
            r["rel"],
            r["bound"],
            verdict,
        )
    return tab


# ------------------------------------------------------------------ sweep
KEY_COLUMNS = (
    "recorders",
    "disk_total_tb",
    "storage_headroom_pct_min",
    "recorder_ingest_util_pct_max",
    "segments_dropped",
    "cost_total_hkd",
)


def _write_sweep(s: SweepResult, out: Path) -> None:
    # start-up time: twin.output loads matplotlib (~0.4 s); only this command needs it
    from twin.output.compare_plots import plot_sweep
    from twin.output.pages.render import write_sweep_html

    paths = [p.path for p in s.params]
    keys = [k for k in KEY_COLUMNS if any(k in p.results.metrics for p in s.points)]
    with (out / "sweep.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["variant", *paths, "passed", "failed_targets", *keys])
        for p in s.points:
            w.writerow(
                [
                    p.name,
                    *[p.values[k] for k in paths],
                    int(p.passed),
                    " ".join(p.failed),
                    *[p.results.metrics.get(k, "") for k in keys],
                ]
            )
    for p in s.points:
        (out / "variants" / p.name).mkdir(parents=True, exist_ok=True)
        write_results(p.results, out / "variants" / p.name)
    png = plot_sweep(s, out)
    best = s.smallest()
    lines = [
        f"# Sweep of `{s.base}`",
        "",
        "Smallest deployment meeting every target: "
        + (
            f"**{best.name}** (" + ", ".join(f"`{k}` = {v}" for k, v in best.values.items()) + ")"
            if best
            else "**none**: no point of the grid meets every target"
        ),
        "",
        f"Ranked by "
        f"{'cost_total_hkd (assumed prices)' if s.by_cost else 'recorders, then disk_total_tb'}.",
        "",
        "| variant | "
        + " | ".join(f"`{k}`" for k in paths)
        + " | targets | "
        + " | ".join(keys)
        + " |",
        "|" + " --- |" * (len(paths) + 2 + len(keys)),
    ]
    for p in s.points:
        verdict = "PASS" if p.passed else "FAIL: " + ", ".join(p.failed)
        lines.append(
            f"| {p.name} | "
            + " | ".join(str(p.values[k]) for k in paths)
            + f" | {verdict} | "
            + " | ".join(
                f"{p.results.metrics.get(k, '-'):,.6g}" if k in p.results.metrics else "-"
                for k in keys
            )
            + " |"
        )
    lines += [
        "",
        f"![sweep]({png})",
        "",
        "The same with the answer first, for a browser or to print: `report.html`.",
        "",
    ]
    (out / "sweep.md").write_text("\n".join(lines))
    write_sweep_html(s, {"sweep": png}, out, keys)


def cmd_sweep(args: argparse.Namespace) -> int:
    # start-up time: the sweep's grid loads the simulator; only this command needs it
    from twin.compare.grid import parse_param

    params = [parse_param(p) for p in args.param]
    final = Path(args.out) if args.out else Path("out") / f"sweep-{Path(args.scenario).stem}"
    with staged_output(final) as out:
        return _sweep_into(args, params, out, final)


def _sweep_into(args: argparse.Namespace, params: list[Param], out: Path, final: Path) -> int:
    # start-up time: the sweep's grid loads the simulator; only this command needs it
    from twin.compare.grid import sweep

    with _progress(args.quiet) as prog:
        task = prog.add_task(f"sweep ({args.backend})", total=None)

        def progress(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        s = sweep(args.scenario, params, args.backend, args.days, progress)
    _write_sweep(s, out)
    t = Table(title=f"sweep of {s.base}: {len(s.points)} variants")
    for q in s.params:
        t.add_column(q.path.rsplit(".", 1)[-1])  # the full paths are in sweep.csv
    t.add_column("targets")
    t.add_column("smallest")
    keys = [k for k in KEY_COLUMNS if any(k in p.results.metrics for p in s.points)]
    for k in keys:
        t.add_column(k, justify="right")
    best = s.smallest()
    for p in s.points:
        verdict = "[green]PASS[/]" if p.passed else "[red]FAIL[/] " + escape(", ".join(p.failed))
        t.add_row(
            *[str(p.values[q.path]) for q in s.params],
            verdict,
            "[bold]<==[/]" if best is p else "",
            *[short(p.results.metrics.get(k)) for k in keys],
        )
    con = _console()
    _print_wide(t, 40 + 14 * len(s.params) + 31 * len(keys))
    if best is None:
        con.print("[bold red]no variant meets every target[/]")
    else:
        con.print(
            "smallest deployment meeting every target: [bold]"
            + ", ".join(f"{k}={v}" for k, v in best.values.items())
            + f"[/] ({best.name})",
            highlight=False,
        )
    con.print(
        f"table: {final / 'sweep.csv'}   report: {final / 'report.html'} (and "
        f"sweep.md)   plot: {final / 'sweep.png'}"
    )
    return 0 if best is not None else 1


# ------------------------------------------------------------------ check
def cmd_check(args: argparse.Namespace) -> int:
    final = Path(args.out)
    with staged_output(final) as out:
        return _check_into(args, out, final)


def _check_into(args: argparse.Namespace, out: Path, final: Path) -> int:
    # start-up time: the check's simulator and pages (matplotlib, ~0.5 s) load only for it
    from twin.compare.check import check_folder, write_junit, write_summary
    from twin.output.pages.render import write_check_pages as write_pages

    con = _console()
    with _progress(args.quiet) as prog:
        task = prog.add_task("checking scenarios", total=None)

        def progress(done: int, total: int, c: ScenarioCheck) -> None:
            prog.update(task, completed=done, total=total)
            # The baseline is judged once every run is in: this line says only how the targets went.
            if c.error:
                con.print(f"[red]ERROR[/] {c.path.name}", highlight=False)
                return
            n, bad = len(c.judged_targets), len(c.failed_targets)
            mark = "[green]ran[/]" if not bad else "[bold red]ran[/]"
            live = len(c.results.targets) - n if c.results is not None else 0
            con.print(
                f"{mark} {c.path.name} ({c.wall_s:.1f} s): targets {n - bad}/{n} met"
                + (f", {live} live-only skipped" if live else ""),
                highlight=False,
            )

        report = check_folder(
            Path(args.folder),
            out,
            Path(args.baseline) if args.baseline else None,
            args.tolerance_pct,
            args.update_baseline,
            args.days,
            progress,
            args.jobs,
            [Path(x) for x in args.live or []],
            tuple(args.set or ()),
            args.accept_invalid,
        )
    write_junit(report, out / "junit.xml")
    write_summary(report, out / "summary.md")
    write_pages(report, out)
    for c in report.checks:
        if c.error:
            con.print(f"[red]error:[/] {c.error}", highlight=False)
        elif c.results is not None:
            for t in c.failed_targets:
                con.print(
                    f"[bold red]FAIL[/] {c.name}: target {t.metric} measured "
                    f"{t.value if t.value is not None else 'not measured'} {t.unit}",
                    highlight=False,
                )
            for r in c.regressions:
                con.print(f"[bold red]REGRESSION[/] {r.message}", highlight=False)
            if c.fidelity is not None:
                _print_wide(_fidelity_table(c.fidelity), 140)
                if c.fidelity.timing_note():
                    con.print(f"[yellow]timing:[/] {c.fidelity.timing_note()}", highlight=False)
                for line in c.fidelity.failure_lines():
                    con.print(f"[bold red]FIDELITY[/] {c.name}: {line}", highlight=False)
    if report.updated_baseline:
        con.print(
            f"baseline written: {report.baseline_path} (commit it with the change that "
            "moved the metrics)"
        )
    con.print(
        f"{'PASS' if report.passed else 'FAIL'}: {len(report.checks)} scenarios; "
        f"report: {final / 'report.html'}   junit: {final / 'junit.xml'}   "
        f"summary: {final / 'summary.md'}"
    )
    return report.exit_code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add compare, sweep and check to the `twin` command line."""
    c = sub.add_parser(
        "compare", help="compare deployments (scenarios, run folders, results.json) side by side"
    )
    c.add_argument(
        "inputs",
        nargs="+",
        help="scenario YAML (simulated), run folder or results.json; the first is the reference",
    )
    c.add_argument("--out", default="out/compare", help="output folder (default out/compare)")
    c.add_argument("--label", action="append", help="column label, once per input, in order")
    c.add_argument("--days", type=days_arg, help="simulated days for scenario inputs (up to 3,650)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument(
        "--accept-invalid",
        action="store_true",
        help="compare a live run whose harness did not keep its plan with its "
        "simulation (refused, exit 4, without this)",
    )
    c.add_argument(
        "--replications",
        type=int,
        metavar="N",
        help="replicate each scenario N times (or read replications folders) and say, "
        "per metric, whether the difference is beyond the noise (Welch t-test)",
    )
    c.add_argument(
        "--backend",
        choices=("ray", "local"),
        default="ray",
        help="with --replications: ray (local instance, or RAY_ADDRESS) or local",
    )
    set_arg(c)
    c.set_defaults(fn=cmd_compare)

    s = sub.add_parser(
        "sweep",
        help="run a grid of scenario variants (Ray) and name the smallest "
        "deployment that meets every target",
    )
    s.add_argument("scenario")
    s.add_argument(
        "--param",
        action="append",
        required=True,
        metavar="PATH=V1,V2,...",
        help="dotted path into the scenario and values, e.g. "
        "recorders.pools.0.recorders=60,70,80 (list items by index or name)",
    )
    s.add_argument("--out", help="output folder (default out/sweep-<scenario stem>)")
    s.add_argument(
        "--backend",
        choices=("ray", "local"),
        default="ray",
        help="ray: Ray tasks (local instance, or RAY_ADDRESS); local: one after another",
    )
    s.add_argument(
        "--days", type=days_arg, help="simulated days, up to 3,650 (default: the scenario's)"
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=cmd_sweep)

    k = sub.add_parser(
        "check",
        help="CI: every scenario in a folder meets its targets and no "
        "metric is worse than the baseline",
    )
    k.add_argument("folder", nargs="?", default="scenarios")
    k.add_argument(
        "--out", default="out/check", help="junit.xml, summary.md, results (default out/check)"
    )
    k.add_argument("--baseline", help="baseline file (default FOLDER/baseline.json)")
    k.add_argument(
        "--tolerance-pct",
        type=nonnegative_arg,
        default=2.0,
        help="relative worsening allowed per metric, percent (default 2)",
    )
    k.add_argument(
        "--update-baseline",
        action="store_true",
        help="rewrite the baseline from this run (on purpose)",
    )
    k.add_argument(
        "--days", type=days_arg, help="simulated days, up to 3,650 (default: each scenario's)"
    )
    k.add_argument(
        "--jobs",
        type=bounded_int_arg(1, 64, "--jobs 2"),
        default=min(2, os.cpu_count() or 1),
        help="scenarios run at once, in separate processes (default: 2 or the cores)",
    )
    k.add_argument(
        "--live",
        action="append",
        metavar="RUN",
        help="a `twin live --out` folder of one of the scenarios: judge its "
        "simulation against it on the scenario's fidelity: targets (repeatable)",
    )
    k.add_argument(
        "--accept-invalid",
        action="store_true",
        help="judge a --live run whose harness did not keep its plan (refused, exit "
        "4, without this)",
    )
    k.add_argument("--quiet", action="store_true", help="no progress bar")
    set_arg(k)
    k.set_defaults(fn=cmd_check)
    register_breakpoint(sub)

    r = sub.add_parser(
        "ray-pool",
        help="list or stop the warm workers sweeps, replications and "
        "break points keep on the Ray cluster at RAY_ADDRESS",
    )
    r.add_argument(
        "action",
        choices=("status", "stop"),
        help="status: list the pool's actors; stop: stop them (their CPUs go back "
        "to the cluster; the next command starts a new pool)",
    )
    r.set_defaults(fn=cmd_ray_pool)


# ------------------------------------------------------------------ ray-pool
def cmd_ray_pool(args: argparse.Namespace) -> int:
    if not os.environ.get("RAY_ADDRESS", "").strip():
        raise UsageError(
            "twin ray-pool: RAY_ADDRESS is not set; expected the address of the "
            "Ray cluster the pool lives on, e.g. RAY_ADDRESS=127.0.0.2:6390 twin "
            "ray-pool stop (a Ray the twin starts for itself has no pool: it stops "
            "with its command)"
        )
    # start-up time: Ray loads in ~0.4 s; only this command needs it
    import ray

    # start-up time, as above: only this command needs the pool's modules
    from twin.ray.pool import NAMESPACE, code_key, pool_actors, stop_pool
    from twin.ray.tasks import ray_init

    con = _console()
    session = ray_init()
    try:
        if args.action == "stop":
            n = stop_pool()
            con.print(f"stopped {n} pool actor(s) on {os.environ['RAY_ADDRESS']}", highlight=False)
            return 0
        names = pool_actors()
        if not names:
            con.print(
                f"no pool on {os.environ['RAY_ADDRESS']} (the next sweep, replications or "
                "break point run starts one)",
                highlight=False,
            )
            return 0
        key = code_key()
        t = Table(title=f"pool of warm workers on {os.environ['RAY_ADDRESS']}")
        for col in ("actor", "pid", "node", "code"):
            t.add_column(col)
        for name in names:
            try:
                handle = ray.get_actor(name, namespace=NAMESPACE)
                info: dict[str, Any] = dict(ray.get(handle.info.remote(), timeout=30))
                pid, node = str(info["pid"]), str(info["node"])[:12]
            except Exception as err:  # noqa: BLE001 - a row per actor, whatever its state
                pid, node = "-", f"not answering ({type(err).__name__})"
            t.add_row(
                name,
                pid,
                node,
                "this version" if f"-{key}-" in name else "older version (stopped by the next run)",
            )
        _print_wide(t, 100)
        return 0
    finally:
        if session is not None:
            session.close()


# ------------------------------------------------------------------ breakpoint
def _write_breakpoint(bp: Breakpoint, out: Path) -> dict[str, str]:
    # start-up time: the breakpoint loads the simulator, its plot matplotlib (~0.5 s); only
    # this command needs them
    from twin.compare.breakpoint import RESOURCE_KINDS
    from twin.output.distribution_plots import plot_breakpoint

    out.mkdir(parents=True, exist_ok=True)
    png = plot_breakpoint(bp, out)
    with (out / "breakpoint.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ["level", "label", "passed", "failed_targets", "resource", "where", "demand_pct"]
        )
        for lv in bp.levels:
            for kind in RESOURCE_KINDS:
                for where, v in lv.demand[kind].items():
                    w.writerow(
                        [lv.level, lv.label, int(lv.passed), " ".join(lv.failed), kind, where, v]
                    )
    b = bp.binding()
    files = {
        "plot": png,
        "table": "breakpoint.csv",
        "report": "breakpoint.md",
        "report_html": "report.html",
    }
    summary: dict[str, Any] = {
        "scenario": bp.scenario,
        "grow": bp.growth.kind,
        "first_month": bp.month0,
        "sets_per_year": bp.growth.sets_per_year if bp.growth.kind == "sets" else None,
        "monotone": bp.monotone,
        "notes": list(bp.notes),
        "not_modelled": list(bp.not_modelled),
        "last_pass": None
        if bp.last_pass is None
        else {"level": bp.last_pass.level, "label": bp.last_pass.label},
        "first_fail": None
        if bp.first_fail is None
        else {
            "level": bp.first_fail.level,
            "label": bp.first_fail.label,
            "when": bp.when(),
            "failed_targets": bp.first_fail.failed,
        },
        "binding": None if b is None else {"resource": b[0], "where": b[1], "demand_pct": b[2]},
        "levels_simulated": [lv.level for lv in bp.levels],
        "files": files,
    }
    (out / "breakpoint.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    lines = [f"# Where `{bp.scenario}` breaks first, growing {bp.growth.kind}", ""]
    if bp.first_fail is None:
        lines.append("No target fails within the levels tried.")
    else:
        lines.append(
            f"First failure: **{bp.when()}** ({bp.first_fail.label}), targets "
            f"{', '.join(bp.first_fail.failed)}."
        )
        if b is not None:
            lines.append(
                f"Binding resource: **{b[0]}** of **{b[1]}**, demand {b[2]:.1f} % of its capacity."
            )
    if bp.last_pass is not None:
        lines.append(f"Last level meeting every target: {bp.last_pass.label}.")
    lines += [
        "",
        *[f"- {n}" for n in (*bp.notes, *bp.not_modelled)],
        "",
        "| level | load | targets | most loaded resource |",
        "| --- | --- | --- | --- |",
    ]
    for lv in bp.levels:
        k, where, v = lv.top()
        lines.append(
            f"| {lv.level} | {lv.label} | "
            f"{'PASS' if lv.passed else 'FAIL: ' + ', '.join(lv.failed)}"
            f" | {k} {where} {v:.1f} % |"
        )
    lines += ["", f"![utilisation against load]({png})", ""]
    (out / "breakpoint.md").write_text("\n".join(lines))
    # start-up time: twin.output loads matplotlib (~0.4 s); only this command needs it
    from twin.output.pages.answers import write_breakpoint_html

    write_breakpoint_html(bp, {"breakpoint": png}, out)
    return files


def cmd_breakpoint(args: argparse.Namespace) -> int:
    # start-up time: the breakpoint loads the simulator; only this command needs it
    from twin.compare.breakpoint import Growth, find_breakpoint

    g = Growth(
        args.grow,
        sets_per_year=args.sets_per_year,
        from_month=args.from_month,
        step_pct=args.step_pct,
        step_cameras=args.step_cameras,
        max_level=args.max_level,
    )
    out = (
        Path(args.out)
        if args.out
        else Path("out") / f"breakpoint-{Path(args.scenario).stem}-{args.grow}"
    )
    con = _console()
    bp = find_breakpoint(
        args.scenario,
        g,
        args.backend,
        args.days,
        None if args.quiet else (lambda msg: con.print(f"[dim]{msg}[/]", highlight=False)),
    )
    _write_breakpoint(bp, out)
    t = Table(title=f"{Path(bp.scenario).name}: growing {g.kind}")
    for col in ("level", "load", "targets", "most loaded resource", "demand %"):
        t.add_column(col, justify="right" if col in ("level", "demand %") else "left")
    for lv in bp.levels:
        k, where, v = lv.top()
        t.add_row(
            str(lv.level),
            lv.label,
            "[green]PASS[/]" if lv.passed else "[red]FAIL[/] " + ", ".join(lv.failed),
            f"{k} {where}",
            f"{v:.1f}",
        )
    _print_wide(t, 150)
    for n in (*bp.notes, *bp.not_modelled):
        con.print(f"[yellow]note:[/] {n}", highlight=False)
    b = bp.binding()  # None only when nothing fails
    if bp.first_fail is None or b is None:
        con.print("[green]no target fails[/] within the levels tried", highlight=False)
    else:
        con.print(
            f"[bold red]breaks first in {bp.when()}[/] ({bp.first_fail.label}): "
            f"{', '.join(bp.first_fail.failed)}; binding resource: [bold]{b[0]}[/] of "
            f"[bold]{b[1]}[/] at {b[2]:.1f} % of capacity",
            highlight=False,
        )
    con.print(
        f"report: {out / 'report.html'} (and breakpoint.md)   plot: {out / 'breakpoint.png'}   "
        f"table: {out / 'breakpoint.csv'}"
    )
    return 0 if bp.first_fail is not None else 1


def register_breakpoint(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser(
        "breakpoint",
        help="grow a scenario's load until its first target fails; "
        "name the binding resource and when",
    )
    b.add_argument("scenario")
    b.add_argument(
        "--grow",
        choices=("sets", "bitrate", "cameras_per_set"),
        default="sets",
        help="what grows: sets along the roll-out, every bitrate, or cameras per set",
    )
    b.add_argument(
        "--sets-per-year",
        type=float,
        default=2250.0,
        help="with --grow sets: roll-out rate (default 2250; the programme: 2,000-2,500)",
    )
    b.add_argument(
        "--from-month",
        help="with --grow sets: first month of growth, YYYY-MM "
        "(default: the month after the scenario's last roll-out step)",
    )
    b.add_argument(
        "--step-pct",
        type=float,
        default=1.0,
        help="with --grow bitrate: percent of the base bitrate per level (default 1)",
    )
    b.add_argument(
        "--step-cameras",
        type=float,
        default=0.05,
        help="with --grow cameras_per_set: mean cameras per set per level (default 0.05)",
    )
    b.add_argument(
        "--max-level",
        type=int,
        default=120,
        help="highest level tried (months, bitrate or camera steps; default 120)",
    )
    b.add_argument("--out", help="output folder (default out/breakpoint-<stem>-<grow>)")
    b.add_argument(
        "--backend",
        choices=("ray", "local"),
        default="ray",
        help="ray: the ladder of levels as Ray tasks; local: one after another",
    )
    b.add_argument("--days", type=float, help="simulated days per level (default: the scenario's)")
    b.add_argument("--quiet", action="store_true", help="no progress lines")
    b.set_defaults(fn=cmd_breakpoint)
