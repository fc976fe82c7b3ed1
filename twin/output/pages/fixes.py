"""What would fix a failed run, where the twin knows: the disks, recorders and backhaul needed.

Sans-IO, from a `Results` alone (either engine), like twin.output.pages.summary. A capacity
engineer reading a FAIL wants "how many servers and disks" first, as a storage calculator
gives it, not the margin by which a percentage missed. Each `Fix` is one resource:

- disk: the footage the retention period needs (the larger of the peak stored and the
  closed form, cameras x bitrate x retention: a full disk caps what was stored) over the
  share the headroom target leaves free (`storage_headroom_pct_min: {min: 20}`: 80 %), against
  the usable disk provisioned; as TB per recorder on the same recorders, or as recorders of
  the same disk;
- recorders: `recorders_needed` (the closed form at 100 % of each limit) when it exceeds the
  recorders provisioned, and, for a failed ingest or stream target, the recorders each pool
  needs to keep its busiest load under the target;
- backhaul: each district over its backhaul target, with the capacity that meets it.

Figures are "about": load is taken as spread evenly over a pool's recorders (the balanced
assignment comes close; a static plan may need more).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from twin.model.results import Results, TargetVerdict
from twin.output.pages.numbers import fmt

__all__ = ["Fix", "fixes"]

_DISK_TARGETS = (
    "storage_headroom_pct_min",
    "storage_headroom_pct",
    "segments_dropped_disk_full",
    "retention_achieved_days_min",
    "retention_achieved_days_p5",
    "retention_achieved_days_median",
    "segments_deleted_early",
    "footage_deleted_early_tb",
)


@dataclass(frozen=True, slots=True)
class Fix:
    resource: str  # "disk", "recorders" or "backhaul"
    text: str


def _failed(res: Results) -> dict[str, TargetVerdict]:
    return {t.metric: t for t in res.targets if not t.passed}


def _target(res: Results, metric: str) -> TargetVerdict | None:
    return next((t for t in res.targets if t.metric == metric), None)


def _num(row: dict[str, Any], key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _tb(x: float) -> str:
    """Disk to buy, in whole TB rounded up (a fix is never a fraction short)."""
    return f"{math.ceil(x - 1e-9):,} TB"


def _disk(res: Results, failed: dict[str, TargetVerdict]) -> Fix | None:
    m = res.metrics
    dropped_full = m.get("segments_dropped_disk_full", 0) > 0
    if not (set(failed) & set(_DISK_TARGETS) or (dropped_full and "segments_dropped" in failed)):
        return None
    demand = max(m.get("storage_needed_tb", 0.0), m.get("storage_model_tb", 0.0))
    have, recorders = m.get("disk_total_tb"), m.get("recorders")
    if not demand or not have or not recorders:
        return None
    head = _target(res, "storage_headroom_pct_min") or _target(res, "storage_headroom_pct")
    free = head.min if head is not None and head.min is not None else 0.0
    need = demand / (1 - free / 100) if free < 100 else math.inf
    if need <= have:
        return None
    keep = f" to keep {free:g} % free at the peak" if free else ""
    text = (
        f"Disk: about {_tb(need)} of usable disk{keep} "
        f"({_tb(demand)} of footage over the retention period); this deployment has "
        f"{fmt(have, 'TB')}, {_tb(need - have)} short"
    )
    disks = {_num(r, "disk_tb") for r in res.per_recorder} - {None}
    if len(disks) == 1:
        each = disks.pop()
        assert each is not None
        its = f"{recorders:,.0f} recorder" + ("s" if recorders != 1 else "")
        text += (
            f": {_tb(need / recorders)} per recorder on its {its} "
            f"(now {fmt(each, 'TB')}), or {math.ceil(need / each):,} recorders "
            f"of {fmt(each, 'TB')}"
        )
    return Fix("disk", text)


def _pool_need(res: Results, util_key: str, limit_key: str, used: str, target: float) -> int:
    """Recorders the pools need so that none is over `target` % of its limit (load spread
    evenly over a pool's recorders)."""
    load: dict[str, float] = defaultdict(float)
    limit: dict[str, float] = {}
    for r in res.per_recorder:
        lim = _num(r, limit_key)
        val = _num(r, used) if used else None
        util = _num(r, util_key) if util_key else None
        if not lim:
            continue
        pool = str(r.get("pool") or "")
        limit[pool] = lim
        load[pool] += val if val is not None else (util or 0.0) * lim / 100
    return sum(math.ceil(load[p] / (limit[p] * target / 100) - 1e-9) for p in load)


def _recorders(res: Results, failed: dict[str, TargetVerdict]) -> list[Fix]:
    m = res.metrics
    have = m.get("recorders")
    out = []
    needed = m.get("recorders_needed")
    if have and needed and needed > have and failed:
        out.append(
            Fix(
                "recorders",
                f"Recorders: {needed:,.0f} needed for the load at 100 % of "
                f"each recorder's limits (ingest, streams, disk over the retention "
                f"period); this deployment has {have:,.0f}",
            )
        )
    for metric, util_key, limit_key, used, what in (
        (
            "recorder_ingest_util_pct_max",
            "ingest_util_pct_max",
            "ingest_limit_mbps",
            "",
            "ingest limit",
        ),
        ("recorder_streams_util_pct_max", "", "stream_limit", "streams_max", "stream limit"),
    ):
        t = failed.get(metric)
        if t is None or t.max is None or t.max <= 0 or not have:
            continue
        n = _pool_need(res, util_key, limit_key, used, t.max)
        if n > have:
            out.append(
                Fix(
                    "recorders",
                    f"Recorders: about {n:,} to keep every recorder at or "
                    f"under {t.max:g} % of its {what} (this deployment has {have:,.0f})",
                )
            )
    return out


def _backhaul(res: Results, failed: dict[str, TargetVerdict]) -> Fix | None:
    t = failed.get("backhaul_util_pct_max")
    if t is None or t.max is None or t.max <= 0:
        return None
    short = []
    for row in res.per_district:
        util, cap = _num(row, "backhaul_util_pct"), _num(row, "backhaul_mbps")
        if util is not None and cap and util > t.max:
            short.append((util, str(row.get("district")), cap))
    if not short:
        return None
    short.sort(key=lambda x: (-x[0], x[1]))
    parts = [
        f"{name} {fmt(util * cap / t.max, 'Mbps')} (has {fmt(cap, 'Mbps')})"
        for util, name, cap in short[:5]
    ]
    more = f", and {len(short) - 5} more districts" if len(short) > 5 else ""
    return Fix("backhaul", f"Backhaul to stay at or under {t.max:g} %: " + "; ".join(parts) + more)


def fixes(res: Results) -> list[Fix]:
    """What would fix this run's failed targets, disk first; empty when nothing failed or
    the twin cannot say (a target on footage lost to a fault, say)."""
    failed = _failed(res)
    if not failed:
        return []
    out: list[Fix] = []
    disk = _disk(res, failed)
    if disk is not None:
        out.append(disk)
    out += _recorders(res, failed)
    backhaul = _backhaul(res, failed)
    if backhaul is not None:
        out.append(backhaul)
    return out
