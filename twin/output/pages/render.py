"""Writing report.html: one self-contained page per command (run, compare, sweep, check).

Every page opens on the answer (the verdict line, what missed and by how much, what is
closest to its limit), then the plots, then the full tables folded, then the scenario as
run. Plots are embedded as base64 PNG, styles inline, no script or font from elsewhere, so
the file opens offline, from a mail attachment or a CI artefact, and prints (print CSS;
folded tables open for printing). Templates are Jinja2 with autoescaping on: every name and
value from a scenario is escaped.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

from twin.compare.check import CheckReport
from twin.compare.compare import Comparison
from twin.compare.fidelity import fidelity_rows_for_html
from twin.compare.grid import SweepResult
from twin.metrics import METRICS
from twin.model.results import Results, shared_source, validity_line
from twin.model.sizing import POOL_COLUMNS, SIZING_TITLE, needs_rows, pool_rows
from twin.output.pages.charts import headroom_charts, variant_colours
from twin.output.pages.summary import bound_text, fmt, plot_targets, summarise

__all__ = [
    "write_run_html",
    "write_check_pages",
    "write_compare_html",
    "write_sweep_html",
    "write_check_html",
    "data_uri",
    "HTML_NAME",
    "PLOT_TITLES",
]

HTML_NAME = "report.html"

#: Headings for plots by role (a role not listed gets its name in words).
PLOT_TITLES = {
    "pool_headroom": "Disk headroom per recorder pool",
    "district_headroom": "Backhaul headroom per district",
    "recorder_headroom": "The tightest recorders",
    "storage_by_pool": "Footage stored over time, one panel per pool",
    "ingest_by_district": "Ingest per district against its backhaul",
    "recorder_utilisation": "Every recorder's utilisation, sorted",
    "segments": "Segments written, deleted and dropped",
    "cameras_unrecorded": "Cameras unrecorded over time, faults marked",
    "gap_distribution": "Largest gap per affected camera",
    "recorder_load_faults": "Recorders that failed or took cameras: load before and after",
    "coverage": "Footage recorded per camera, faults marked",
    "cpu_per_camera": "CPU per camera",
    "metrics": "Key metrics, variants side by side",
    "districts": "Per district, variants side by side",
    "pool_headroom_by_variant": "Disk used per pool, variants side by side",
    "sweep": "Sweep response",
}
#: Shown first, in this order, when present: a fault's time line and the recorders it moved
#: (what a drill is about), then headroom, then the time series.
PLOT_ORDER = (
    "cameras_unrecorded",
    "coverage",
    "recorder_load_faults",
    "gap_distribution",
    "pool_headroom",
    "district_headroom",
    "recorder_headroom",
    "storage_by_pool",
)

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("twin.output.pages", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["fmt"] = fmt
_env.globals["bound_text"] = bound_text


def data_uri(path: Path) -> str:
    """A PNG (or SVG) file as a data: URI, so the page needs no file beside it."""
    mime = "image/svg+xml" if path.suffix.lower() == ".svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _plots(plots: dict[str, str], folder: Path, res: Results | None = None) -> list[dict[str, Any]]:
    """The plots in reading order; with `res`, each headroom chart says which of the
    scenario's targets it draws (the dashed line), as the chart itself does."""
    roles = [r for r in PLOT_ORDER if r in plots] + [r for r in plots if r not in PLOT_ORDER]
    out: list[dict[str, Any]] = []
    for r in roles:
        lines = plot_targets(res, r) if res is not None else []
        note = (
            "dashed: the scenario's target"
            + ("s " if len(lines) > 1 else " ")
            + "; ".join(f"{t.pct:g} % of the limit ({t.metric} {t.bound})" for t in lines)
            if lines
            else ""
        )
        out.append(
            {
                "role": r,
                "title": PLOT_TITLES.get(r, r.replace("_", " ")),
                "file": plots[r],
                "src": data_uri(folder / plots[r]),
                "note": note,
                "target_pcts": " ".join(f"{t.pct:g}" for t in lines),
            }
        )
    return out


