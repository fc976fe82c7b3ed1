"""Comparing deployments: `twin compare`, `twin sweep`, `twin check`, `twin breakpoint` and
replications (the commands themselves are in twin.cli.compare).

- compare: several variants (scenario files, run folders or results.json files) side by
  side, including a live run against a simulated one (the difference is the twin's fidelity);
- grid: a parameter grid of variants over dotted scenario paths (`twin sweep`), run as Ray
  tasks, naming the smallest deployment that meets every target;
- check: every scenario of a folder judged on its targets and against a stored baseline,
  with JUnit XML for CI.

Kept import-light: loading the package imports nothing (each tool loads what it needs).
"""

from __future__ import annotations

__all__ = ["runs", "compare", "grid", "check", "breakpoint", "replications", "fidelity"]
