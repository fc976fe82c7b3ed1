"""The shipped variants are overlays (scenarios/variants/): each merges to the full copy it
replaced, so its results are byte-identical to that copy's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from twin.cli.main import main
from twin.model.results import Results
from twin.scenario import load_scenario
from twin.scenario.loader import read_yaml
from twin.scenario.model import scenario_data

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ROOT / "scenarios" / "variants"
FULL = json.loads((Path(__file__).parent / "data" / "variants-full-sha256.json").read_text())


@pytest.mark.parametrize("stem", sorted(FULL["variants"]))
def test_each_shipped_variant_is_an_overlay_that_merges_to_its_full_copy(stem: str) -> None:
    path = VARIANTS / f"{stem}.yaml"
    assert "base" in read_yaml(path), f"{stem} is not an overlay"
    assert len(path.read_text().splitlines()) < 60  # a few lines, not a copy of ~250
    data, _ = scenario_data(path)
    want = FULL["variants"][stem]
    assert (
        hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest() == want["data_sha256"]
    )
    sc = load_scenario(path, check_memory=False)
    assert hashlib.sha256(sc.canonical_json().encode()).hexdigest() == want["scenario_sha256"]


def test_a_shipped_overlay_simulates_byte_identical_to_its_full_copy(
    tmp_path: Path, capsys: Any
) -> None:
    """n-plus-1 (a chain: city-7000 <- district-pools <- n-plus-1, a drill and a calibration)
    against the full scenario `twin validate --show` prints, run from a folder of its own:
    results.json is the same byte for byte but for the run's clock and the file's name."""
    assert main(["validate", "--show", str(VARIANTS / "n-plus-1.yaml")]) == 0
    full = tmp_path / "variants" / "n-plus-1.yaml"
    full.parent.mkdir(parents=True)
    full.write_text(capsys.readouterr().out)
    (tmp_path / "calibration").symlink_to(ROOT / "scenarios" / "calibration")
    outs = []
    for src, out in ((VARIANTS / "n-plus-1.yaml", tmp_path / "a"), (full, tmp_path / "b")):
        assert main(["simulate", str(src), "--out", str(out), "--quiet", "--days", "33"]) == 1
        res = json.loads((out / "results.json").read_text())
        del res["run"]
        res["scenario"]["source"] = "n-plus-1.yaml"
        outs.append(json.dumps(res, indent=2, sort_keys=True))
    assert outs[0] == outs[1]
    res = Results.model_validate_json((tmp_path / "a" / "results.json").read_text())
    assert res.calibration is not None and res.calibration.path == "../calibration/trial-15.json"


def test_every_variant_file_is_pinned() -> None:
    assert sorted(p.stem for p in VARIANTS.glob("*.yaml")) == sorted(FULL["variants"])