def _metric_rows(res: Results) -> list[dict[str, Any]]:
    targeted = {t.metric: t for t in res.targets}
    rows = []
    for k, v in res.metrics.items():
        info = METRICS.get(k)
        t = targeted.get(k)
        rows.append(
            {
                "metric": k,
                "value": fmt(v),
                "unit": info.unit if info else "",
                "meaning": info.description if info else "",
                "target": bound_text(t) if t else "",
                "passed": None if t is None else t.passed,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    return {"cols": cols, "rows": [[_cell(r.get(c)) for c in cols] for r in rows]}


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else ("yes" if v else "no")
    if isinstance(v, (int, float)):
        return fmt(float(v))
    if isinstance(v, (list, dict)):
        s = str(v)
        return s if len(s) <= 120 else s[:117] + "..."
    return str(v)


def _event_rows(res: Results, cap: int = 300) -> list[dict[str, Any]]:
    rows = []
    for e in res.events[:cap]:
        detail = {k: v for k, v in e.items() if k not in ("t_s", "kind")}
        rows.append(
            {"t_s": fmt(float(e.get("t_s", 0))), "kind": e.get("kind", ""), "detail": _cell(detail)}
        )
    return rows


def _sizing(res: Results) -> dict[str, Any] | None:
    """The section on the compute the city needs (twin.model.sizing), as plain strings."""
    s = res.sizing
    if s is None:
        return None
    return {
        "title": SIZING_TITLE,
        "calibration": s["calibration"],
        "caveat": s["caveat"],
        "rows": [(what, fmt(v, unit), how) for what, v, unit, how in needs_rows(s)],
        "pool_cols": list(POOL_COLUMNS),
        "pools": [[_cell(x) for x in row] for row in pool_rows(s)],
    }


def _horizon(res: Results) -> str:
    h = res.horizon_s
    if res.engine == "live":
        return f"{h:,.0f} s of wall-clock recording"
    return (
        f"{h / 86_400:,.1f} simulated days" if h >= 86_400 else f"{h / 3600:,.1f} simulated hours"
    )


def run_context(
    res: Results,
    plots: dict[str, str],
    folder: Path,
    skip_live: bool = False,
    back: str | None = None,
    regressions: list[str] | None = None,
) -> dict[str, Any]:
    """What the run page shows, as plain data (also used by tests)."""
    s = summarise(res, skip_live)
    regressions = list(regressions or [])
    verdict = s.verdict
    if regressions:  # `twin check`: worse than the baseline fails the scenario too
        verdict = (
            verdict.replace(": PASS: ", ": FAIL: ", 1)
            + f"; {len(regressions)} metrics worse than the baseline"
        )
    tables = {}
    for key, title in (
        ("per_pool", "Pools"),
        ("per_district", "Districts"),
        ("per_recorder", "Recorders"),
    ):
        rows = getattr(res, key)
        if rows:
            tables[title] = _table(rows)
    passed = s.passed and not regressions
    title = f"{res.scenario.name}: {'PASS' if passed else 'FAIL'}"
    validity = None
    if res.validity is not None:  # a live run: its harness's verdict comes first
        validity = {
            "line": validity_line(res.validity),
            "checks": res.validity["checks"],
            "machine": res.validity.get("machine", {}),
        }
        if res.invalid:
            title = f"{res.scenario.name}: INVALID (targets not judged)"
            verdict = (
                f"{res.scenario.name}: INVALID: the harness did not keep its plan "
                f"({res.validity.get('first_behind')} fell behind first); targets are "
                f"shown, not judged"
            )
    return {
        "title": title,
        "verdict": verdict,
        "validity": validity,
        "invalid": res.invalid,
        "passed": passed and not res.invalid,
        "regressions": regressions,
        "res": res,
        "s": s,
        "plots": _plots(plots, folder, res),
        "metric_rows": _metric_rows(res),
        "tables": tables,
        "events": _event_rows(res),
        "n_events": len(res.events),
        "horizon": _horizon(res),
        "sizing": _sizing(res),
        "back": back,
        "files": sorted(res.files.items()),
    }


def _write(template: str, ctx: dict[str, Any], out: Path, name: str = HTML_NAME) -> Path:
    path = out / name
    path.write_text(_env.get_template(template).render(**ctx), encoding="utf-8")
    return path


def write_run_html(
    res: Results,
    plots: dict[str, str],
    out: Path,
    skip_live: bool = False,
    back: str | None = None,
    regressions: list[str] | None = None,
) -> Path:
    """report.html of one run (simulate, live, or one scenario of `twin check`); `plots`
    are file names in `out`; `back` links a parent page (check's summary); `regressions`
    are check's lines for the metrics worse than the baseline."""
    return _write("run.html.j2", run_context(res, plots, out, skip_live, back, regressions), out)


def write_compare_html(c: Comparison, plots: dict[str, str], out: Path) -> Path:
    colours = {
        lab: "#%02x%02x%02x" % tuple(int(255 * x) for x in rgba[:3])
        for lab, rgba in variant_colours(c.labels).items()
    }
    variants = []
    for col in c.columns:
        s = summarise(col.results, skip_live=True)
        variants.append(
            {
                "label": col.label,
                "colour": colours[col.label],
                "res": col.results,
                "s": s,
                "passed": col.passed,
            }
        )
    rows = []
    for row in c.rows:
        cells = []
        for i, v in enumerate(row.values):
            verdict = row.verdict(i) if i else ""
            cells.append({"v": fmt(v) if v is not None else "-", "verdict": verdict})
        rows.append({"metric": row.metric, "unit": row.unit, "better": row.better, "cells": cells})
    tables = c.fidelity_tables()
    fidelity = [
        {"t": t, "note": note, "rows": fidelity_rows_for_html(t), "failures": t.failure_lines()}
        for t, note in tables
    ]
    ok = c.passed and all(t.passed for t, _ in tables)
    ctx = {
        "title": f"Comparison: {' vs '.join(c.labels)}: {'PASS' if ok else 'FAIL'}",
        "c": c,
        "ok": ok,
        "variants": variants,
        "rows": rows,
        "missing": c.missing(),
        "plots": _plots(plots, out),
        "fidelity": fidelity,
    }
    return _write("compare.html.j2", ctx, out)


def write_sweep_html(s: SweepResult, plots: dict[str, str], out: Path, keys: list[str]) -> Path:
    best = s.smallest()
    points = []
    for p in s.points:
        points.append(
            {
                "p": p,
                "best": p is best,
                "metrics": [
                    fmt(p.results.metrics.get(k)) if k in p.results.metrics else "-" for k in keys
                ],
                "misses": summarise(p.results, skip_live=True).misses,
            }
        )
    n_ok = sum(1 for p in s.points if p.passed)
    ctx = {
        "title": f"Sweep of {s.base}",
        "s": s,
        "best": best,
        "points": points,
        "keys": keys,
        "n_ok": n_ok,
        "plots": _plots(plots, out),
        "best_summary": summarise(best.results, skip_live=True) if best else None,
    }
    return _write("sweep.html.j2", ctx, out)


def write_check_html(report: CheckReport, out: Path, pages: dict[str, str]) -> Path:
    """The check's page: what failed and why first, each scenario linking its own page
    (`pages`: scenario file stem -> link relative to `out`)."""
    failures = []
    for c in report.checks:
        link = pages.get(c.path.stem)
        if c.error is not None:
            failures.append(
                {
                    "scenario": c.path.name,
                    "kind": "invalid scenario",
                    "metric": "",
                    "bound": "",
                    "value": c.error,
                    "link": link,
                }
            )
            continue
        for t in c.failed_targets:
            failures.append(
                {
                    "scenario": c.name,
                    "kind": "target",
                    "metric": t.metric,
                    "bound": bound_text(t),
                    "value": fmt(t.value, t.unit),
                    "link": link,
                }
            )
        if c.fidelity is not None:
            for row in c.fidelity.failed:
                failures.append(
                    {
                        "scenario": c.name,
                        "kind": "fidelity",
                        "metric": row.metric,
                        "bound": row.bound + " of the live run",
                        "value": f"simulate {fmt(row.simulate, row.unit)}, live "
                        f"{fmt(row.live, row.unit)}",
                        "link": link,
                    }
                )
        for r in c.regressions:
            info = METRICS.get(r.metric)
            unit = info.unit if info else ""
            failures.append(
                {
                    "scenario": c.name,
                    "kind": "regression",
                    "metric": r.metric,
                    "bound": f"baseline {fmt(r.baseline, unit)} "
                    f"({info.better if info else 'lower'} is better, "
                    f"tolerance {r.tolerance_pct:g} %)",
                    "value": "no longer reported" if r.value is None else fmt(r.value, unit),
                    "link": link,
                }
            )
    rows = []
    for c in report.checks:
        s = summarise(c.results, skip_live=True) if c.results is not None else None
        rows.append(
            {
                "c": c,
                "s": s,
                "link": pages.get(c.path.stem),
                "limit": s.limits[0] if s and s.limits else None,
            }
        )
    n_bad = sum(1 for c in report.checks if not c.passed)
    verdict = (
        f"twin check: PASS: {len(report.checks)} scenarios meet their targets and the baseline"
        if report.passed
        else f"twin check: FAIL: {n_bad} of {len(report.checks)} scenarios "
        f"({len(failures)} problems)"
    )
    ctx = {
        "title": verdict,
        "verdict": verdict,
        "report": report,
        "failures": failures,
        "rows": rows,
        "baseline": shared_source(report.baseline_path),
    }
    return _write("check.html.j2", ctx, out)


def write_check_pages(report: CheckReport, out: Path) -> Path:
    """report.html: what failed and why first, linking each scenario's own report.html
    (beside its results.json in `out/<stem>/`, headroom charts drawn from its results)."""
    pages: dict[str, str] = {}
    for c in report.checks:
        if c.results is None:
            continue
        folder = out / c.path.stem
        folder.mkdir(parents=True, exist_ok=True)
        write_run_html(
            c.results,
            headroom_charts(c.results, folder),
            folder,
            skip_live=True,
            back=f"../{HTML_NAME}",
            regressions=[r.message for r in c.regressions],
        )
        pages[c.path.stem] = f"{c.path.stem}/{HTML_NAME}"
    return write_check_html(report, out, pages)
