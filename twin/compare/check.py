"""`twin check`: CI's guard on the scenarios: every target met, no metric worse than its baseline.

Theory of operation
-------------------
Every scenario file directly in a folder (never its `variants/`, which hold deliberately
failing deployments) is simulated in-process and judged twice:

- on its own targets (one JUnit test case per target);
- against the stored baseline (`baseline.json` in the folder): each metric the baseline
  has may not move in the wrong direction (`METRICS[name].better`) by more than the
  tolerance, relative to the baseline value (absolute when the baseline is 0, so one
  dropped segment against a baseline of none is a regression). A metric that disappeared
  is a regression too; a new metric is listed, not judged. `--update-baseline` rewrites
  the baseline from this run, on purpose, in a commit a reviewer sees.

Targets on `live_*` metrics are measured by `twin live` only: on a simulated run they are
reported as skipped, not failed (a live scenario's simulated metrics still get a baseline).
Runs are deterministic for a scenario and seed, so any change is a real change.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from twin.compare.fidelity import FidelityTable, fidelity_markdown, fidelity_table
from twin.errors import ScenarioError, UsageError
from twin.metrics import METRICS
from twin.model import verdict
from twin.model.results import (
    Results,
    TargetVerdict,
    read_live_results,
    shared_source,
    write_results,
)
from twin.model.verdict import live_only
from twin.scenario import load_scenario
from twin.scenario.overlay import set_source
from twin.sim.run import run_scenario
from twin.sim.simulated_scenario import live_detect_shift

__all__ = [
    "Regression",
    "ScenarioCheck",
    "CheckReport",
    "scenario_files",
    "regressions",
    "load_baseline",
    "baseline_from",
    "check_folder",
    "write_junit",
    "write_summary",
]

BASELINE_SCHEMA = "cctv-twin/baseline"
DEFAULT_TOLERANCE_PCT = 2.0


@dataclass(frozen=True, slots=True)
class Regression:
    scenario: str
    metric: str
    baseline: float
    value: float | None
    tolerance_pct: float

    @property
    def message(self) -> str:
        info = METRICS.get(self.metric)
        unit = f" {info.unit}" if info else ""
        if self.value is None:
            return (
                f"{self.scenario}: {self.metric} is no longer reported (baseline "
                f"{self.baseline:g}{unit}); if that is on purpose, run "
                "`twin check --update-baseline`"
            )
        rel = (
            ""
            if self.baseline == 0
            else f", {100 * (self.value - self.baseline) / abs(self.baseline):+.2f} %"
        )
        better = info.better if info else "lower"
        return (
            f"{self.scenario}: {self.metric} worsened: baseline {self.baseline:g}{unit}, "
            f"now {self.value:g}{unit} ({better} is better{rel}; tolerance "
            f"{self.tolerance_pct:g} %)"
        )


@dataclass(slots=True)
class ScenarioCheck:
    path: Path
    name: str
    results: Results | None = None
    error: str | None = None
    regressions: list[Regression] = field(default_factory=list)
    new_metrics: list[str] = field(default_factory=list)
    has_baseline: bool = False
    scenario_changed: bool = False
    wall_s: float = 0.0
    fidelity: FidelityTable | None = None  # with `--live RUN` of this scenario

    @property
    def judged_targets(self) -> list[TargetVerdict]:
        """The targets this run's engine measures (see `live_only`)."""
        return [] if self.results is None else verdict.judged_targets(self.results)

    @property
    def failed_targets(self) -> list[TargetVerdict]:
        return [] if self.results is None else verdict.failed_targets(self.results)

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.results is not None
            and not self.failed_targets
            and not self.regressions
            and (self.fidelity is None or self.fidelity.passed)
        )


@dataclass(slots=True)
class CheckReport:
    checks: list[ScenarioCheck]
    tolerance_pct: float
    baseline_path: Path
    updated_baseline: bool = False

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def exit_code(self) -> int:
        if any(c.error for c in self.checks):
            return 2
        return 0 if self.passed else 1


