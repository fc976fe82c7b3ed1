"""Numbers and times as people read them, for every page and table of the twin."""

from __future__ import annotations

__all__ = ["fmt", "when"]


def fmt(v: float | None, unit: str = "") -> str:
    """A number for people: thousands separated, at most 3 significant decimals, unit after
    it; never an exponent (a value under 0.001 reads "under 0.001", not 5e-06)."""
    if v is None:
        return "not measured"
    if v != 0 and abs(v) < 0.001:
        s = "under 0.001" if v > 0 else "above -0.001"
    elif v == int(v) or abs(v) >= 1e4:
        s = f"{v:,.0f}"
    elif abs(v) >= 100:
        s = f"{v:,.1f}"
    else:
        s = f"{v:,.3g}" if abs(v) < 1 else f"{v:,.2f}"
    if not unit:
        return s
    return f"{s} %" if unit == "%" else f"{s} {unit}"


def when(t_s: float) -> str:
    """A time into the run in the unit a person would use: s, then h, then days."""
    if t_s < 3600:
        return f"{t_s:,.0f} s"
    if t_s < 2 * 86_400:
        return f"{t_s / 3600:,.1f} h"
    return f"day {t_s / 86_400:,.1f}"
