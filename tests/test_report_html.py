"""report.html of every command, opened in a real headless Chromium (offline): every image
loads, the verdict line is on the first screen, and the page opens on the answer, with the
figures of results.json. Screenshots stay in each test's tmp_path (`screens/`)."""

from __future__ import annotations

import json
import math
import os
import re
from html import unescape
from pathlib import Path

import pytest
import yaml

from tests.browser import Rendered, render
from tests.helpers import scenario
from twin.cli.main import main
from twin.model.results import read_results
from twin.output.pages.summary import fmt, misses

ROOT = Path(__file__).resolve().parent.parent
SMALL = {
    "city.cameras_per_set": {2: 1.0},
    "camera_profiles": [{"name": "fhd", "bitrate_mbps": 4.0, "bitrate_spread_pct": 0}],
    "recording.retention_days": 1,
    "simulation.days": 2,
}
# 60 sets x 2 cameras x 4 Mbps for a day: 5.184 TB, more than 2 x 2.5 TB of disk.
SHORT_POOL = {
    "name": "central",
    "districts": "*",
    "recorders": 2,
    "ingest_mbps": 1000,
    "disk_tb": 2.5,
    "max_streams": 200,
}
TARGETS = {"segments_dropped": {"max": 0}, "storage_headroom_pct_min": {"min": 20}}


def _write(folder: Path, name: str, description: str = "", **overrides) -> Path:
    sc = scenario(**{**SMALL, **overrides}, name=name, targets=TARGETS, description=description)
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.yaml"
    p.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    return p


def _opens_well(html: Path, shots: Path, name: str) -> Rendered:
    """The checks every page must pass in the browser."""
    r = render(html, shots, name)
    assert r.screenshot.stat().st_size > 10_000, "an empty screenshot"
    assert r.broken == [], f"{name}: images that did not load: {r.broken}"
    assert r.external == [], f"{name}: the page loads files from outside itself: {r.external}"
    assert r.verdict_on_first_screen, (name, r.verdict_bottom, r.viewport_height)
    return r


def _no_machine_paths(*files: Path, roots: tuple[Path, ...]) -> None:
    for f in files:
        text = f.read_text(encoding="utf-8")
        for root in roots:
            assert str(root) not in text, f"{f.name} names the machine path {root}"


def _text(html: str, element_id: str) -> str:
    """The text of the element with this id (its tag does not nest in itself here)."""
    m = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>', html)
    assert m, f"no #{element_id} in the page"
    end = html.index(f"</{m.group(1)}>", m.end())
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html[m.end() : end]))).strip()


