"""Every answering command writes report.html: `twin breakpoint` (each resource's load against
the growth, the first break and the binding resource marked) and `twin simulate
--replications` (the distributions with each target where it is, the interval's method named,
draws that are all equal said so); `twin sweep` names each failing point's targets in the
terminal as on its page. Each page opens in headless Chromium with every image loaded."""

from __future__ import annotations

import copy
import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import yaml

from tests.browser import render
from tests.helpers import BASE
from tests.test_breakpoint import HAND
from twin.cli.main import main
from twin.metrics import METRICS


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_breakpoint_writes_a_page_marking_the_first_break_and_the_binding_resource(
    tmp_path: Path,
) -> None:
    p = tmp_path / "hand.yaml"
    p.write_text(yaml.safe_dump(HAND))
    out = tmp_path / "bp"
    assert (
        main(
            [
                "breakpoint",
                str(p),
                "--grow",
                "sets",
                "--sets-per-year",
                "2400",
                "--from-month",
                "2028-01",
                "--max-level",
                "8",
                "--backend",
                "local",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        json.loads((out / "breakpoint.json").read_text())["files"]["report_html"] == "report.html"
    )
    r = render(out / "report.html", tmp_path / "shots", "breakpoint")
    assert r.broken == [] and r.images == 1 and r.external == []
    assert r.verdict_on_first_screen
    assert r.verdict == "hand.yaml breaks first in 2028-02 (end of 2028-02: 1,400 sets)"
    html = (out / "report.html").read_text()
    binding = _text(html.split('id="binding"')[1].split("</li>")[0])
    assert "backhaul of Small" in binding and "110.9 %" in binding  # 140 sets x 8 Mbps / 1,010 Mbps
    first = html.split('id="first-fail"')[1].split("</tr>")[0]
    assert "(first failure)" in first and "segments_dropped" in first
    assert re.search(r'<td class="num bad">110\.9 % <span class="sub">Small</span>', first)
    # every level has each resource kind's load
    rows = re.findall(r"<tr class=\"(?:fail)?\"", html.split('id="levels"')[1])
    assert len(rows) == len(json.loads((out / "breakpoint.json").read_text())["levels_simulated"])


def _replicated(tmp_path: Path) -> Path:
    d: dict[str, Any] = copy.deepcopy(BASE)
    d["name"] = "repl"
    d["simulation"].update(days=2, tick_s=600)
    d["recording"]["retention_days"] = 3
    d["faults"] = [{"type": "recorder_crash", "recorder": "*", "mtbf_h": 12, "mttr_h": 1}]
    # one target on a metric that varies, one on a metric the faults never move
    d["targets"] = {
        "camera_minutes_unrecorded": {"max": 1e9},
        "recorder_ingest_util_pct_max": {"max": 85, "stat": "p95"},
    }
    src = tmp_path / "repl.yaml"
    src.write_text(yaml.safe_dump(d))
    out = tmp_path / "rep"
    assert (
        main(
            [
                "simulate",
                str(src),
                "--replications",
                "6",
                "--backend",
                "local",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return out


def test_replications_write_a_page_with_each_target_and_the_intervals_method(
    tmp_path: Path,
) -> None:
    out = _replicated(tmp_path)
    res = json.loads((out / "replications.json").read_text())
    assert res["files"]["report_html"] == "report.html"
    assert "bootstrap" in res["ci_method"] and "range" in res["ci_method"]
    r = render(out / "report.html", tmp_path / "shots", "replications")
    assert r.broken == [] and r.images == 1 and r.external == []
    assert r.verdict_on_first_screen and r.verdict == "repl: 6 replications: PASS"
    html = _text((out / "report.html").read_text())
    assert res["ci_method"] in html
    assert "camera_minutes_unrecorded mean <= 1,000,000,000" in html
    assert "recorder_ingest_util_pct_max p95 <= 85 %" in html
    # a metric whose draws are all equal says so, in the page and in replications.md
    flat = res["metrics"]["recorder_ingest_util_pct_max"]
    assert flat["min"] == flat["max"] and flat["ci_low"] == flat["ci_high"] == flat["mean"]
    row = html.split("recorder_ingest_util_pct_max (target)")[1][:120]
    assert "all draws equal" in row
    assert "| recorder_ingest_util_pct_max | % |" in (out / "replications.md").read_text()
    assert "all draws equal" in (out / "replications.md").read_text()
    # no interval leaves its metric's range
    for name, d in res["metrics"].items():
        m = METRICS[name]
        assert m.lo <= d["ci_low"] <= d["mean"] <= d["ci_high"] <= m.hi, name


def test_sweep_terminal_names_the_targets_a_failing_point_missed(
    tmp_path: Path, capsys: Any
) -> None:
    pool = {
        "name": "central",
        "districts": "*",
        "recorders": 2,
        "ingest_mbps": 1000,
        "disk_tb": 400,
        "max_streams": 25,
    }
    d: dict[str, Any] = copy.deepcopy(BASE)
    d["city"]["cameras_per_set"] = {2: 1.0}
    d["recording"]["retention_days"] = 1
    d["simulation"]["days"] = 1
    d["recorders"]["pools"] = [pool]
    d["targets"] = {"segments_dropped": {"max": 0}}
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(d))
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
                str(tmp_path / "sweep"),
                "--quiet",
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    line = next(x for x in (cap.out + cap.err).splitlines() if x.startswith("│ 4 "))
    assert "FAIL segments_dropped" in line
