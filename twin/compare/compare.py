"""Side-by-side comparison of runs: one column per variant, one row per metric.

Theory of operation
-------------------
Every input is a `Results` (both engines write the same schema), so a comparison is plain
data: the union of the runs' metrics, key deployment metrics first, then the rest (failure
drill metrics such as footage lost and time to recover appear when the runs report them).
Each column after the first gets its difference from the first, absolute and relative, and
a verdict "better"/"worse" from `METRICS[name].better`. When two columns are the same
scenario (same SHA-256) from different engines, their difference is the twin's fidelity
and gets its own table. Nothing here invents a figure: a metric a run did not measure is
shown as "-", and what a run does not model (analyser compute, without an `analytics:`
section) is named as missing.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from twin.compare.fidelity import (FidelityTable, fidelity_markdown, fidelity_table,
                                   scenario_fidelity_targets)
from twin.compare.verdict import failed_targets
from twin.metrics import METRICS
from twin.results import Results

__all__ = ["KEY_METRICS", "Column", "Row", "Comparison", "compare", "fmt", "write_markdown",
           "write_csv"]

#: Shown first, in this order, when present: what an architect weighs first.
KEY_METRICS: tuple[str, ...] = (
    "sets", "cameras", "recorders", "recorders_needed", "disk_total_tb", "storage_model_tb",
    "storage_needed_tb", "disks", "disks_needed", "storage_headroom_pct",
    "storage_headroom_pct_min", "ingest_total_mbps", "recorder_ingest_util_pct_max",
    "recorder_streams_util_pct_max", "backhaul_util_pct_max", "segments_dropped",
    "camera_minutes_lost", "recovery_s_max", "max_gap_s", "cameras_affected",
    "cost_recorders_hkd", "cost_disk_hkd", "cost_backhaul_hkd", "cost_total_hkd",
    "analytics_compute_needed", "analytics_compute_provisioned", "analytics_util_pct_max",
    "analytics_cameras_not_analysed", "analytics_frames_dropped_pct",
    "analytics_alert_latency_s_p50", "analytics_alert_latency_s_p95",
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

    def verdict(self, i: int) -> str:
        """'better', 'worse' or 'same' for column i against column 0 ('' if not measured)."""
        d, _ = self.delta(i)
        if d is None:
            return ""
        if abs(d) < 1e-9:
            return "same"
        return "better" if (d < 0) == (self.better == "lower") else "worse"


@dataclass(frozen=True, slots=True)
class Comparison:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    fidelity: tuple[tuple[int, int], ...]  # (simulate column, live column) pairs

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
        with_analytics = [c.label for c in self.columns
                          if "analytics_compute_needed" in c.results.metrics]
        if not with_analytics:
            out.append("Analyser compute: none of these runs has an `analytics:` section, so "
                       "it is left out (no figures invented).")
        elif len(with_analytics) < len(self.columns):
            out.append("Analyser compute: only " + ", ".join(with_analytics) + " model it (an "
                       "`analytics:` section); the others show \"-\".")
        if not {"camera_minutes_lost", "recovery_s_max"} & names:
            out.append("Footage lost in a failure drill and time to recover: none of these "
                       "runs reports them (no faults injected, or the engine predates them).")
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


def compare(results: list[Results], labels: list[str] | None = None) -> Comparison:
    """Line up runs side by side; the first is the reference for differences."""
    if not results:
        raise ValueError("compare needs at least one run")
    cols = tuple(Column(lab, r) for lab, r in zip(_labels(results, labels), results))
    names = set().union(*(r.metrics for r in results))
    rows = []
    for m in _order(names):
        info = METRICS.get(m)
        rows.append(Row(m, info.unit if info else "", info.better if info else "lower",
                        tuple(c.results.metrics.get(m) for c in cols)))
    fidelity = []
    for i, a in enumerate(cols):
        for j, b in enumerate(cols):
            # The same scenario on both engines; the name is enough when the hash differs
            # (a field added to the schema changes every hash), and the report says so.
            if (a.results.engine, b.results.engine) == ("simulate", "live") and (
                    a.results.scenario.sha256 == b.results.scenario.sha256
                    or a.results.scenario.name == b.results.scenario.name):
                fidelity.append((i, j))
    return Comparison(cols, tuple(rows), tuple(fidelity))


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
        verdict = "PASS" if col.passed else "**FAIL**: " + ", ".join(f"`{m}`" for m in col.failed_targets)
        lines.append(f"| {col.label} | {r.engine} | `{r.scenario.source}` | {verdict} |")
    lines += ["", "## Metrics side by side", "",
              "| metric | unit | better | " + " | ".join(labels) + " |",
              "| --- | --- | --- |" + " ---: |" * len(labels)]
    for row in c.rows:
        lines.append(f"| `{row.metric}` | {row.unit} | {row.better} | "
                     + " | ".join(fmt(v) for v in row.values) + " |")
    if len(labels) > 1:
        lines += ["", f"## Differences against {labels[0]}", "",
                  "| metric | " + " | ".join(labels[1:]) + " |",
                  "| --- |" + " ---: |" * (len(labels) - 1)]
        for row in c.rows:
            cells = []
            for i in range(1, len(labels)):
                v = row.verdict(i)
                cells.append(_signed(*row.delta(i)) + (f" {v}" if v in ("better", "worse") else ""))
            lines.append(f"| `{row.metric}` | " + " | ".join(cells) + " |")
    for table, note in c.fidelity_tables():
        a, b = table.simulate, table.live
        lines += ["", f"## Fidelity: {b.scenario.name} live against simulated", "",
                  "The same deployment on both engines, measured the same way "
                  "(twin/compare/fidelity.py): the difference is the twin's error. "
                  + ("Same scenario SHA-256." if table.same_scenario else
                     "**The scenario SHA-256 differs** (the file or the schema changed between "
                     "the runs): check before trusting it.")
                  + f" Live {b.horizon_s:,.0f} s, simulated {a.horizon_s:,.0f} s."
                  + (f" {note}." if note else ""), ""]
        lines += fidelity_markdown(table)
        if table.judged:
            lines += ["", ("Fidelity targets: PASS" if table.passed else
                           "Fidelity targets: **FAIL**: " + "; ".join(table.failure_lines()))]
    missing = c.missing()
    if missing:
        lines += ["", "## Not in this comparison", ""] + [f"- {m}" for m in missing]
    if plots:
        lines += ["", "## Plots", ""]
        for role, name in plots.items():
            lines += [f"![{role}]({name})", ""]
    lines += ["", "Costs use the unit prices in each scenario's `costs:` section: assumptions, "
              "not quotes.", ""]
    path = out / "comparison.md"
    path.write_text("\n".join(lines))
    return path


def write_csv(c: Comparison, out: Path) -> dict[str, str]:
    """comparison.csv (metrics, differences against the first) and districts.csv."""
    labels = c.labels
    with (out / "comparison.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["metric", "unit", "better", *labels,
                    *[f"{lab} - {labels[0]}" for lab in labels[1:]],
                    *[f"{lab} vs {labels[0]} (%)" for lab in labels[1:]]])
        w.writerow(["targets_passed", "", "higher", *[int(col.passed) for col in c.columns],
                    *[""] * (2 * (len(labels) - 1))])
        for row in c.rows:
            deltas = [row.delta(i) for i in range(1, len(labels))]
            w.writerow([row.metric, row.unit, row.better,
                        *["" if v is None else f"{v:.6g}" for v in row.values],
                        *["" if d is None else f"{d:.6g}" for d, _ in deltas],
                        *["" if r is None else f"{r:.4g}" for _, r in deltas]])
    with (out / "districts.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        keys = ["storage_model_tb", "ingest_mbps", "backhaul_mbps", "backhaul_util_pct",
                "segments_dropped"]
        w.writerow(["variant", "district", *keys])
        for col in c.columns:
            for d in col.results.per_district:
                w.writerow([col.label, d.get("district", ""), *[d.get(k, "") for k in keys]])
    return {"table": "comparison.csv", "districts": "districts.csv"}
