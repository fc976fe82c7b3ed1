"""A Markdown report that embeds the plots and judges each target PASS/FAIL."""

from __future__ import annotations

from pathlib import Path

from twin.metrics import METRICS
from twin.results import Results

__all__ = ["write_report"]


def _fmt(v: float | None) -> str:
    if v is None:
        return "not measured"
    if abs(v) >= 1e5 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:,.3f}"


def write_report(res: Results, plots: dict[str, str], out: Path) -> Path:
    sc = res.scenario
    lines = [
        f"# {sc.name}: {'PASS' if res.passed else 'FAIL'}",
        "",
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
        bound = " and ".join(x for x in (
            f">= {_fmt(t.min)}" if t.min is not None else "",
            f"<= {_fmt(t.max)}" if t.max is not None else "") if x)
        lines.append(f"| `{t.metric}` | {bound} {t.unit} | {_fmt(t.value)} | "
                     f"{'PASS' if t.passed else '**FAIL**'} |")
    if not res.targets:
        lines.append("| (none set) | | | |")
    lines += ["", "## Plots", ""]
    for role, name in plots.items():
        lines += [f"### {role.replace('_', ' ')}", "", f"![{role}]({name})", ""]
    lines += ["## Metrics", "", "| metric | value | unit | meaning |", "| --- | --- | --- | --- |"]
    for k, v in res.metrics.items():
        info = METRICS.get(k)
        lines.append(f"| `{k}` | {_fmt(v)} | {info.unit if info else ''} | "
                     f"{info.description if info else ''} |")
    if res.per_district:
        cols = list(res.per_district[0])
        lines += ["", "## Districts", "", "| " + " | ".join(cols) + " |",
                  "|" + " --- |" * len(cols)]
        for row in res.per_district:
            lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    lines += ["", "Files: " + ", ".join(f"`{f}`" for f in sorted(res.files.values())), ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
