"""Replications: seeded draws of a scenario's random parts on one city, as distributions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import BASE

from twin.cli.main import main
from twin.compare.replications import (
    Draws,
    compare_draws,
    read_draws,
    run_draws,
    run_replications,
    summarise_draws,
)
from twin.errors import ScenarioError
from twin.model.city import generate_city
from twin.model.draws import replication_key
from twin.model.stats import summarise
from twin.scenario import parse_scenario
from twin.sim.engine import CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

FAULTS = [
    {"type": "recorder_crash", "recorder": "*", "mtbf_h": 12, "mttr_h": 1},
    {"type": "set_power", "camera_set": "*", "mtbf_h": 200, "mttr_h": 0.5},
]


def _data(**targets) -> dict:
    d = copy.deepcopy(BASE)
    d["name"] = "repl"
    d["simulation"]["days"] = 2
    d["simulation"]["tick_s"] = 600  # coarse ticks: the faults still land at their exact times
    d["recording"]["retention_days"] = 3
    d["faults"] = copy.deepcopy(FAULTS)
    d["targets"] = targets
    return d


def _file(tmp_path: Path, data: dict, name: str = "repl.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def _without_run(path: Path) -> dict:
    d = json.loads(path.read_text())
    d.pop("run")
    return d


def test_the_same_seed_gives_the_same_distribution_byte_for_byte(tmp_path):
    src = _file(tmp_path, _data(camera_minutes_unrecorded={"max": 1e9}))
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
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
    a, b = (o / "draws.csv" for o in outs)
    assert a.read_bytes() == b.read_bytes()
    assert _without_run(outs[0] / "replications.json") == _without_run(
        outs[1] / "replications.json"
    )
    assert (outs[0] / "distributions.png").stat().st_size > 10_000
    # The draws really differ from one replication to the next...
    lost = [m["camera_minutes_unrecorded"] for m in read_draws(outs[0]).metrics]
    assert len(set(lost)) == 6
    # ...replication k is the same draw whatever N is, and is exactly a run with its draw key.
    assert (
        main(
            [
                "simulate",
                str(src),
                "--replications",
                "3",
                "--backend",
                "local",
                "--out",
                str(tmp_path / "c"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (tmp_path / "c/draws.csv").read_text().splitlines() == a.read_text().splitlines()[:4]
    sc = parse_scenario(_data(), "<test>")
    direct = sim_metrics(
        CityEngine(
            sc, generate_city(sc), extensions=extensions_for(sc), draw_key=replication_key(4)
        ).run()
    )
    assert read_draws(outs[0]).metrics[4] == direct


def test_replications_move_the_random_parts_and_never_the_city(tmp_path):
    sc = parse_scenario(_data(), "<test>")
    city = generate_city(sc)
    plain = CityEngine(sc, city, extensions=extensions_for(sc)).run()
    reps = [
        CityEngine(sc, city, extensions=extensions_for(sc), draw_key=replication_key(k)).run()
        for k in range(3)
    ]
    # a plain run is the scenario's own draw, unchanged; each replication draws its own faults
    assert (
        plain.events
        == CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run().events
    )
    starts = [
        tuple(e["t_s"] for e in o.events if e.get("kind") == "fault_start") for o in [plain, *reps]
    ]
    assert len(set(starts)) == 4 and all(starts)
    for o in reps:
        assert o.city is city and (o.cam_recorder >= 0).all()
        assert sim_metrics(o)["cameras"] == sim_metrics(plain)["cameras"]


def test_ray_tasks_give_the_same_draws_as_one_after_another():
    sc = parse_scenario(_data(), "<test>")
    local = run_replications(sc, 5, "local")
    ray_run = run_replications(sc, 5, "ray", overlap=False)  # every draw on a Ray worker
    assert ray_run.metrics == local.metrics
    assert ray_run.metrics[2] == run_draws(sc, generate_city(sc), ((2,), None))[0]


def test_a_target_is_judged_on_the_percentile_it_names():
    sc0 = parse_scenario(_data(), "<test>")
    draws = run_replications(sc0, 12, "local")
    s = summarise([m["camera_minutes_unrecorded"] for m in draws.metrics])
    assert s.p50 < s.p95
    bound = (s.p50 + s.p95) / 2
    for stat, ok in (("p50", True), ("p95", False), (None, s.mean <= bound)):
        target = {"max": bound} if stat is None else {"max": bound, "stat": stat}
        sc = parse_scenario(_data(camera_minutes_unrecorded=target), "<test>")
        res = summarise_draws(sc, "<test>", draws)
        (v,) = res.targets
        assert (v.stat, v.passed, res.passed) == (stat or "mean", ok, ok)
        assert v.value == pytest.approx(s.stat(stat or "mean"), abs=1e-6)


def test_a_plain_run_keeps_a_target_without_stat_as_it_was():
    data = _data(camera_minutes_unrecorded={"max": 5})
    sc = parse_scenario(data, "<test>")
    assert "stat" not in sc.targets["camera_minutes_unrecorded"].model_dump()
    assert '"stat"' not in sc.canonical_json()
    with pytest.raises(ScenarioError, match=r"targets.camera_minutes_unrecorded.stat.*p99"):
        parse_scenario(_data(camera_minutes_unrecorded={"max": 5, "stat": "p99"}), "<test>")


def test_compare_with_replications_says_what_is_beyond_the_noise(tmp_path):
    base = _data()
    worse = _data()
    worse["name"] = "repl-worse"
    worse["faults"][0]["mtbf_h"] = 3  # four times as many recorder crashes
    other_seed = _data()
    other_seed["seed"] = 8
    a, b = (
        run_replications(parse_scenario(base), 12, "local"),
        run_replications(parse_scenario(worse), 12, "local"),
    )
    rows = {r.metric: r for r in compare_draws(a, b)}
    assert rows["incidents"].verdict == "worse" and rows["incidents"].diff.p_value < 1e-6
    assert rows["camera_minutes_unrecorded"].verdict == "worse"
    assert rows["cameras"].verdict == "same"  # no spread and equal: not a difference at all
    # the CLI: two scenario files, replicated, the table and the report say the same
    pa, pb = _file(tmp_path, base, "a.yaml"), _file(tmp_path, worse, "b.yaml")
    out = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                str(pa),
                str(pb),
                "--replications",
                "12",
                "--backend",
                "local",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    csv_rows = [
        line.split(",") for line in (out / "comparison-replications.csv").read_text().splitlines()
    ]
    verdicts = {r[1]: r[-1] for r in csv_rows[1:]}
    assert verdicts["incidents"] == "worse" and verdicts["cameras"] == "same"
    # a folder written by `twin simulate --replications` is read back as the same draws
    assert read_draws(out / "runs" / "a").metrics == a.metrics


def test_bad_replication_input_is_refused_with_the_fix(tmp_path):
    sc = parse_scenario(_data(), "<test>")
    with pytest.raises(ScenarioError, match=r"--replications 0: expected a whole number >= 1"):
        run_replications(sc, 0, "local")
    with pytest.raises(ScenarioError, match="no draws.csv"):
        read_draws(tmp_path)
    assert isinstance(Draws((), 0.0, "", "local"), Draws)
    assert np.isfinite(summarise([1.0]).ci_low)
