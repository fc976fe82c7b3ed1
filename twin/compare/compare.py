"""Side-by-side comparison of runs: one column per variant, one row per metric.

Theory of operation
-------------------
Every input is a `Results` (both engines write the same schema), so a comparison is plain
data: the union of the runs' metrics, key deployment metrics first, then the rest (failure
drill metrics such as footage lost and time to recover appear when the runs report them).
Each column after the first gets its difference from the first, absolute and relative, and
a verdict "better"/"worse" from `METRICS[name].better`. Above the metrics, the inputs that
differ: each scenario merged with its bases (twin/scenario/overlay.py) and validated, then
compared field by field (`differences`), so two overlays that change one field list that
field and nothing else; a run folder's scenario is read from the file its results name,
when that file is still there and unchanged (same SHA-256), else the comparison says so.
When two columns are the same scenario (same SHA-256) from different engines, their
difference is the twin's fidelity and gets its own table. Nothing here invents a figure: a metric a
run did not measure is shown as "-", and what a run does not model (analyser compute, without an
`analytics:` section) is named as missing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.compare.fidelity import (
    FidelityTable,
    fidelity_markdown,
    fidelity_table,
    scenario_fidelity_targets,
)
from twin.compare.runs import is_scenario_file
from twin.errors import ScenarioError
from twin.metrics import METRICS
from twin.model.results import Results, ScenarioInfo
from twin.model.verdict import failed_targets
from twin.scenario import load_scenario
from twin.scenario.overlay import differences

__all__ = [
    "KEY_METRICS",
    "Column",
    "Row",
    "Comparison",
    "InputDiff",
    "compare",
    "fmt",
    "scenario_inputs",
    "input_differences",
    "input_markdown",
    "write_markdown",
    "write_csv",
    "short_value",
]

#: Shown first, in this order, when present: what an architect weighs first.
KEY_METRICS: tuple[str, ...] = (
    "sets",
    "cameras",
    "recorders",
    "recorders_needed",
    "disk_total_tb",
    "storage_model_tb",
    "storage_needed_tb",
    "disks",
    "disks_needed",
    "storage_headroom_pct",
    "storage_headroom_pct_min",
    "ingest_total_mbps",
    "recorder_ingest_util_pct_max",
    "recorder_streams_util_pct_max",
    "backhaul_util_pct_max",
    "segments_dropped",
    "camera_minutes_lost",
    "recovery_s_max",
    "max_gap_s",
    "cameras_affected",
    "cost_recorders_hkd",
    "cost_disk_hkd",
    "cost_backhaul_hkd",
    "cost_total_hkd",
    "analytics_compute_needed",
    "analytics_compute_provisioned",
    "analytics_util_pct_max",
    "analytics_cameras_not_analysed",
    "analytics_frames_dropped_pct",
    "analytics_alert_latency_s_p50",
    "analytics_alert_latency_s_p95",
    "analytics_alert_latency_s_p99",
)
#: Words that mark a failure-drill metric (from the faults work), listed right after the keys.
DRILL_WORDS: tuple[str, ...] = ("lost", "recover", "failover", "drill", "outage", "unrecorded")


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    results: Results

    @property
    def failed_targets(self) -> tuple[str, ...]:
        """Targets missed, leaving out `live_*` ones on a simulated run (not measurable)."""
        return tuple(t.metric for t in failed_targets(self.results))

    @property
    def passed(self) -> bool:
        return not self.failed_targets


@dataclass(frozen=True, slots=True)
class Row:
    metric: str
    unit: str
    better: str
    values: tuple[float | None, ...]

    def delta(self, i: int) -> tuple[float | None, float | None]:
        """(absolute, relative %) of column i against column 0; None where undefined."""
        a, b = self.values[0], self.values[i]
        if a is None or b is None:
            return None, None
        rel = None if a == 0 else 100.0 * (b - a) / abs(a)
        return b - a, rel

    def delta_text(self, i: int) -> tuple[str, str]:
        """(signed difference, signed percent) of column i against column 0, as shown."""
        d, rel = self.delta(i)
        if d is None:
            return "-", "-"
        if abs(d) < 1e-9:
            return "0", "0 %" if rel is not None else "-"
        return ("+" if d > 0 else "") + fmt(d), "-" if rel is None else f"{rel:+.1f} %"

    def verdict(self, i: int) -> str:
        """'better', 'worse' or 'same' for column i against column 0 ('' if not measured)."""
        d, _ = self.delta(i)
        if d is None:
            return ""
        if abs(d) < 1e-9:
            return "same"
        return "better" if (d < 0) == (self.better == "lower") else "worse"


@dataclass(frozen=True, slots=True)
class InputDiff:
    """The inputs of column i that differ from column 0's, or why they are not known."""

    column: int
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (path, value in 0, value in i)
    unknown: str = ""  # why the scenarios cannot be compared ("" when they were)

    def shown(self, width: int = 200) -> list[tuple[str, str, str]]:
        """The fields as shown in a report: (path, reference's value, variant's value)."""
        return [(p, short_value(a, width), short_value(b, width)) for p, a, b in self.fields]


