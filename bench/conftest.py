import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--smoke",
        action="store_true",
        help="run every bench at its smoke size only (as tests/test_benches.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--smoke"):
        os.environ["BENCH_SMOKE"] = "1"  # read by bench/sizes.py when the benches are collected
