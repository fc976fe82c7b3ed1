"""Seeds of a scenario's random parts, per replication.

A scenario has one seed. The city (sets, cameras, bitrates, recorders) draws from the first
children of SeedSequence(seed) and never changes between replications. The random parts of
a run (faults, incidents, evidence and access requests) draw from
SeedSequence(seed, spawn_key=draw_key + (their own key,)):

- a plain `twin simulate` has draw_key () : the scenario's own draw, as it always was;
- replication k has draw_key (REPLICATION_SPAWN_KEY, k): what
  SeedSequence(seed, spawn_key=(REPLICATION_SPAWN_KEY,)).spawn(n)[k] would give, so
  replication k is the same draw whatever the number of replications, and the same seed
  gives the same distribution on any machine (PCG64).
"""

from __future__ import annotations

import numpy as np

__all__ = ["REPLICATION_SPAWN_KEY", "replication_key", "replication_seed"]

REPLICATION_SPAWN_KEY = 0x5245504C  # "REPL": the replications' own branch of the scenario seed


def replication_key(k: int) -> tuple[int, ...]:
    """The draw_key of replication `k` (0-based) for twin.sim.engine.CityEngine."""
    if k < 0:
        raise ValueError(f"replication index {k} must be >= 0")
    return (REPLICATION_SPAWN_KEY, int(k))


def replication_seed(seed: int, k: int) -> np.random.SeedSequence:
    """Replication k's SeedSequence: the k-th child of the replications' branch."""
    return np.random.SeedSequence(seed, spawn_key=replication_key(k))
