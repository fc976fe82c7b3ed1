"""A Markdown report that embeds the plots and judges each target PASS/FAIL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twin.metrics import METRICS
from twin.model.results import Results, validity_markdown
from twin.model.sizing import POOL_COLUMNS, SIZING_TITLE, needs_rows, pool_rows

__all__ = ["write_report"]


def _fmt(v: float | None) -> str:
    if v is None:
        return "not measured"
    if abs(v) >= 1e5 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:,.3f}"


DRILL_EVENTS_SHOWN = 40


def _drill_line(ev: dict[str, Any]) -> str:
    k = ev["kind"]
    if k in ("fault_start", "fault_end"):
        what = f"{ev['fault']} of {ev['target']}" + (f" ({ev['label']})" if ev.get("label") else "")
        return f"{'starts' if k == 'fault_start' else 'ends'}: {what}"
    if k == "recorder_health":
        return f"recorder {ev['recorder']}: {ev['from']} -> {ev['to']}"
    if k in ("failover", "retry"):
        what = (
            f"failover of {ev['recorder']}"
            if k == "failover"
            else "retry of cameras without a recorder"
        )
        return (
            f"{what}: {ev['cameras_moved']} cameras moved, "
            f"{ev['cameras_unassigned']} found no room (unassigned_after_failover)"
        )
    if k == "no_failover":
        return (
            f"{ev['recorder']} declared down with standby none: no failover; its "
            f"{ev['cameras_waiting']} cameras stay on it (recorder_down) and record again "
            "the moment it restarts"
        )
    if k == "failback":
        return f"fail-back to {ev['recorder']}: {ev['cameras']} cameras confirmed home"
    rest = ", ".join(f"{a}={b}" for a, b in ev.items() if a not in ("t_s", "kind"))
    return f"{k.replace('_', ' ')}: {rest}"


def _drill(res: Results) -> list[str]:
    """The drill as it happened: the run's events in time order, in words."""
    if not any(ev["kind"] == "fault_start" for ev in res.events):
        return []
    lines = ["", "## Drill timeline", "", "| t (s) | event |", "| --- | --- |"]
    for ev in res.events[:DRILL_EVENTS_SHOWN]:
        lines.append(f"| {ev['t_s']:,.1f} | {_drill_line(ev)} |")
    if len(res.events) > DRILL_EVENTS_SHOWN:
        lines.append(
            f"| | ... {len(res.events) - DRILL_EVENTS_SHOWN:,} more in results.json `events` |"
        )
    lines += [
        "",
        "Segments a fault cost are counted by reason (docs/results.md, *Drop reasons*): "
        "`recorder_down` while a lost recorder's cameras have not been moved (with standby "
        "`none`, the whole outage), `unassigned_after_failover` once a failover ran and "
        "found no room.",
    ]
    return lines


def _sizing(res: Results) -> list[str]:
    """The cores and recorder processes the city needs, from the scenario's calibration."""
    s = res.sizing
    if s is None:
        return []
    lines = [
        "",
        f"## {SIZING_TITLE}",
        "",
        f"From `{s['calibration']}`. {s['caveat']}",
        "",
        "| need | value | how |",
        "| --- | --- | --- |",
    ]
    for what, v, unit, how in needs_rows(s):
        lines.append(f"| {what} | {_fmt(v)}{' ' + unit if unit else ''} | {how} |")
    lines += ["", "| " + " | ".join(POOL_COLUMNS) + " |", "|" + " --- |" * len(POOL_COLUMNS)]
    for row in pool_rows(s):
        lines.append("| " + " | ".join(x if isinstance(x, str) else _fmt(x) for x in row) + " |")
    return lines


def write_report(res: Results, plots: dict[str, str], out: Path) -> Path:
    sc = res.scenario
    head = "INVALID (targets not judged)" if res.invalid else ("PASS" if res.passed else "FAIL")
    lines = [f"# {sc.name}: {head}", ""]
    if res.validity is not None:  # a live run leads with its harness's verdict
        lines += validity_markdown(res.validity) + [""]
    lines += [
        sc.description,
        "",
        f"Engine `{res.engine}`, scenario `{sc.source}` (seed {sc.seed}), "
        f"{res.horizon_s / 86_400:.1f} days; run took {res.run.wall_s:.1f} s.",
        "",
        "The same report with the answer first, for a browser or to print: `report.html`.",
        "",
        "## Targets",
        "",
        "| target | bound | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for t in res.targets:
        bound = " and ".join(
            x
            for x in (
                f">= {_fmt(t.min)}" if t.min is not None else "",
                f"<= {_fmt(t.max)}" if t.max is not None else "",
            )
            if x
        )
        verdict = (
            f"not judged ({'met' if t.passed else 'missed'})"
            if res.invalid
            else "PASS"
            if t.passed
            else "**FAIL**"
        )
        lines.append(f"| `{t.metric}` | {bound} {t.unit} | {_fmt(t.value)} | {verdict} |")
    if not res.targets:
        lines.append("| (none set) | | | |")
    lines += _sizing(res)
    lines += ["", "## Plots", ""]
    for role, name in plots.items():
        lines += [f"### {role.replace('_', ' ')}", "", f"![{role}]({name})", ""]
    lines += ["## Metrics", "", "| metric | value | unit | meaning |", "| --- | --- | --- | --- |"]
    for k, v in res.metrics.items():
        info = METRICS.get(k)
        lines.append(
            f"| `{k}` | {_fmt(v)} | {info.unit if info else ''} | "
            f"{info.description if info else ''} |"
        )
    if res.per_district:
        cols = list(res.per_district[0])
        lines += [
            "",
            "## Districts",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + " --- |" * len(cols),
        ]
        for row in res.per_district:
            lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    lines += _drill(res)
    lines += ["", "Files: " + ", ".join(f"`{f}`" for f in sorted(res.files.values())), ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