def scenario_files(folder: Path) -> list[Path]:
    """Scenario files directly in `folder`, sorted; sub-folders (variants/) are not read."""
    if not folder.is_dir():
        raise ScenarioError(
            f"{folder}: not a folder; pass the scenarios folder, e.g. `twin check scenarios`"
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    if not files:
        raise ScenarioError(f"{folder}: no scenario files (*.yaml) in it")
    return files


def regressions(
    name: str,
    metrics: dict[str, float],
    baseline: dict[str, float],
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
) -> list[Regression]:
    """Each baseline metric that got worse than the tolerance allows, in name order."""
    out = []
    for m in sorted(baseline):
        base, now = baseline[m], metrics.get(m)
        if now is None:
            out.append(Regression(name, m, base, None, tolerance_pct))
            continue
        allowed = max(abs(base) * tolerance_pct / 100.0, 1e-9)
        worse = (
            now - base
            if METRICS.get(m, METRICS["segments_dropped"]).better == "lower"
            else base - now
        )
        if worse > allowed:
            out.append(Regression(name, m, base, now, tolerance_pct))
    return out


def load_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """{scenario name: {"sha256", "source", "metrics"}}; empty if there is no baseline yet."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ScenarioError(
            f"{path}: not valid JSON ({err}); restore it from git or run "
            "`twin check --update-baseline`"
        ) from None
    if data.get("schema") != BASELINE_SCHEMA:
        raise ScenarioError(f"{path}: schema {data.get('schema')!r}, expected {BASELINE_SCHEMA!r}")
    return dict(data.get("scenarios", {}))


def baseline_from(checks: list[ScenarioCheck]) -> dict[str, Any]:
    return {
        "schema": BASELINE_SCHEMA,
        "version": 1,
        "note": "Written by `twin check --update-baseline`; review its diff like code.",
        "scenarios": {
            c.name: {
                "source": c.path.name,
                "sha256": c.results.scenario.sha256,
                "metrics": dict(sorted(c.results.metrics.items())),
            }
            for c in checks
            if c.results is not None
        },
    }


def _run_file(path: Path, days: float | None, sets: tuple[str, ...] = ()) -> ScenarioCheck:
    """Load and simulate one scenario file, each `--set PATH=VALUE` of `sets` applied (in a
    worker process when jobs > 1)."""
    c = ScenarioCheck(path, path.stem)
    t0 = time.perf_counter()
    try:
        sc = load_scenario(path, sets=sets)
        c.name = sc.name
        c.results = run_scenario(sc, set_source(path, sets), days)
    except ScenarioError as err:
        c.error = str(err)
    c.wall_s = time.perf_counter() - t0
    return c


Progress = Callable[[int, int, "ScenarioCheck"], None]


def _run_all(
    files: list[Path],
    days: float | None,
    jobs: int,
    progress: Progress | None,
    sets: tuple[str, ...] = (),
) -> list[ScenarioCheck]:
    """Every file's check, in file order whatever order they finish in."""
    if jobs <= 1 or len(files) == 1:
        out: list[ScenarioCheck] = []
        for i, f in enumerate(files):
            out.append(_run_file(f, days, sets))
            if progress:
                progress(i + 1, len(files), out[-1])
        return out
    # Separate processes (spawned: no fork of a process with threads), largest files first
    # so the longest runs start early; a scenario run is CPU-bound numpy + SimPy.

    by_size = sorted(files, key=lambda f: -f.stat().st_size)
    done: dict[Path, ScenarioCheck] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_file, f, days, sets) for f in by_size]
        for fut in as_completed(futures):
            c = fut.result()
            done[c.path] = c
            if progress:
                progress(len(done), len(files), c)
    return [done[f] for f in files]


def _live_runs(paths: list[Path], accept_invalid: bool = False) -> list[Results]:

    out = []
    for p in paths:
        try:
            out.append(read_live_results(p, accept_invalid, "`twin check --live`"))
        except ValueError as err:
            raise UsageError(f"--live {err}") from None
    return out


