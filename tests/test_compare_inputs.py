"""twin compare shows what changed: the inputs that differ (from the merged scenarios) and,
for every metric, reference, variant, difference and difference in percent, in the terminal,
comparison.md and report.html."""

from __future__ import annotations

import copy
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser import render
from tests.helpers import BASE
from twin.cli.main import main
from twin.compare.compare import Row


def _base(tmp_path: Path) -> Path:
    data = copy.deepcopy(BASE)
    data["simulation"]["days"] = 1
    data["recording"]["retention_days"] = 1
    data["targets"] = {"segments_dropped": {"max": 0}}
    p = tmp_path / "base.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def _overlay(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / "variants" / f"{name}.yaml"
    p.parent.mkdir(exist_ok=True)
    p.write_text(f"base: ../base.yaml\nname: {name}\ndescription: the {name} one\n{body}")
    return p


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|│").split("│" if "│" in line else "|")]


@pytest.fixture()
def compared(tmp_path: Path, capsys: Any) -> tuple[Path, str]:
    _base(tmp_path)
    a = _overlay(tmp_path, "two-recorders", "")
    b = _overlay(
        tmp_path, "three-recorders", "recorders:\n  pools:\n  - {name: central, recorders: 3}\n"
    )
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out), "--quiet"]) == 0
    cap = capsys.readouterr()
    return out, cap.out + cap.err


def test_two_overlays_differing_in_one_field_list_exactly_that_field(
    compared: tuple[Path, str],
) -> None:
    out, term = compared
    md = (out / "comparison.md").read_text()
    section = md.split("## Inputs that differ: three-recorders against two-recorders")[1]
    rows = [r for r in section.split("\n## ")[0].splitlines() if r.startswith("| `")]
    assert rows == ["| `recorders.pools.central.recorders` | 2 | 3 |"]
    assert "1 field(s)" in section
    term_rows = [_cells(r) for r in term.splitlines() if "recorders.pools" in r]
    assert term_rows == [["recorders.pools.central.recorders", "2", "3"]]
    html = unescape((out / "report.html").read_text())
    table = html.split('id="inputs-1"')[1].split("</table>")[0]
    assert re.findall(
        r"<tr><td><code>([^<]+)</code></td><td><code>([^<]+)</code></td>"
        r"<td><code>([^<]+)</code></td></tr>",
        table,
    ) == [("recorders.pools.central.recorders", "2", "3")]


def test_every_metric_row_has_its_difference_and_percent_everywhere(
    compared: tuple[Path, str],
) -> None:
    out, term = compared
    md = (out / "comparison.md").read_text()
    metrics = md.split("## Metrics: each against two-recorders")[1].split("\n## ")[0]
    rows = [_cells(r) for r in metrics.splitlines() if r.startswith("| `")]
    assert len(rows) > 20
    for r in rows:  # metric, unit, better, A, B, B - A, %
        assert len(r) == 7, r
        a, b, d, pct = r[3], r[4], r[5], r[6]
        assert d != "" and pct != "", r
        if a not in ("-", "0") and b != "-":
            assert pct.endswith("%"), r
    recorders = next(r for r in rows if r[0] == "`recorders`")
    assert recorders[3:] == ["2", "3", "+1 **worse**", "+50.0 %"]
    # the terminal: every metric row shown has A, B, delta and delta %
    shown = [
        _cells(r)
        for r in term.splitlines()
        if r.startswith("│ ") and not r.startswith("│ targets") and "│" in r[2:]
    ]
    metric_rows = [r for r in shown if len(r) == 6]
    assert [r[0] for r in metric_rows] == [r[0].strip("`") for r in rows]  # every metric
    assert ["recorders", "recorders", "2", "3", "+1", "+50.0 %"] in metric_rows
    assert all(r[4] and r[5] for r in metric_rows)
    # report.html: every metric row of the table has the reference, the variant and both deltas
    html = unescape((out / "report.html").read_text())
    table = html.split('class="deltas"')[1].split("</table>")[0]
    body_rows = re.findall(r"<tr><td><code>(\w+)</code>(.*?)</tr>", table, re.S)
    assert len(body_rows) == len(rows)
    for metric, cells in body_rows:
        nums = re.findall(r'<td class="num[^"]*">([^<]*)</td>', cells)
        assert len(nums) == 4 and all(nums), (metric, nums)
    assert re.search(r'<td class="num bad">\+1</td><td class="num bad">\+50\.0 %</td>', table)


