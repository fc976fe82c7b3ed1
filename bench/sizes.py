"""The sizes a bench runs at: its full sizes under `make bench`, one smoke size otherwise.

A bench that nothing runs rots, so each one also has a smoke size (seconds, the same code
path) that tests/test_benches.py runs in `make test`. `pytest bench --smoke` (or
BENCH_SMOKE=1) runs every bench at that size alone.
"""

from __future__ import annotations

import os

SMOKE = "smoke"


def smoke() -> bool:
    return os.environ.get("BENCH_SMOKE", "") not in ("", "0")


def sizes(*full: str) -> list[str]:
    """The sizes to parametrize a bench with: `full`, or only the smoke size."""
    return [SMOKE] if smoke() else list(full)
