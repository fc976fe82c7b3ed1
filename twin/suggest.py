"""The near name for a typo: "did you mean bitrate_mbps?", as ruff, cargo and pydantic CLIs say.

One rule for every place a user names something the twin knows (a scenario field, a target
metric, a scenario file, a fidelity metric): the closest known name by difflib's ratio, if
it is close enough to be the one meant. A word whose letters are swapped (`bitrate_mpbs`),
one missing or extra (`storage_headroom_pct_mn`, `city7000.yaml`) clears the cutoff; a word
merely of the same family (`disk_tb` for `cameras`) does not, so a suggestion is never a
guess. This module imports nothing of the twin, so every layer may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean", "near_note"]

# difflib's ratio: 2 x matching characters / total characters. 0.75 keeps a transposition or
# one or two letters off in names of 6+ characters and refuses unrelated names of one family.
CUTOFF = 0.75


def closest(name: str, known: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """The known name nearest to `name` (case-insensitive), or None if none is near."""
    names = sorted(set(known))  # a fixed order, so ties go the same way every run
    by_lower: dict[str, str] = {}
    for n in names:
        by_lower.setdefault(n.lower(), n)
    hit = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[hit[0]] if hit else None


def did_you_mean(name: str, known: Iterable[str], cutoff: float = CUTOFF) -> str:
    """'; did you mean X?' for the nearest known name, or '' if none is near."""
    hit = closest(name, known, cutoff)
    return f"; did you mean {hit}?" if hit is not None else ""


def near_note(name: str, known: Iterable[str], cutoff: float = CUTOFF) -> str:
    """' (did you mean X?)' for the middle of a sentence, or '' if no known name is near."""
    hit = closest(name, known, cutoff)
    return f" (did you mean {hit}?)" if hit is not None else ""
