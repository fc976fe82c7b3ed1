"""Pages that answer the question asked (issue 27), below the browser: each plot draws the
scenario's own target, the summary gives the margin to it beside the headroom to the limit,
a failed run says what would fix it, degenerate data reads as a sentence, and no number
reads like 5e-06. The browser tests (test_report_html.py) hold whole pages to these."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twin.model.results import Results, RunInfo, ScenarioInfo, TargetVerdict  # noqa: E402
from twin.output.fault_plots import gap_sentence, moved_recorders  # noqa: E402
from twin.output.pages.charts import _hbars  # noqa: E402
from twin.output.pages.fixes import fixes  # noqa: E402
from twin.output.pages.numbers import fmt  # noqa: E402
from twin.output.pages.summary import district_limits, limits, resource_targets  # noqa: E402


def target(metric, unit, value, lo=None, hi=None):
    ok = value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)
    return TargetVerdict(metric=metric, unit=unit, min=lo, max=hi, value=value, passed=ok)


def results(targets, metrics=None, per_district=(), per_recorder=(), per_pool=()):
    return Results(
        engine="simulate",
        horizon_s=86_400.0,
        metrics=metrics or {},
        passed=all(t.passed for t in targets),
        scenario=ScenarioInfo(name="x", source="x.yaml", sha256="0" * 64, seed=1),
        targets=targets,
        per_district=list(per_district),
        per_recorder=list(per_recorder),
        per_pool=list(per_pool),
        run=RunInfo(started_at="t", wall_s=1.0, twin_version="0", python="3.11", host_cpus=2),
    )


def test_numbers_read_as_people_write_them_never_with_an_exponent():
    assert fmt(5e-06, "%") == "under 0.001 %"
    assert fmt(-5e-06) == "above -0.001"
    assert fmt(0.0123) == "0.0123" and fmt(0.0) == "0" and fmt(37_800_428.0) == "37,800,428"
    assert fmt(61.585187, "%") == "61.59 %" and fmt(6158.5187, "Mbps") == "6,158.5 Mbps"


def test_a_headroom_target_becomes_a_share_of_the_limit_per_kind_of_resource():
    res = results(
        [
            target("storage_headroom_pct_min", "%", 30.0, lo=20.0),
            target("backhaul_util_pct_max", "%", 60.0, hi=70.0),
            target("recorder_ingest_util_pct_max", "%", 70.0, hi=85.0),
        ]
    )
    got = {k: (t.pct, t.metric) for k, t in resource_targets(res).items()}
    assert got == {
        "pool-disk": (80.0, "storage_headroom_pct_min"),
        "recorder-disk": (80.0, "storage_headroom_pct_min"),
        "district-backhaul": (70.0, "backhaul_util_pct_max"),
        "recorder-ingest": (85.0, "recorder_ingest_util_pct_max"),
    }


def test_the_summary_gives_the_margin_to_the_target_beside_the_headroom_to_the_limit():
    rows = [
        {"district": "Sha Tin", "backhaul_mbps": 10_000, "backhaul_util_pct": 61.6},
        {"district": "Islands", "backhaul_mbps": 10_000, "backhaul_util_pct": 75.0},
    ]
    res = results([target("backhaul_util_pct_max", "%", 75.0, hi=70.0)], per_district=rows)
    tight, ok = district_limits(res)
    # 75 % used against a 70 % target: 5 points past it, 25 % headroom to the limit
    assert tight.text == (
        "backhaul of district Islands: 7,500 Mbps of 10,000 Mbps, 75.0 % used, "
        "5.0 points past the 70 % target, 25.0 % headroom to the limit"
    )
    assert tight.over_target and not ok.over_target and ok.margin_pct == 70 - 61.6
    no_target = results([], per_district=rows)
    assert limits(no_target)[0].text.endswith("75.0 % used, 25.0 % headroom to the limit")


def test_a_chart_draws_the_scenarios_target_where_it_set_it_and_no_fixed_85():
    rows = district_limits(
        results(
            [target("backhaul_util_pct_max", "%", 61.6, hi=70.0)],
            per_district=[
                {"district": "Sha Tin", "backhaul_mbps": 10_000, "backhaul_util_pct": 61.6}
            ],
        )
    )

    def vertical_lines(rows):
        fig, ax = plt.subplots()
        _hbars(ax, rows, "t", ("Gbps", 1e3))
        lines = {(float(np.asarray(ln.get_xdata())[0]), ln.get_linestyle()) for ln in ax.lines}
        plt.close(fig)
        return lines

    assert vertical_lines(rows) == {(100.0, "-"), (70.0, "--")}
    bare = district_limits(
        results(
            [],
            per_district=[
                {"district": "Sha Tin", "backhaul_mbps": 10_000, "backhaul_util_pct": 61.6}
            ],
        )
    )
    assert vertical_lines(bare) == {(100.0, "-")}  # no target: the limit only


def test_a_failed_backhaul_target_names_each_district_and_the_capacity_that_meets_it():
    rows = [
        {"district": d, "backhaul_mbps": 10_000, "backhaul_util_pct": u}
        for d, u in (("Sha Tin", 84.0), ("Islands", 20.0), ("Tai Po", 77.0))
    ]
    res = results([target("backhaul_util_pct_max", "%", 84.0, hi=70.0)], per_district=rows)
    # Sha Tin carries 8,400 Mbps: 8,400 / 0.7 = 12,000 Mbps; Tai Po 7,700 / 0.7 = 11,000
    assert [f.text for f in fixes(res)] == [
        "Backhaul to stay at or under 70 %: Sha Tin 12,000 Mbps (has 10,000 Mbps); "
        "Tai Po 11,000 Mbps (has 10,000 Mbps)"
    ]


def test_a_failed_ingest_target_names_the_recorders_that_meet_it():
    recs = [
        {
            "recorder": f"p-r0{i}",
            "pool": "p",
            "ingest_limit_mbps": 1000,
            "ingest_util_pct_max": 90.0,
        }
        for i in range(1, 5)
    ]
    res = results(
        [target("recorder_ingest_util_pct_max", "%", 90.0, hi=75.0)],
        metrics={"recorders": 4.0, "recorders_needed": 4.0},
        per_recorder=recs,
    )
    # 4 x 900 Mbps = 3,600 Mbps over 750 Mbps a recorder: 4.8, so 5
    assert [f.text for f in fixes(res)] == [
        "Recorders: about 5 to keep every recorder at or under 75 % of its ingest limit "
        "(this deployment has 4)"
    ]
    assert (
        fixes(
            results([target("recorder_ingest_util_pct_max", "%", 70.0, hi=75.0)], per_recorder=recs)
        )
        == []
    )  # nothing failed: nothing to fix


def test_gaps_all_equal_or_none_read_as_a_sentence():
    assert (
        gap_sentence(np.full(198, 45.0))
        == "All 198 affected cameras had the same largest gap: 45 s."
    )
    assert gap_sentence(np.array([45.0])) == "One affected camera; its largest gap: 45 s."
    assert gap_sentence(np.array([])) == "No camera had a gap in its recording."
    assert gap_sentence(np.array([45.0, 60.0])) is None  # a distribution: a histogram


def test_the_load_plot_shows_the_failed_recorders_then_those_that_took_cameras():
    limit = np.full(5, 1000.0)
    before = np.array([600.0, 600.0, 600.0, 600.0, 0.0])
    peak = np.array([600.0, 600.0, 603.0, 900.0, 600.0])  # r2 moved 0.3 %: noise, not taken
    end = np.array([0.0, 600.0, 600.0, 600.0, 600.0])
    assert moved_recorders(before, peak, end, limit, failed={0}) == [0, 4, 3]
    assert moved_recorders(before, before, before, limit, failed=set()) == []


def test_a_live_drill_names_the_recorder_killed_the_one_that_took_its_cameras_and_the_steps():
    from twin.output.pages.summary import drill

    fault = {
        "t_s": 60.0,
        "kind": "fault",
        "fault_kind": "recorder_crash",
        "part": "recorder:local-r01",
        "happened_s": 60.0,
        "detected_s": 62.4,
        "restarted_s": 63.0,
        "restored_s": 64.1,
        "scripted": True,
    }
    recs = [
        {"recorder": "local-r01", "killed": True, "cameras_initial": 12, "cameras_final": 0},
        {"recorder": "local-r02", "killed": False, "cameras_initial": 12, "cameras_final": 24},
        {"recorder": "local-r03", "killed": False, "cameras_initial": 11, "cameras_final": 11},
    ]
    res = results([]).model_copy(update={"engine": "live", "events": [fault], "per_recorder": recs})
    d = drill(res)
    assert d is not None and d.n_faults == 1
    assert d.failed == ("local-r01",) and d.took == (("local-r02", 12),)
    assert d.timeline == (
        ("+0 s", "recorder_crash recorder:local-r01 happens"),
        ("+2 s", "recorder_crash recorder:local-r01 detected"),
        ("+3 s", "recorder_crash recorder:local-r01 started again"),
        ("+4 s", "recorder_crash recorder:local-r01 restored"),
    )
    assert d.first_at == "60 s into the run"


def test_an_invalid_live_run_gets_no_fix_its_targets_are_not_judged():
    from twin.cli.support import fixes_text
    from twin.output.pages.summary import summarise

    rows = [{"district": "Sha Tin", "backhaul_mbps": 10_000, "backhaul_util_pct": 84.0}]
    res = results([target("backhaul_util_pct_max", "%", 84.0, hi=70.0)], per_district=rows)
    assert summarise(res).fixes and fixes_text(res)
    invalid = res.model_copy(update={"engine": "live", "validity": {"valid": False, "checks": []}})
    assert summarise(invalid).fixes == () and fixes_text(invalid) is None


def test_the_utilisation_plot_draws_the_scenarios_targets_not_a_fixed_85():
    from types import SimpleNamespace

    from tests.helpers import scenario
    from twin.output.sim_plots import utilisation_targets

    sc = scenario(
        targets={
            "storage_headroom_pct_min": {"min": 20},
            "recorder_ingest_util_pct_max": {"max": 70},
        }
    )
    assert utilisation_targets(SimpleNamespace(scenario=sc)) == {
        "peak ingest": 70.0,
        "peak disk": 80.0,
    }
    assert utilisation_targets(SimpleNamespace(scenario=scenario())) == {}
