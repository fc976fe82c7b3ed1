"""Comparing deployments: `twin compare`, `twin sweep` and `twin check`.

- compare: several variants (scenario files, run folders or results.json files) side by
  side, including a live run against a simulated one (the difference is the twin's fidelity);
- sweep: a grid of variants over dotted scenario paths, run as Ray tasks, naming the
  smallest deployment that meets every target;
- check: every scenario of a folder judged on its targets and against a stored baseline,
  with JUnit XML for CI.

Kept import-light: loading the package imports nothing (each tool loads what it needs).
"""

from __future__ import annotations

__all__ = ["verdict", "runs", "compare", "sweep", "check", "plots", "cli"]
