"""Running a bench of bench/ from the test suite at its smoke size, and reading what it printed
(tests/test_benches.py, and the live test modules whose runs the live benches read)."""

from __future__ import annotations

import importlib
import math
import re
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # the benches import each other (and naive.py) by name


def bench(name: str) -> ModuleType:
    """A bench module of bench/ (imported when its test runs, not when tests are collected)."""
    return importlib.import_module(name)


def numbers(pattern: str, text: str) -> list[float]:
    """Every group of every match of `pattern` in `text`, as numbers ("1,132" is 1132)."""
    found = [g for m in re.finditer(pattern, text) for g in m.groups()]
    assert found, f"nothing printed matches {pattern!r}; printed:\n{text[-3000:]}"
    return [float(g.replace(",", "")) for g in found]


def positive(pattern: str, text: str) -> list[float]:
    """The printed figures `pattern` captures; each must be finite and above zero."""
    got = numbers(pattern, text)
    assert all(math.isfinite(x) and x > 0 for x in got), (pattern, got)
    return got