def judge_fidelity(
    checks: list[ScenarioCheck],
    live: list[Results],
    sets: tuple[str, ...] = (),
    days: float | None = None,
) -> None:
    """Each live run against its scenario's simulation, on the scenario's `fidelity:`; a
    run that detected a crash later than planned against a simulation with its detection
    (twin.sim.simulated_scenario)."""
    by_name = {c.name: c for c in checks if c.results is not None}
    for res in live:
        c = by_name.get(res.scenario.name)
        if c is None:
            raise UsageError(
                f"--live: the run of {res.scenario.name!r} matches no scenario of "
                f"the folder; expected one of {sorted(by_name)}"
            )
        sc = load_scenario(c.path, check_memory=False, sets=sets)
        assert c.results is not None
        sim = c.results
        shift = live_detect_shift(sc, res)
        if shift:  # compared as the live run ran it: its crash detection, not the plan's
            sim = run_scenario(sc, str(c.path), days, detect_shift_s=shift)
        c.fidelity = fidelity_table(res, sim, sc.fidelity or {})


def check_folder(
    folder: Path,
    out: Path,
    baseline_path: Path | None = None,
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    update_baseline: bool = False,
    days: float | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
    live: list[Path] | None = None,
    sets: tuple[str, ...] = (),
    accept_invalid: bool = False,
) -> CheckReport:
    """Run and judge every scenario in `folder` (`jobs` at a time), each `--set PATH=VALUE`
    of `sets` applied to every one; results.json of each under `out/<stem>/`. Each `live`
    run folder is judged against its scenario's simulation on the scenario's `fidelity:`
    targets."""
    baseline_path = baseline_path or folder / "baseline.json"
    files = scenario_files(folder)
    base = {} if update_baseline else load_baseline(baseline_path)
    live_runs = _live_runs(live or [], accept_invalid)
    checks = _run_all(files, days, jobs, progress, sets)
    judge_fidelity(checks, live_runs, sets, days)
    for c in checks:
        path = c.path
        if c.results is not None:
            (out / path.stem).mkdir(parents=True, exist_ok=True)
            write_results(c.results, out / path.stem)
            entry = base.get(c.name)
            if entry is not None:
                c.has_baseline = True
                c.scenario_changed = entry.get("sha256") != c.results.scenario.sha256
                c.regressions = regressions(
                    c.name, c.results.metrics, entry["metrics"], tolerance_pct
                )
                c.new_metrics = sorted(set(c.results.metrics) - set(entry["metrics"]))
    report = CheckReport(checks, tolerance_pct, baseline_path)
    if update_baseline:
        baseline_path.write_text(
            json.dumps(baseline_from(checks), indent=2, sort_keys=False) + "\n"
        )
        report.updated_baseline = True
    return report


def _bound(t: TargetVerdict) -> str:
    return " and ".join(
        x
        for x in (
            f">= {t.min:g}" if t.min is not None else "",
            f"<= {t.max:g}" if t.max is not None else "",
        )
        if x
    )


