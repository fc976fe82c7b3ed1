"""Every bad input gets a clear answer: exit 2 (3 when a part could not run), no traceback,
the file, field or argument and the fix named, and nothing half-written.

One test per class of bad input a new user hit (issue 13). Commands run in-process through
`twin.cli.main`, as the console script does; a few run as real processes, to see the exit
code and the screen exactly as a user does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from twin.cli.main import main
from twin.errors import ScenarioError
from twin.metrics import METRICS
from twin.scenario import load_scenario, scenario_json_schema
from twin.scenario.loader import MAX_FILE_BYTES
from twin.scenario.memory import LIMIT_ENV, estimate_bytes

ROOT = Path(__file__).resolve().parent.parent
TRIAL = ROOT / "scenarios" / "trial-15.yaml"
CITY = ROOT / "scenarios" / "city-7000.yaml"
TWIN = Path(sys.executable).parent / "twin"


def run(argv: list[str], capsys) -> tuple[int, str, float]:
    """(exit code, everything printed, seconds): as the console script would end."""
    t0 = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses an argument by exiting 2
        code = int(exc.code)
    cap = capsys.readouterr()
    return code, " ".join((cap.out + cap.err).split()), time.perf_counter() - t0


def assert_refused(code: int, text: str, wall_s: float, *must: str, expect: int = 2) -> None:
    assert code == expect, text
    assert "Traceback" not in text and 'File "' not in text, text
    assert wall_s < 5, f"took {wall_s:.1f} s to refuse: {text}"
    for m in must:
        assert m in text, f"{m!r} not in: {text}"


def no_leftovers(folder: Path) -> list[str]:
    """Temporary or half-written folders a run left in `folder`."""
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def trial_text() -> str:
    return TRIAL.read_text()


def edited(tmp_path: Path, pattern: str, repl: str, name: str = "bad.yaml", count: int = 1) -> Path:
    text, n = re.subn(pattern, repl, trial_text(), count=count, flags=re.M)
    assert n, pattern
    p = tmp_path / name
    p.write_text(text)
    return p


def simulate_refused(tmp_path: Path, capsys, scenario: Path, *must: str) -> str:
    out = tmp_path / "out"
    code, text, wall = run(["simulate", str(scenario), "--out", str(out), "--quiet"], capsys)
    assert_refused(code, text, wall, scenario.name, *must)
    assert not out.exists() and not no_leftovers(tmp_path)
    return text


# -- files that are not YAML text ----------------------------------------------------------------
def test_a_binary_file_is_refused_as_binary(tmp_path, capsys):
    p = tmp_path / "photo.yaml"
    p.write_bytes(Path(sys.executable).read_bytes()[:4096])
    simulate_refused(tmp_path, capsys, p, "a binary file", "pass a .yaml text file")


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path, capsys):
    p = tmp_path / "latin1.yaml"
    p.write_bytes(trial_text().replace("Mong Kok trial", "Mong Kok caf\u00e9").encode("latin-1"))
    simulate_refused(tmp_path, capsys, p, "not UTF-8", "byte 0xe9", "save the scenario as UTF-8")


def test_a_50_mb_file_is_refused_from_its_size_before_it_is_read(tmp_path, capsys):
    p = tmp_path / "huge.yaml"
    with p.open("w") as f:
        f.write(trial_text())
        f.write(("#" + "x" * 999 + "\n") * 50_000)
    assert p.stat().st_size > 50 * MAX_FILE_BYTES
    text = simulate_refused(tmp_path, capsys, p, "bytes, over the 1,000,000-byte limit")
    assert "50,0" in text


# -- arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize("days", ["-1", "0", "1e6", "nan", "inf", "many"])
def test_days_out_of_range_is_refused_before_anything_runs(tmp_path, capsys, days):
    out = tmp_path / "out"
    code, text, wall = run(["simulate", str(CITY), "--days", days, "--out", str(out)], capsys)
    assert_refused(code, text, wall, "argument --days", days)
    if days in ("-1", "0", "1e6"):
        assert "greater than 0 and at most 3,650" in text and "--days 35" in text
    assert not out.exists()


def test_out_that_is_an_existing_file_is_refused_first_and_left_alone(tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("keep me")
    code, text, wall = run(["simulate", str(CITY), "--out", str(f), "--quiet"], capsys)
    # Checked before the 7,000-set city is read or built: a second, not a simulation.
    assert_refused(code, text, wall, "--out", "is a file, not a folder", "give a folder")
    assert wall < 2 and f.read_text() == "keep me"


def test_out_under_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "plain"
    f.write_text("")
    code, text, wall = run(["simulate", str(TRIAL), "--out", str(f / "run" / "x")], capsys)
    assert_refused(code, text, wall, f"{f} is a file", "no folder can be made under it")
    assert f.read_text() == "" and not no_leftovers(tmp_path)


def _read_only_place(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        # root writes through chmod; the kernel's sysfs refuses even root a new folder
        return Path("/sys/cctv-twin-test/out")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "out"


def test_out_in_a_place_that_cannot_be_written_is_refused(tmp_path, capsys):
    place = _read_only_place(tmp_path)
    code, text, wall = run(["simulate", str(TRIAL), "--out", str(place), "--quiet"], capsys)
    assert_refused(
        code, text, wall, f"--out {place}", "cannot write there", "give a folder you can write to"
    )
    assert not place.exists()


def test_live_checks_its_arguments_before_starting_anything(tmp_path, capsys):
    live = ROOT / "scenarios" / "live-trial-15.yaml"
    for argv, must in (
        (["--duration", "-5"], "argument --duration"),
        (["--duration", "1e9"], "at most 86,400"),
        (["--out", str(TRIAL)], "is a file, not a folder"),
    ):
        code, text, wall = run(["live", str(live), *argv, "--quiet"], capsys)
        assert_refused(code, text, wall, must)


def test_every_command_reads_scenarios_through_the_strict_loader(tmp_path, capsys):
    dup = tmp_path / "dup.yaml"
    dup.write_text(trial_text() + "seed: 5\n")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "photo.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    for argv, must in (
        (["validate", str(tmp_path)], "is a folder, not a scenario file"),
        (
            [
                "sweep",
                str(dup),
                "--param",
                "seed=1,2",
                "--backend",
                "local",
                "--out",
                str(tmp_path / "s"),
            ],
            "key 'seed' is given twice",
        ),
        (["compare", str(dup), "--out", str(tmp_path / "c")], "key 'seed' is given twice"),
        (["check", str(folder), "--out", str(tmp_path / "k"), "--jobs", "1"], "a binary file"),
        (["live", str(dup), "--out", str(tmp_path / "l")], "key 'seed' is given twice"),
    ):
        code, text, wall = run([*argv, "--quiet"] if argv[0] != "validate" else argv, capsys)
        assert_refused(code, text, wall, must)
    for name in "scl":
        assert not (tmp_path / name).exists()
    # `twin check` is CI's report: a whole one, naming the file it could not read, not a
    # half-written one.
    assert "a binary file" in (tmp_path / "k" / "junit.xml").read_text()
    assert not no_leftovers(tmp_path)


def test_evidence_checks_its_arguments_and_makes_no_run_folder_from_a_typo(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ask = [
        "evidence",
        "request",
        "--officer",
        "pc1",
        "--rank",
        "Sergeant",
        "--camera",
        "set00001-cam1",
    ]
    for argv, must in (
        ([*ask, str(tmp_path / "typo"), "--from", "0", "--to", "60"], "no such run folder"),
        ([*ask, str(run_dir), "--from", "60", "--to", "10"], "the window must end after it starts"),
        ([*ask, str(run_dir), "--from", "nan", "--to", "10"], "argument --from"),
        (["evidence", "status", str(run_dir), "--at", "inf"], "argument --at"),
    ):
        code, text, wall = run(argv, capsys)
        assert_refused(code, text, wall, must)
    assert not (tmp_path / "typo").exists() and not (run_dir / "evidence").exists()


def test_compare_sweep_and_check_check_their_arguments_first(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("")
    for argv, must in (
        (["compare", str(TRIAL), "--out", str(f)], "is a file, not a folder"),
        (["compare", str(TRIAL), "--days", "0"], "argument --days"),
        (
            ["compare", str(TRIAL), str(TRIAL), "--label", "one", "--out", str(tmp_path / "c")],
            "one label per input",
        ),
        (["sweep", str(TRIAL), "--param", "seed=1,2", "--out", str(f / "x")], "is a file"),
        (["sweep", str(TRIAL), "--param", "seed=1", "--days", "-3"], "argument --days"),
        (["check", str(tmp_path), "--out", str(f)], "is a file, not a folder"),
        (["check", "--jobs", "0"], "argument --jobs"),
        (["check", "--tolerance-pct", "-1"], "argument --tolerance-pct"),
    ):
        code, text, wall = run(argv, capsys)
        assert_refused(code, text, wall, must)
    assert not (tmp_path / "c").exists() and not no_leftovers(tmp_path)


# -- scenario values -----------------------------------------------------------------------------
def test_sets_of_1e12_is_refused_by_its_range_not_a_memory_error(tmp_path, capsys):
    p = edited(tmp_path, r"^    sets: 15$", "    sets: 1000000000000")
    simulate_refused(
        tmp_path,
        capsys,
        p,
        "field city.districts[0].sets",
        "1000000000000",
        "less than or equal to 1000000",
        "at most 1,000,000",
    )


def test_an_alias_bomb_is_refused_fast(tmp_path, capsys):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):  # 9^10 = 3.5 billion nodes once expanded
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 1_000
    p = tmp_path / "bomb.yaml"
    p.write_text(trial_text() + bomb)
    simulate_refused(
        tmp_path, capsys, p, "aliases", "more than 200,000 YAML nodes", "remove the alias chain"
    )


def test_a_recursive_alias_is_refused(tmp_path, capsys):
    p = tmp_path / "loop.yaml"
    p.write_text(trial_text() + "loop: &l [1, *l]\n")
    simulate_refused(tmp_path, capsys, p, "recursive alias")


@pytest.mark.parametrize(
    "pattern, repl, field",
    [
        (r"^  days: 35.0$", "  days: .inf", "simulation.days"),
        (r"^    disk_tb: 420.0$", "    disk_tb: .inf", "recorders.pools[0].disk_tb"),
        (
            r"^    backhaul_mbps: 10000.0$",
            "    backhaul_mbps: .inf",
            "city.districts[0].backhaul_mbps",
        ),
        (
            r"^    backhaul_mbps: 10000.0$",
            "    backhaul_mbps: .nan",
            "city.districts[0].backhaul_mbps",
        ),
        (r"^  retention_days: 30.0$", "  retention_days: 1.0e+400", "recording.retention_days"),
    ],
)
def test_non_finite_numbers_are_refused(tmp_path, capsys, pattern, repl, field):
    p = edited(tmp_path, pattern, repl)
    simulate_refused(tmp_path, capsys, p, f"field {field}", "finite number")


def test_non_finite_numbers_are_refused_in_every_section(tmp_path, capsys):
    data = yaml.safe_load((ROOT / "scenarios" / "evidence-7000.yaml").read_text())
    data["costs"] = {
        "recorder_hkd": 1,
        "disk_hkd_per_tb": 1,
        "backhaul_hkd_per_gbps": 1,
        "drive_tb": float("inf"),
    }
    data["evidence"]["access"]["window_s"] = float("nan")
    data["failover"] = {"heartbeat": {"interval_s": float("inf")}}
    data["faults"] = [
        {"type": "recorder_crash", "recorder": "*", "mtbf_h": float("inf"), "mttr_h": 1}
    ]
    p = tmp_path / "inf.yaml"
    p.write_text(yaml.safe_dump(data))
    text = simulate_refused(
        tmp_path,
        capsys,
        p,
        "costs.drive_tb",
        "evidence.access.window_s",
        "failover.heartbeat.interval_s",
        "faults[0].mtbf_h",
    )
    assert text.count("finite number") == 4


@pytest.mark.parametrize(
    "pattern, repl, field, kind",
    [
        (r"^    sets: 15$", "    sets: yes", "city.districts[0].sets", "a bool"),
        (r"^seed: 2024$", "seed: '2024'", "seed", "a str"),
        (r"^    2: 0.5$", "    2: true", "city.cameras_per_set.2", "a bool"),
    ],
)
def test_a_bool_or_a_quoted_number_is_not_a_number(tmp_path, capsys, pattern, repl, field, kind):
    p = edited(tmp_path, pattern, repl)
    simulate_refused(
        tmp_path,
        capsys,
        p,
        f"field {field}",
        f"{kind} where a number goes",
        "write the number without quotes",
    )


def test_a_city_with_no_cameras_is_refused_unless_the_rollout_brings_some(tmp_path, capsys):
    p = edited(tmp_path, r"^    sets: 15$", "    sets: 0")
    simulate_refused(
        tmp_path, capsys, p, "field city", "no camera sets", "add a roll-out step that brings them"
    )
    # The same city with its sets coming on line in a roll-out step is a city.
    later = edited(
        tmp_path,
        r"^  rollout: \[\]$",
        "  rollout: [{month: '2024-03', sets: {Yau Tsim Mong: 15}}]",
        "later.yaml",
    )
    later.write_text(later.read_text().replace("    sets: 15\n", "    sets: 0\n"))
    assert load_scenario(later).city.total_sets == 15


@pytest.mark.parametrize(
    "extra, key, lines",
    [
        ("seed: 5\n", "seed", "on line 13 and on line"),
        ("recording:\n  segment_s: 30\n", "recording", "on line 38 and on line"),
    ],
)
def test_duplicate_keys_are_refused_naming_both_lines(tmp_path, capsys, extra, key, lines):
    p = tmp_path / "dup.yaml"
    p.write_text(trial_text() + extra)
    n = len(trial_text().splitlines()) + 1
    simulate_refused(
        tmp_path, capsys, p, f"key '{key}' is given twice", f"{lines} {n}", "keep one of them"
    )


@pytest.mark.parametrize(
    "bound, message",
    [
        (
            "cameras_unplaced: {max: -1}",
            "targets.cameras_unplaced.max (-1) is outside what "
            "cameras_unplaced can measure (>= 0 cameras), so the target would never pass",
        ),
        ("segments_written: {min: -5}", "(>= 0 segments), so the target would always pass"),
        ("storage_headroom_pct: {min: 120}", "(0 to 100 %), so the target would never pass"),
        ("audit_verified: {min: 2}", "(0 to 1 bool)"),
    ],
)
def test_target_bounds_outside_the_metric_domain_are_refused(tmp_path, capsys, bound, message):
    p = edited(tmp_path, r"^targets:$", "targets:\n  " + bound)
    simulate_refused(tmp_path, capsys, p, "field targets", message, "give a bound within")


def test_every_metric_knows_its_domain():
    for name, m in METRICS.items():
        assert m.lo == 0 and m.hi > 0, name
        if m.unit in ("ratio", "bool"):
            assert m.hi == 1, name
    shares = {n for n, m in METRICS.items() if m.hi == 100}
    assert shares == {
        "storage_headroom_pct",
        "storage_headroom_pct_min",
        "evidence_lost_to_retention_pct",
        "analytics_frames_dropped_pct",
        "live_machine_cpu_busy_pct_max",
        "live_machine_cpu_busy_pct_mean",
        "live_machine_cpu_steal_pct_max",
    }


def _numbers(schema: dict, node: dict, path: str, out: list[tuple[str, dict]]) -> None:
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            _numbers(schema, sub, path, out)
    if node.get("type") in ("number", "integer"):
        out.append((path, node))
    for k, sub in node.get("properties", {}).items():
        _numbers(schema, sub, f"{path}.{k}", out)
    for k in ("items", "additionalProperties"):
        if isinstance(node.get(k), dict):
            _numbers(schema, node[k], f"{path}[]", out)


def test_every_count_size_and_duration_has_a_range_and_says_why():
    schema = scenario_json_schema()
    found: list[tuple[str, dict]] = []
    for name, d in schema["$defs"].items():
        for k, sub in d.get("properties", {}).items():
            _numbers(schema, sub, f"{name}.{k}", found)
    # Bounded elsewhere: by the metric's domain (targets), by the city's last set (faults).
    elsewhere = {"Bound.min", "Bound.max", "SetPower.camera_set", "FaultGroup.faults[].camera_set"}
    unbounded = sorted(
        {
            p
            for p, n in found
            if p not in elsewhere and "maximum" not in n and "exclusiveMaximum" not in n
        }
    )
    assert not unbounded, f"numeric fields without an upper bound: {unbounded}"
    assert len(found) > 100
    # Each field's description says what it is, in which unit, and (for the ranges that are
    # not obvious) why its bound is where it is; error messages quote it.
    undescribed = sorted(
        f"{name}.{k}"
        for name, d in schema["$defs"].items()
        for k, sub in d.get("properties", {}).items()
        if re.search(r"'(number|integer)'", str(sub)) and not sub.get("description")
    )
    assert not undescribed, f"numeric fields without a description: {undescribed}"


# -- memory --------------------------------------------------------------------------------------
def test_a_city_that_would_not_fit_in_memory_is_refused_with_the_estimate_and_limit(
    tmp_path, capsys, monkeypatch
):
    need = estimate_bytes(load_scenario(CITY))
    monkeypatch.setenv(LIMIT_ENV, str(need / 2e6))  # half of what this city needs
    out = tmp_path / "out"
    code, text, wall = run(["simulate", str(CITY), "--out", str(out), "--quiet"], capsys)
    assert_refused(
        code,
        text,
        wall,
        "city-7000.yaml",
        f"about {need / 1e6:,.0f} MB of memory",
        f"over the limit of {need / 2e6:,.0f} MB ({LIMIT_ENV})",
        "nothing was built",
        "simulation.days",
    )
    assert not out.exists() and not no_leftovers(tmp_path)
    code, text, wall = run(["validate", str(CITY)], capsys)
    assert_refused(code, text, wall, "invalid", "of memory")
    # A longer --days needs more: the estimate follows the horizon actually run.
    monkeypatch.setenv(LIMIT_ENV, str(need * 1.01 / 1e6))
    with pytest.raises(ScenarioError, match="of memory"):
        from twin.scenario.memory import check_fits

        check_fits(load_scenario(CITY, check_memory=False), "city", days=3650)


def test_random_faults_that_would_never_end_are_refused_before_the_run(tmp_path, capsys):
    data = yaml.safe_load(CITY.read_text())
    data["calibration"] = str(CITY.parent / data["calibration"])  # the copy lives elsewhere
    data["faults"] = [{"type": "set_power", "camera_set": "*", "mtbf_h": 0.01, "mttr_h": 0.001}]
    p = tmp_path / "storm.yaml"
    p.write_text(yaml.safe_dump(data))
    # 7,000 sets x 840 h / 0.01 h: 588 million power cuts, a typo of seconds for hours.
    simulate_refused(
        tmp_path,
        capsys,
        p,
        "faults[0] (set_power, mtbf_h 0.01) would draw about 588,000,000 faults over 35 days",
        "raise it, or name one target",
    )


def test_the_estimate_is_above_what_a_run_takes(tmp_path):
    """Measured, not assumed: the peak traced over building and simulating a city stays under
    the estimate (so the refusal errs on the safe side)."""
    import tracemalloc

    from twin.model.city import generate_city
    from twin.sim.engine import CityEngine

    sc = load_scenario(ROOT / "scenarios" / "phase1-615.yaml")
    tracemalloc.start()
    try:
        CityEngine(sc, generate_city(sc)).run(7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    est = estimate_bytes(sc, 7)
    assert peak < est < 20 * peak, (peak, est)


# -- the top-level handler and staged outputs ----------------------------------------------------
def test_an_unexpected_error_is_one_line_a_log_file_and_exit_3(tmp_path, capsys, monkeypatch):
    from twin.sim import engine

    def broken(self, days=None):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(engine.CityEngine, "run", broken)
    out = tmp_path / "deep" / "er" / "out"
    code, text, wall = run(["simulate", str(TRIAL), "--out", str(out), "--quiet"], capsys)
    assert_refused(
        code,
        text,
        wall,
        "twin simulate could not run: ZeroDivisionError: float division by zero",
        "the traceback is in",
        expect=3,
    )
    log = Path(re.search(r"the traceback is in (\S+)", text).group(1))
    try:
        assert "Traceback" in log.read_text() and "def broken" not in text
        assert "ZeroDivisionError" in log.read_text()
    finally:
        log.unlink()
    # Nothing half-written, and no folder made on the way to it.
    assert not (tmp_path / "deep").exists() and not no_leftovers(tmp_path)


def test_a_finished_run_replaces_an_earlier_one_and_keeps_other_files(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("stale")
    (out / "notes.txt").write_text("mine")
    code, text, _ = run(
        ["simulate", str(TRIAL), "--days", "1", "--out", str(out), "--quiet"], capsys
    )
    assert code == 0, text
    assert (out / "results.json").read_text().startswith("{")
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.md").exists()
    assert not no_leftovers(tmp_path)


def test_as_a_real_process_bad_input_exits_2_without_a_traceback(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\x7fELF\x02\x01\x01\x00" * 64)
    for argv in ([str(p)], [str(TRIAL), "--days", "-1"], [str(TRIAL), "--out", str(p)]):
        t0 = time.perf_counter()
        r = subprocess.run(
            [str(TWIN), "simulate", *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr, (argv, r.stderr)
        assert time.perf_counter() - t0 < 30
    assert sorted(os.listdir(tmp_path)) == ["bin.yaml"]