def test_the_compare_report_renders_with_every_image(
    compared: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = compared
    r = render(out / "report.html", tmp_path / "shots", "compare-inputs")
    assert r.broken == [] and r.images >= 2 and r.external == []
    assert r.verdict_on_first_screen


def test_a_run_folder_whose_scenario_is_gone_says_its_inputs_are_not_known(
    tmp_path: Path, capsys: Any
) -> None:
    _base(tmp_path)
    a = _overlay(tmp_path, "a", "")
    b = _overlay(tmp_path, "b", "recording:\n  retention_days: 0.5\n")
    run = tmp_path / "run-b"
    assert main(["simulate", str(b), "--out", str(run), "--quiet"]) == 0
    b.unlink()
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(run), "--out", str(out), "--quiet"]) == 0
    md = (out / "comparison.md").read_text()
    assert "Not known: not compared:" in md and "is not here as run" in md
    capsys.readouterr()


def test_set_on_compare_is_an_input_difference_of_every_scenario_alike(
    tmp_path: Path, capsys: Any
) -> None:
    """--set applies to both sides, so it is no difference between them; the one field the
    overlays differ in still is."""
    _base(tmp_path)
    a = _overlay(tmp_path, "a", "")
    b = _overlay(tmp_path, "b", "recording:\n  retention_days: 0.5\n")
    out = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                str(a),
                str(b),
                "--out",
                str(out),
                "--quiet",
                "--set",
                "recorders.pools.central.recorders=3",
            ]
        )
        == 0
    )
    md = (out / "comparison.md").read_text()
    rows = [
        r
        for r in md.split("## Inputs that differ")[1].split("\n## ")[0].splitlines()
        if r.startswith("| `")
    ]
    assert rows == ["| `recording.retention_days` | 1.0 | 0.5 |"]
    assert re.search(r"\| `recorders` \| recorders \| \w+ \| 3 \| 3 \| 0 \| 0 % \|", md)
    capsys.readouterr()


def test_delta_text_signs_and_percent() -> None:
    r = Row("m", "x", "lower", (4.0, 5.0, 4.0, None))
    assert r.delta_text(1) == ("+1", "+25.0 %") and r.verdict(1) == "worse"
    assert r.delta_text(2) == ("0", "0 %") and r.verdict(2) == "same"
    assert r.delta_text(3) == ("-", "-")
    zero = Row("m", "x", "higher", (0.0, 2.0))
    assert zero.delta_text(1) == ("+2", "-")  # no percent of nothing


def test_a_replicated_comparison_leads_with_the_inputs_and_gives_each_difference_in_percent(
    tmp_path: Path, capsys: Any
) -> None:
    _base(tmp_path)
    crash = (
        "faults:\n- {type: recorder_crash, recorder: '*', mtbf_h: 12, mttr_h: 1}\n"
        "recorders:\n  pools:\n  - {name: central, recorders: 3}\n"
    )
    a = _overlay(tmp_path, "a", crash)
    b = _overlay(tmp_path, "b", crash + "recording:\n  retention_days: 0.5\n")
    out = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                str(a),
                str(b),
                "--replications",
                "3",
                "--backend",
                "local",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    md = (out / "comparison-replications.md").read_text()
    section = md.split("## Inputs that differ: b against a")[1].split("\n## ")[0]
    assert [r for r in section.splitlines() if r.startswith("| `")] == [
        "| `recording.retention_days` | 1.0 | 0.5 |"
    ]
    rows = [_cells(r) for r in md.split("## b against a")[1].splitlines() if r.startswith("| ")]
    assert rows[0][:6] == ["metric", "unit", "a mean", "b mean", "difference", "%"]
    body = rows[2:]
    assert body and all(len(r) == 9 and r[5] for r in body)
    cap = capsys.readouterr()
    assert "recording.retention_days" in cap.out + cap.err
    # and its page: the inputs, then every metric with both means, the difference and its %
    r = render(out / "report.html", tmp_path / "shots", "compare-replicated")
    assert r.broken == [] and r.external == [] and r.verdict_on_first_screen
    assert r.verdict.startswith("Replicated comparison against a: b: ")
    html = unescape((out / "report.html").read_text())
    assert re.findall(
        r"<tr><td><code>([^<]+)</code></td><td><code>([^<]+)</code></td>",
        html.split('class="inputs"')[1].split("</table>")[0],
    ) == [("recording.retention_days", "1.0")]
    metric_rows = re.findall(
        r"<tr><td><code>\w+</code></td><td>[^<]*</td>(.*?)</tr>",
        html.split('class="deltas"')[1].split("</table>")[0],
        re.S,
    )
    assert len(metric_rows) == len(body)
    for cells in metric_rows:
        nums = re.findall(r'<td class="num[^"]*">([^<]*)</td>', cells)
        assert len(nums) == 6 and all(nums), nums