def write_junit(report: CheckReport, path: Path) -> Path:
    """JUnit XML: per scenario a suite, one case per target and one for the baseline."""
    root = ET.Element("testsuites", name="twin check")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for c in report.checks:
        suite = ET.SubElement(root, "testsuite", name=c.name, file=shared_source(c.path))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        cls = f"twin.check.{c.path.stem}"

        def case(
            name: str,
            secs: float = 0.0,
            suite: ET.Element = suite,
            counts: dict[str, int] = counts,
            cls: str = cls,
        ) -> ET.Element:
            # This iteration's suite, counts and class are bound here, not looked up when called.
            counts["tests"] += 1
            return ET.SubElement(suite, "testcase", classname=cls, name=name, time=f"{secs:.3f}")

        if c.error is not None:
            e = ET.SubElement(
                case("scenario", c.wall_s),
                "error",
                message=c.error.splitlines()[0],
                type="ScenarioError",
            )
            e.text = c.error
            counts["errors"] += 1
        else:
            assert c.results is not None
            for t in c.results.targets:
                tc = case(f"target {t.metric} {_bound(t)} {t.unit}")
                if live_only(t.metric, c.results.engine):
                    ET.SubElement(
                        tc,
                        "skipped",
                        message=f"{t.metric} is measured by `twin live` "
                        "only; this run was simulated",
                    )
                    counts["skipped"] += 1
                elif not t.passed:
                    measured = "not measured" if t.value is None else f"{t.value:g} {t.unit}"
                    msg = f"{c.name}: target {t.metric} {_bound(t)} {t.unit}: measured {measured}"
                    ET.SubElement(tc, "failure", message=msg, type="TargetFailed").text = msg
                    counts["failures"] += 1
            tc = case("baseline", c.wall_s)
            if report.updated_baseline:
                ET.SubElement(tc, "skipped", message="baseline updated by this run")
                counts["skipped"] += 1
            elif not c.has_baseline:
                ET.SubElement(
                    tc,
                    "skipped",
                    message=f"{c.name}: no baseline; run "
                    "`twin check --update-baseline` to record one",
                )
                counts["skipped"] += 1
            elif c.regressions:
                text = "\n".join(r.message for r in c.regressions)
                ET.SubElement(
                    tc, "failure", message=c.regressions[0].message, type="Regression"
                ).text = text
                counts["failures"] += 1
            if c.fidelity is not None:
                for row in c.fidelity.judged:
                    fc = case(f"fidelity {row.metric} {row.bound}")
                    if not row.passed:
                        msg = f"{c.name}: " + next(
                            x
                            for x in c.fidelity.failure_lines()
                            if x.startswith(f"fidelity {row.metric}:")
                        )
                        ET.SubElement(fc, "failure", message=msg, type="FidelityFailed").text = msg
                        counts["failures"] += 1
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_summary(report: CheckReport, path: Path) -> Path:
    """A Markdown summary: one line per scenario, then every failure in full."""
    lines = [
        f"# twin check: {'PASS' if report.passed else 'FAIL'}",
        "",
        f"Baseline `{shared_source(report.baseline_path)}`"
        + (" (updated by this run)" if report.updated_baseline else "")
        + f", tolerance {report.tolerance_pct:g} % (relative; direction from "
        "`twin.metrics.METRICS[name].better`).",
        "",
        "| scenario | targets | baseline | verdict | run (s) |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for c in report.checks:
        if c.error is not None:
            lines.append(f"| `{c.path.name}` | invalid | - | **ERROR** | {c.wall_s:.1f} |")
            continue
        assert c.results is not None
        judged = c.judged_targets
        n_ok = sum(t.passed for t in judged)
        n_live = len(c.results.targets) - len(judged)
        if report.updated_baseline:
            base = "updated"
        elif not c.has_baseline:
            base = "none yet"
        else:
            base = f"{len(c.regressions)} worse" if c.regressions else "no regression"
            if c.scenario_changed:
                base += " (scenario changed)"
        met = f"{n_ok}/{len(judged)} met" + (f" ({n_live} live-only, skipped)" if n_live else "")
        lines.append(
            f"| `{c.path.name}` ({c.name}) | {met} | "
            f"{base} | {'PASS' if c.passed else '**FAIL**'} | {c.wall_s:.1f} |"
        )
    problems = []
    for c in report.checks:
        if c.error is not None:
            problems.append(f"- {c.error}")
        elif c.results is not None:
            problems += [
                f"- {c.name}: target `{t.metric}` {_bound(t)} {t.unit}: measured "
                f"{'not measured' if t.value is None else f'{t.value:g}'}"
                for t in c.failed_targets
            ]
            problems += [f"- {r.message}" for r in c.regressions]
            if c.fidelity is not None:
                problems += [f"- {c.name}: {x}" for x in c.fidelity.failure_lines()]
            if c.new_metrics:
                problems.append(
                    f"- {c.name}: new metrics, not in the baseline (not judged): "
                    + ", ".join(f"`{m}`" for m in c.new_metrics)
                )
    if problems:
        lines += ["", "## Details", "", *problems]
    for c in report.checks:
        if c.fidelity is not None:
            lines += [
                "",
                f"## Fidelity: {c.name}, live against simulated",
                "",
                *fidelity_markdown(c.fidelity),
            ]
    lines.append("")
    path.write_text("\n".join(lines))
    return path