def short_value(v: Any, width: int = 60) -> str:
    """A scenario value as one line: numbers and strings as they are, the rest as JSON."""
    if v is None:
        return "(absent)"
    text = v if isinstance(v, str) else json.dumps(v, separators=(", ", ": "), default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass(frozen=True, slots=True)
class Comparison:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    fidelity: tuple[tuple[int, int], ...]  # (simulate column, live column) pairs
    inputs: tuple[InputDiff, ...] = field(default=())  # per column after the first

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.columns)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.columns)

    def fidelity_tables(self) -> list[tuple[FidelityTable, str]]:
        """Each (simulate, live) pair's fidelity table, judged on the scenario's `fidelity:`
        targets when its file is at hand and unchanged (else the note says why not)."""
        out = []
        for i, j in self.fidelity:
            sim, live = self.columns[i].results, self.columns[j].results
            targets, note = scenario_fidelity_targets(live)
            out.append((fidelity_table(live, sim, targets), note))
        return out

    def row(self, metric: str) -> Row:
        return next(r for r in self.rows if r.metric == metric)

    def missing(self) -> list[str]:
        """What the comparison cannot show, said plainly rather than filled in."""
        names = {r.metric for r in self.rows}
        out = []
        with_analytics = [
            c.label for c in self.columns if "analytics_compute_needed" in c.results.metrics
        ]
        if not with_analytics:
            out.append(
                "Analyser compute: none of these runs has an `analytics:` section, so "
                "it is left out (no figures invented)."
            )
        elif len(with_analytics) < len(self.columns):
            out.append(
                "Analyser compute: only " + ", ".join(with_analytics) + " model it (an "
                '`analytics:` section); the others show "-".'
            )
        if not {"camera_minutes_lost", "recovery_s_max"} & names:
            out.append(
                "Footage lost in a failure drill and time to recover: none of these "
                "runs reports them (no faults injected, or the engine predates them)."
            )
        if "cost_total_hkd" not in names:
            out.append("Cost: none of these scenarios has a `costs:` section of unit prices.")
        return out


def _labels(results: list[Results], names: list[str] | None) -> list[str]:
    labels = list(names) if names else [r.scenario.name for r in results]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} ({r.engine})" for lab, r in zip(labels, results)]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} #{seen[lab]}")
    return out


def _order(names: set[str]) -> list[str]:
    keys = [m for m in KEY_METRICS if m in names]
    drills = sorted(n for n in names - set(keys) if any(w in n for w in DRILL_WORDS))
    rest = sorted(names - set(keys) - set(drills))
    return keys + drills + rest


def scenario_inputs(
    items: Sequence[str | Path], infos: Sequence[ScenarioInfo], sets: Sequence[str] = ()
) -> list[dict[str, Any] | str]:
    """Each input's scenario as run (merged with its bases, `sets` applied, validated, in
    its canonical form), or why it is not known: a scenario file is read again; a run folder
    or results.json by the file its results name, if still there and unchanged."""

    out: list[dict[str, Any] | str] = []
    for item, info in zip(items, infos):
        p = Path(item)
        if is_scenario_file(p):
            path, use = p, tuple(sets)
        else:
            src, _, tail = info.source.partition("#")
            path, use = Path(src), ()
            if tail or not path.is_file():
                out.append(f"{item}: its scenario file ({info.source}) is not here as run")
                continue
        try:
            sc = load_scenario(path, check_memory=False, sets=use)
        except ScenarioError as err:
            out.append(f"{path} does not load ({str(err).splitlines()[0]})")
            continue
        canon = sc.canonical_json()
        if hashlib.sha256(canon.encode()).hexdigest() != info.sha256:
            out.append(f"{path} changed since {item} was run (SHA-256 differs)")
            continue
        out.append(json.loads(canon))
    return out


