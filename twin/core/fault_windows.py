"""When random faults happen: alternating up and down times from MTBF and MTTR (sans-IO).

One function for both engines, so a scenario's random faults are drawn the same way whether
the SimPy engine or the live twin runs them. `FAULT_SPAWN_KEY` is the branch of the scenario
seed the draws come from (the city generator uses the first children of the seed).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FAULT_SPAWN_KEY", "draw_windows"]

FAULT_SPAWN_KEY = 0xFA17


def draw_windows(
    rng: np.random.Generator, n: int, mtbf_s: float, mttr_s: float, fixed_repair: bool, end_s: float
) -> list[list[tuple[float, float]]]:
    """Alternating up (exponential, mean mtbf) and down (exponential or fixed mttr) times for
    `n` independent targets from t=0 to `end_s`; drawn in rounds over all targets at once."""
    out: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    t = np.zeros(n)
    active = np.arange(n)
    while active.size:
        t[active] += rng.exponential(mtbf_s, size=active.size)
        rep = (
            np.full(active.size, mttr_s)
            if fixed_repair
            else rng.exponential(mttr_s, size=active.size)
        )
        for i, a, d in zip(active.tolist(), t[active].tolist(), rep.tolist()):
            if a < end_s:
                out[i].append((a, a + d))
        t[active] += rep
        active = active[t[active] < end_s]
    return out