def test_simulate_drill_report_opens_on_the_verdict_and_the_cost_of_the_fault(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(ROOT)  # the scenario is given by its absolute path, named relative to here
    out = tmp_path / "drill"
    path = ROOT / "scenarios" / "drill-recorder-lost-7000.yaml"
    assert main(["simulate", str(path), "--out", str(out), "--quiet"]) == 0
    res = read_results(out / "results.json")
    assert res.scenario.source == "scenarios/drill-recorder-lost-7000.yaml"
    assert res.files["report_html"] == "report.html"
    _no_machine_paths(
        out / "results.json", out / "report.md", out / "report.html", roots=(ROOT, tmp_path)
    )

    r = _opens_well(out / "report.html", tmp_path / "screens", "simulate-drill")
    assert r.verdict == "drill-recorder-lost-7000: PASS: all 6 targets met"
    plots = {k for k in res.files if k.startswith("plot:")}
    assert {
        "plot:cameras_unrecorded",
        "plot:pool_headroom",
        "plot:district_headroom",
        "plot:recorder_headroom",
        "plot:storage_by_pool",
    } <= plots
    assert r.images == len(plots)  # every plot of the run is on the page, embedded
    html = (out / "report.html").read_text()
    drill = _text(html, "drill")
    m = res.metrics
    assert "recorder_crash yau-tsim-mong-r01" in drill
    assert f"footage lost: {fmt(m['camera_minutes_lost'])} camera-min" in drill
    assert f"time to recover (longest): {fmt(m['recovery_s_max'])} s" in drill
    # a drill's page leads with the drill: the recorder that failed and the one that took
    # its cameras named, the recovery, the time line; steady-state storage after it
    assert _text(html, "drill-failed") == "recorders that failed: yau-tsim-mong-r01"
    assert _text(html, "drill-took") == (
        "recorders that took their cameras: yau-tsim-mong-r08 (198 cameras)"
    )
    timeline = _text(html, "drill-timeline")
    # The measured curve (calibration/failover-storm.json): the plan takes effect 0.75 s after
    # detection, the 198th camera 198 x 0.0106 s after that.
    assert (
        "+15 s yau-tsim-mong-r01 declared down +16 s yau-tsim-mong-r01's 198 cameras moved "
        "to yau-tsim-mong-r08 (198), the last of them recording again 2.1 s later"
    ) in timeline, timeline
    for k in ("drill", "drill-failed", "drill-took"):
        assert r.starts_on_first_screen(k), (k, r.boxes[k], r.viewport_height)
    order = [
        html.index(f'id="{k}"')
        for k in (
            "verdict",
            "drill",
            "targets",
            "closest",
            "storage",
            "plot-cameras_unrecorded",
            "plot-recorder_load_faults",
            "plot-pool_headroom",
            "metrics",
            "scenario-as-run",
        )
    ]
    assert order == sorted(order)
    assert "this run is shorter than the retention period" in _text(html, "storage")
    assert '<details id="metrics">' in html  # the full table, folded


def test_city_7000_report_names_the_pool_closest_to_its_disk_and_its_headroom(tmp_path):
    out = tmp_path / "city-7000"
    assert (
        main(["simulate", str(ROOT / "scenarios" / "city-7000.yaml"), "--out", str(out), "--quiet"])
        == 0
    )
    data = json.loads((out / "results.json").read_text())
    pool = max(data["per_pool"], key=lambda p: p["peak_used_tb"] / p["disk_tb"])
    headroom = 100 - 100 * pool["peak_used_tb"] / pool["disk_tb"]
    r = _opens_well(out / "report.html", tmp_path / "screens", "city-7000")
    assert r.verdict == "city-7000: PASS: all 5 targets met"
    # read from the DOM as Chromium built it
    line = _text(r.dom, "limit-pool-disk")
    assert line.startswith(f"disk of pool {pool['pool']}:"), line
    assert f"{pool['peak_used_tb']:,.1f} TB of {pool['disk_tb']:,.0f} TB" in line, line
    assert f"{headroom:.1f} % headroom" in line, line
    assert pool["pool"] == "sha-tin" and f"{headroom:.1f}" == "32.3"  # as the calibrated run stands
    storage = _text(r.dom, "storage")
    assert (
        f"{data['metrics']['storage_needed_tb']:,.0f} TB of footage at the peak" in storage
        and f"on {data['metrics']['disk_total_tb']:,.0f} TB of disk" in storage
    ), storage
    # margin to the scenario's target beside headroom to the limit (disk: min 20 % free)
    assert f"{headroom - 20:.1f} points of margin to the 80 % target" in line, line
    # every headroom plot draws the scenario's own target, as the page built in Chromium says:
    # backhaul_util_pct_max <= 70, storage_headroom_pct_min >= 20 (80 % used),
    # recorder_ingest_util_pct_max <= 85; no target on streams: the limit only
    assert re.search(r'<figure id="plot-district_headroom" data-target-pct="70"', r.dom)
    assert re.search(r'<figure id="plot-pool_headroom" data-target-pct="80"', r.dom)
    assert re.search(r'<figure id="plot-recorder_headroom" data-target-pct="85 80"', r.dom)
    caption = _text(r.dom, "plot-district_headroom")
    assert (
        "dashed: the scenario's target 70 % of the limit (backhaul_util_pct_max <= 70 %)" in caption
    )
    assert "85 %" not in _text(r.dom, "plot-district_headroom")
    calibration = _text(r.dom, "scenario-as-run")
    assert "calibration/trial-15.json (relative to the scenario; SHA-256" in calibration
    assert "path=" not in calibration and "sha256=" not in calibration  # no Python repr


def test_a_failed_deployment_leads_with_the_disks_it_needs(tmp_path):
    out = tmp_path / "under"
    assert (
        main(
            [
                "simulate",
                str(ROOT / "scenarios" / "variants" / "under-provisioned-disks.yaml"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 1
    )
    res = read_results(out / "results.json")
    m = res.metrics
    r = _opens_well(out / "report.html", tmp_path / "screens", "under-provisioned-disks")
    assert r.starts_on_first_screen("fix"), (r.boxes["fix"], r.viewport_height)
    fix = _text(r.dom, "fix")
    # 20 % free at the peak: the retention period's footage over 0.8, against the 88 x 250 TB
    demand = max(m["storage_needed_tb"], m["storage_model_tb"])
    need = demand / 0.8
    assert fix.startswith(
        f"What would fix it Disk: about {math.ceil(need):,} TB of usable disk "
        f"to keep 20 % free at the peak ({math.ceil(demand):,} TB of footage "
        f"over the retention period); this deployment has 22,000 TB, "
        f"{math.ceil(need - 22_000):,} TB short"
    ), fix
    assert f"{math.ceil(need / 88):,} TB per recorder on its 88 recorders (now 250 TB)" in fix
    assert f"or {math.ceil(need / 250):,} recorders of 250 TB" in fix
    assert (
        f"Recorders: {m['recorders_needed']:,.0f} needed for the load at 100 % of each "
        "recorder's limits"
    ) in fix and "this deployment has 88" in fix
    html = (out / "report.html").read_text()
    assert html.index('id="fix"') < html.index('id="targets"')
    assert "e-0" not in _text(html, "targets")  # 5e-06 % reads "under 0.001 %"


def test_compare_report_shows_each_variant_in_its_colour_and_how_far_it_missed(tmp_path):
    ok = _write(tmp_path, "enough", description="<script>alert(1)</script> & co")
    short = _write(tmp_path, "short", **{"recorders.pools": [SHORT_POOL]})
    out = tmp_path / "cmp"
    assert main(["compare", str(ok), str(short), "--out", str(out), "--quiet"]) == 1
    r = _opens_well(out / "report.html", tmp_path / "screens", "compare")
    assert r.verdict == "Comparison: enough vs short: FAIL"
    assert r.images == 3  # pool headroom per variant, metrics, districts
    html = (out / "report.html").read_text()
    assert (
        "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    )
    short_res = read_results(out / "runs" / "short" / "results.json")
    head = next(x for x in misses(short_res) if x.metric == "storage_headroom_pct_min")
    assert head.side == "short" and head.by == pytest.approx(
        20 - short_res.metrics["storage_headroom_pct_min"]
    )
    box = _text(r.dom, "variant-2")
    assert (
        f"storage_headroom_pct_min = {fmt(short_res.metrics['storage_headroom_pct_min'], '%')}"
        f": short by {fmt(head.by)} percentage points (target >= 20 %)"
    ) in box, box
    assert short_res.scenario.source == "short.yaml"  # outside the working directory: its name
    # one colour per variant, the matplotlib one of every plot
    from twin.output.pages.charts import variant_colours

    for lab, rgba in variant_colours(["enough", "short"]).items():
        hexc = "#%02x%02x%02x" % tuple(int(255 * x) for x in rgba[:3])
        assert html.count(f"background: {hexc}") >= 3, lab  # box, table head, scenario
    # each variant's own run has its page too, opening well
    _opens_well(out / "runs" / "short" / "report.html", tmp_path / "screens", "compare-short")
    _no_machine_paths(out / "report.html", roots=(tmp_path,))


def test_sweep_report_names_the_smallest_passing_point_first(tmp_path):
    pool = {
        "name": "central",
        "districts": "*",
        "recorders": 2,
        "ingest_mbps": 1000,
        "disk_tb": 400,
        "max_streams": 25,
    }
    sc = scenario(
        **{
            "city.cameras_per_set": {2: 1.0},
            "recording.retention_days": 1,
            "simulation.days": 1,
            "recorders.pools": [pool],
        },
        targets={"segments_dropped": {"max": 0}},
    )
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                str(p),
                "--param",
                "recorders.pools.0.recorders=4,5",
                "--backend",
                "local",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    r = _opens_well(out / "report.html", tmp_path / "screens", "sweep")
    assert r.verdict.endswith("smallest deployment meeting every target: unit.01.recorders-5")
    assert r.images == 1
    html = (out / "report.html").read_text()
    assert "FAIL: segments_dropped = 28,800 segments: over by 28,800 segments" in unescape(html)
    _no_machine_paths(
        out / "report.html",
        out / "sweep.md",
        out / "variants" / "unit.00.recorders-4" / "results.json",
        roots=(tmp_path,),
    )


def test_check_report_opens_on_what_failed_and_links_each_scenarios_report(tmp_path):
    folder = tmp_path / "scenarios"
    _write(folder, "alpha")
    _write(folder, "beta")
    out = tmp_path / "check"
    assert (
        main(
            ["check", str(folder), "--out", str(out), "--update-baseline", "--quiet", "--jobs", "1"]
        )
        == 0
    )
    _write(folder, "beta", **{"recorders.pools": [SHORT_POOL]})  # now misses and regresses
    assert main(["check", str(folder), "--out", str(out), "--quiet", "--jobs", "1"]) == 1
    r = _opens_well(out / "report.html", tmp_path / "screens", "check")
    assert r.verdict.startswith("twin check: FAIL: 1 of 2 scenarios")
    html = r.dom
    table = html[
        html.index('id="failure-table"') : html.index("</table>", html.index('id="failure-table"'))
    ]
    beta = read_results(out / "beta" / "results.json")
    rows = [
        [
            unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        for tr in re.findall(r"<tr class=\"fail\">(.*?)</tr>", table, re.S)
    ]
    assert [
        "beta",
        "target",
        "segments_dropped",
        "<= 0 segments",
        f"{beta.metrics['segments_dropped']:,.0f} segments",
        "open",
    ] in rows
    assert any(
        row[:3] == ["beta", "regression", "disk_total_tb"]
        and row[3] == "baseline 800 TB (higher is better, tolerance 2 %)"
        and row[4] == "5 TB"
        for row in rows
    ), rows
    # the failure table is on the first screen, above every scenario's line
    assert html.index('id="failure-table"') < html.index('id="scenario-table"')
    assert 'href="beta/report.html"' in html and 'href="alpha/report.html"' in html
    page = _opens_well(out / "beta" / "report.html", tmp_path / "screens", "check-beta")
    assert page.verdict.startswith("beta: FAIL: 2 of 2 targets missed")
    assert page.verdict.endswith("; 7 metrics worse than the baseline")
    assert "beta: disk_total_tb worsened: baseline 800 TB, now 5 TB" in _text(
        page.dom, "regressions"
    )
    alpha = _opens_well(out / "alpha" / "report.html", tmp_path / "screens", "check-alpha")
    assert alpha.verdict == "alpha: PASS: all 2 targets met"
    assert page.images == 3  # headroom per pool, per district and of the tightest recorders
    assert 'href="../report.html"' in (out / "beta" / "report.html").read_text()
    _no_machine_paths(
        out / "report.html",
        out / "junit.xml",
        out / "summary.md",
        out / "beta" / "results.json",
        roots=(Path(os.getcwd()),),
    )


def test_a_miss_says_which_side_of_its_bound_and_by_how_much():
    from twin.model.results import Results, RunInfo, ScenarioInfo, TargetVerdict

    def target(metric, unit, value, lo=None, hi=None):
        ok = value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)
        return TargetVerdict(metric=metric, unit=unit, min=lo, max=hi, value=value, passed=ok)

    res = Results(
        engine="simulate",
        horizon_s=86_400.0,
        metrics={},
        passed=False,
        scenario=ScenarioInfo(name="x", source="x.yaml", sha256="0" * 64, seed=1),
        targets=[
            target("recorder_ingest_util_pct_max", "%", 90.0, hi=85.0),
            target("camera_minutes_lost", "camera-min", 300.0, hi=250.0),
            target("storage_headroom_pct_min", "%", 12.5, lo=20.0),
            target("max_gap_s", "s", None, hi=60.0),
            target("segments_dropped", "segments", 0.0, hi=0.0),
            target("live_gap_max_s", "s", None, hi=0.0),
        ],
        run=RunInfo(started_at="t", wall_s=1.0, twin_version="0", python="3.11", host_cpus=2),
    )
    assert [m.text for m in misses(res)] == [
        "recorder_ingest_util_pct_max = 90 %: over by 5 percentage points (target <= 85 %)",
        "camera_minutes_lost = 300 camera-min: over by 50 camera-min, 20.0 % of the bound "
        "(target <= 250 camera-min)",
        "storage_headroom_pct_min = 12.50 %: short by 7.50 percentage points (target >= 20 %)",
        "max_gap_s: not measured (target <= 60 s)",
    ]  # the live-only target is not judged on a simulated run
    assert len(misses(res, skip_live=False)) == 5