def input_differences(scenarios: Sequence[dict[str, Any] | str] | None) -> tuple[InputDiff, ...]:
    """Each scenario's inputs that differ from the first's (from `scenario_inputs`)."""
    if scenarios is None:
        return ()
    ref = scenarios[0]
    out = []
    for i in range(1, len(scenarios)):
        sc = scenarios[i]
        if isinstance(ref, str) or isinstance(sc, str):
            why = "; ".join(x for x in (ref, sc) if isinstance(x, str))
            out.append(InputDiff(i, (), f"not compared: {why}"))
        else:
            out.append(InputDiff(i, tuple(differences(ref, sc))))
    return tuple(out)


def compare(
    results: list[Results],
    labels: list[str] | None = None,
    scenarios: Sequence[dict[str, Any] | str] | None = None,
) -> Comparison:
    """Line up runs side by side; the first is the reference for differences. With each
    run's scenario (`scenario_inputs`), the inputs that differ from the first's too."""
    if not results:
        raise ValueError("compare needs at least one run")
    cols = tuple(Column(lab, r) for lab, r in zip(_labels(results, labels), results))
    names = set().union(*(r.metrics for r in results))
    rows = []
    for m in _order(names):
        info = METRICS.get(m)
        rows.append(
            Row(
                m,
                info.unit if info else "",
                info.better if info else "lower",
                tuple(c.results.metrics.get(m) for c in cols),
            )
        )
    fidelity = []
    for i, a in enumerate(cols):
        for j, b in enumerate(cols):
            # The same scenario on both engines; the name is enough when the hash differs
            # (a field added to the schema changes every hash), and the report says so.
            if (a.results.engine, b.results.engine) == ("simulate", "live") and (
                a.results.scenario.sha256 == b.results.scenario.sha256
                or a.results.scenario.name == b.results.scenario.name
            ):
                fidelity.append((i, j))
    return Comparison(cols, tuple(rows), tuple(fidelity), input_differences(scenarios))


def fmt(v: float | None, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if v == int(v) or abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:,.{nd}f}"


def _signed(d: float | None, rel: float | None) -> str:
    if d is None:
        return "-"
    s = ("+" if d > 0 else "") + fmt(d)
    return s if rel is None else f"{s} ({rel:+.1f} %)"


