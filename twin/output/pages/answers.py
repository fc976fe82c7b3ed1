"""report.html of the answering commands that wrote only Markdown: `twin breakpoint` (where a
deployment breaks first, and on what), `twin simulate --replications` (each metric's
distribution, each target drawn where it is) and `twin compare --replications` (what differs
beyond the noise). Same look and rules as every other page
(twin/output/pages/render.py): self-contained, the verdict first, plots inlined."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.compare.breakpoint import RESOURCE_KINDS
from twin.output.pages.render import _plots, _write

if TYPE_CHECKING:
    from twin.compare.breakpoint import Breakpoint
    from twin.compare.compare import InputDiff
    from twin.compare.replications import DiffRow, ReplicationResults

__all__ = ["write_breakpoint_html", "write_replications_html", "write_compare_replicated_html"]


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if v == int(v) and abs(v) < 1e15:
        return f"{v:,.0f}"
    return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def _bound(lo: float | None, hi: float | None, unit: str) -> str:
    parts = [f">= {_num(lo)}" if lo is not None else "", f"<= {_num(hi)}" if hi is not None else ""]
    return " and ".join(p for p in parts if p) + (f" {unit}" if unit else "")


def write_replications_html(res: ReplicationResults, plots: dict[str, str], out: Path) -> Path:
    """The replications' page: the targets on their statistic, then every metric's
    distribution with its interval (the method named), draws that are all equal said so."""
    targets = [
        {
            "metric": t.metric,
            "stat": t.stat,
            "bound": _bound(t.min, t.max, t.unit),
            "value": _num(t.value),
            "passed": t.passed,
        }
        for t in res.targets
    ]
    judged = {t.metric for t in res.targets}
    rows = []
    for name, d in res.metrics.items():
        equal = d.min == d.max
        rows.append(
            {
                "metric": name,
                "unit": d.unit,
                "mean": _num(d.mean),
                "ci": "all draws equal" if equal else f"[{_num(d.ci_low)}, {_num(d.ci_high)}]",
                "sd": _num(d.sd),
                "p5": _num(d.p5),
                "p50": _num(d.p50),
                "p95": _num(d.p95),
                "equal": equal,
                "target": name in judged,
            }
        )
    rows.sort(key=lambda r: (not r["target"], r["equal"], r["metric"]))
    failed = [t for t in targets if not t["passed"]]
    sc = res.scenario
    title = f"{sc.name}: {res.replications} replications: {'PASS' if res.passed else 'FAIL'}"
    ctx = {
        "title": title,
        "res": res,
        "targets": targets,
        "failed": failed,
        "rows": rows,
        "n_equal": sum(1 for r in rows if r["equal"]),
        "plots": _plots(plots, out),
    }
    return _write("replications.html.j2", ctx, out)


def write_breakpoint_html(bp: Breakpoint, plots: dict[str, str], out: Path) -> Path:
    """The break-point search's page: when and where it breaks first and the resource that
    binds, then every level's load on each resource kind."""
    b = bp.binding()
    levels: list[dict[str, Any]] = []
    for lv in bp.levels:
        worst = {}
        for kind in RESOURCE_KINDS:
            items = lv.demand[kind]
            where = max(items, key=lambda w: items[w]) if items else ""
            worst[kind] = (where, items.get(where, 0.0))
        levels.append(
            {
                "level": lv.level,
                "label": lv.label,
                "passed": lv.passed,
                "failed": lv.failed,
                "worst": worst,
                "first_fail": bp.first_fail is not None and lv is bp.first_fail,
                "last_pass": bp.last_pass is not None and lv is bp.last_pass,
            }
        )
    if bp.first_fail is None:
        title = f"{Path(bp.scenario).name}: no target fails within the levels tried"
    else:
        title = f"{Path(bp.scenario).name} breaks first in {bp.when()} ({bp.first_fail.label})"
    ctx = {
        "title": title,
        "bp": bp,
        "binding": b,
        "kinds": RESOURCE_KINDS,
        "levels": levels,
        "plots": _plots(plots, out),
    }
    return _write("breakpoint.html.j2", ctx, out)


def write_compare_replicated_html(
    labels: list[str],
    diffs: tuple[InputDiff, ...],
    tables: list[tuple[str, int, int, list[DiffRow]]],
    method: str,
    out: Path,
) -> Path:
    """`twin compare --replications`'s page: per variant against the first, the inputs that
    differ, then every metric's means, difference (and %), its interval and the verdict
    (better or worse beyond the noise, within the noise, the same). `tables`: (label,
    replications of the reference, of the variant, rows)."""
    variants: list[dict[str, Any]] = []
    worse = 0
    for lab, na, nb, rows in tables:
        shown = []
        for r in rows:
            d = r.diff
            shown.append(
                {
                    "metric": r.metric,
                    "unit": r.unit,
                    "a": _num(d.mean_a),
                    "b": _num(d.mean_b),
                    "diff": _num(d.diff),
                    "pct": "-" if d.mean_a == 0 else f"{100 * d.diff / abs(d.mean_a):+.1f} %",
                    "ci": f"[{_num(d.ci_low)}, {_num(d.ci_high)}]",
                    "p": f"{d.p_value:.3g}",
                    "verdict": r.verdict,
                }
            )
        counts = {v: sum(1 for r in rows if r.verdict == v) for v in ("better", "worse")}
        worse += counts["worse"]
        diff = next((x for x in diffs if labels[x.column] == lab), None)
        variants.append(
            {"label": lab, "na": na, "nb": nb, "rows": shown, "counts": counts, "inputs": diff}
        )
    summary = "; ".join(
        f"{lab}: {v['counts']['better']} better, {v['counts']['worse']} worse beyond the noise"
        for lab, v in zip(labels[1:], variants)
    )
    ctx = {
        "title": f"Replicated comparison against {labels[0]}: {summary}",
        "ok": worse == 0,
        "ref": labels[0],
        "variants": variants,
        "method": method,
    }
    return _write("compare_replicated.html.j2", ctx, out)