def write_markdown(c: Comparison, out: Path, plots: dict[str, str]) -> Path:
    labels = c.labels
    lines = [f"# Comparison: {' vs '.join(labels)}", ""]
    lines += ["| variant | engine | scenario | targets |", "| --- | --- | --- | --- |"]
    for col in c.columns:
        r = col.results
        verdict = (
            "PASS" if col.passed else "**FAIL**: " + ", ".join(f"`{m}`" for m in col.failed_targets)
        )
        lines.append(f"| {col.label} | {r.engine} | `{r.scenario.source}` | {verdict} |")
    lines += input_markdown(c.labels, c.inputs)
    head = "| metric | unit | better | " + labels[0] + " |"
    rule = "| --- | --- | --- | ---: |"
    for lab in labels[1:]:
        head += f" {lab} | {lab} - {labels[0]} | % |"
        rule += " ---: | ---: | ---: |"
    lines += [
        "",
        f"## Metrics: each against {labels[0]}" if len(labels) > 1 else "## Metrics",
        "",
        "Difference = variant - reference; % relative to the reference; **better** or "
        "**worse** by the metric's direction (`better`)."
        if len(labels) > 1
        else "",
        "",
        head,
        rule,
    ]
    for row in c.rows:
        line = f"| `{row.metric}` | {row.unit} | {row.better} | {fmt(row.values[0])} |"
        for i in range(1, len(labels)):
            d, rel = row.delta_text(i)
            v = row.verdict(i)
            mark = f" **{v}**" if v in ("better", "worse") else ""
            line += f" {fmt(row.values[i])} | {d}{mark} | {rel} |"
        lines.append(line)
    for table, note in c.fidelity_tables():
        a, b = table.simulate, table.live
        lines += [
            "",
            f"## Fidelity: {b.scenario.name} live against simulated",
            "",
            "The same deployment on both engines, measured the same way "
            "(twin/compare/fidelity.py): the difference is the twin's error. "
            + (
                "Same scenario SHA-256."
                if table.same_scenario
                else "**The scenario SHA-256 differs** (the file or the schema changed between "
                "the runs): check before trusting it."
            )
            + f" Live {b.horizon_s:,.0f} s, simulated {a.horizon_s:,.0f} s."
            + (f" {note}." if note else ""),
            "",
        ]
        lines += fidelity_markdown(table)
        if table.judged:
            lines += [
                "",
                (
                    "Fidelity targets: PASS"
                    if table.passed
                    else "Fidelity targets: **FAIL**: " + "; ".join(table.failure_lines())
                ),
            ]
    missing = c.missing()
    if missing:
        lines += ["", "## Not in this comparison", ""] + [f"- {m}" for m in missing]
    if plots:
        lines += ["", "## Plots", ""]
        for role, name in plots.items():
            lines += [f"![{role}]({name})", ""]
    lines += [
        "",
        "Costs use the unit prices in each scenario's `costs:` section: assumptions, not quotes.",
        "",
    ]
    path = out / "comparison.md"
    path.write_text("\n".join(lines))
    return path


def input_markdown(labels: Sequence[str], diffs: Sequence[InputDiff]) -> list[str]:
    """The inputs that differ, per variant against the reference (Markdown lines)."""
    lines: list[str] = []
    ref = labels[0]
    for d in diffs:
        lab = labels[d.column]
        lines += ["", f"## Inputs that differ: {lab} against {ref}", ""]
        if d.unknown:
            lines.append(f"Not known: {d.unknown}.")
        elif not d.fields:
            lines.append("None: the same scenario (names and descriptions aside).")
        else:
            lines += [
                f"{len(d.fields)} field(s), from the scenarios as run (bases merged; names "
                "and descriptions aside):",
                "",
                f"| path | {ref} | {lab} |",
                "| --- | --- | --- |",
            ]
            lines += [
                f"| `{p}` | {short_value(a, 200)} | {short_value(b, 200)} |" for p, a, b in d.fields
            ]
    return lines


def write_csv(c: Comparison, out: Path) -> dict[str, str]:
    """comparison.csv (metrics, differences against the first) and districts.csv."""
    labels = c.labels
    with (out / "comparison.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "metric",
                "unit",
                "better",
                *labels,
                *[f"{lab} - {labels[0]}" for lab in labels[1:]],
                *[f"{lab} vs {labels[0]} (%)" for lab in labels[1:]],
            ]
        )
        w.writerow(
            [
                "targets_passed",
                "",
                "higher",
                *[int(col.passed) for col in c.columns],
                *[""] * (2 * (len(labels) - 1)),
            ]
        )
        for row in c.rows:
            deltas = [row.delta(i) for i in range(1, len(labels))]
            w.writerow(
                [
                    row.metric,
                    row.unit,
                    row.better,
                    *["" if v is None else f"{v:.6g}" for v in row.values],
                    *["" if d is None else f"{d:.6g}" for d, _ in deltas],
                    *["" if r is None else f"{r:.4g}" for _, r in deltas],
                ]
            )
    with (out / "districts.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        keys = [
            "storage_model_tb",
            "ingest_mbps",
            "backhaul_mbps",
            "backhaul_util_pct",
            "segments_dropped",
        ]
        w.writerow(["variant", "district", *keys])
        for col in c.columns:
            for d in col.results.per_district:
                w.writerow([col.label, d.get("district", ""), *[d.get(k, "") for k in keys]])
    return {"table": "comparison.csv", "districts": "districts.csv"}
