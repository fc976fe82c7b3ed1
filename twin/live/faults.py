"""The scenario's `faults:` as the live twin carries them out: one vocabulary for both engines.

A live run reads the same `faults:` entries as the simulation (twin.scenario.faults), with
times in seconds from the start of recording, and draws random ones (`mtbf_h`, `mttr_h`)
with the simulation's function and seed branch. What each does to the real twin:

| fault | live action |
| --- | --- |
| `recorder_crash` | `kill -9` of the recorder actor's worker process; a new one at the end |
| `relay_down` | `kill -9` of MediaMTX (it relays every district here); started again at the end |
| `set_power` | the set's cameras stop publishing; they start again at the end |
| `district_power` | `set_power` for every set of the district |
| `group` | its members at the group's times |

A fault without `duration_s` lasts to the end of the run. Faults the live twin cannot
carry out on one machine (disks, backhaul) are refused with the reason, before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.core.fault_windows import FAULT_SPAWN_KEY, draw_windows
from twin.errors import ScenarioError

__all__ = ["LIVE_FAULT_TYPES", "LiveFault", "compile_live_faults"]

LIVE_FAULT_TYPES = ("recorder_crash", "relay_down", "set_power", "district_power", "group")


@dataclass(frozen=True, slots=True)
class LiveFault:
    """One scripted fault of a live run: `action` on `target` from `start_s` to `end_s`.

    Times are seconds from the start of recording (`end_s` may be inf: to the end).
    `action` is "kill_recorder", "kill_relay" or "power_off"; `target` a recorder name,
    "mediamtx", or a set name (set00012).
    """

    index: int  # scenario faults[index]
    kind: str  # the scenario's fault type
    action: str
    target: str
    start_s: float
    end_s: float
    label: str


def _targets(
    mem: Any,
    recorders: list[str],
    districts: list[str],
    sets_of: dict[str, list[str]],
    n_sets: int,
    where: str,
) -> list[tuple[str, str]]:
    """(action, target) pairs of one fault entry."""
    if mem.type == "recorder_crash":
        names = recorders if mem.recorder == "*" else [mem.recorder]
        bad = [n for n in names if n not in recorders]
        if bad:
            raise ScenarioError(
                f"{where}.recorder: {bad[0]!r} is not one of the live run's recorders "
                f"{recorders}; expected one of them or '*' (every recorder of recorders.pools, "
                f"named <pool>-rNN)"
            )
        return [("kill_recorder", n) for n in names]
    if mem.type == "relay_down":
        return [("kill_relay", "mediamtx")]
    if mem.type == "set_power":
        sets = range(1, n_sets + 1) if mem.camera_set == "*" else [mem.camera_set]
        return [("power_off", f"set{s:05d}") for s in sets]
    if mem.type == "district_power":
        ds = districts if mem.district == "*" else [mem.district]
        return [("power_off", s) for d in ds for s in sets_of.get(d, [])]
    raise ScenarioError(
        f"{where}: a {mem.type} fault cannot be carried out live (the live twin runs on one "
        f"machine's processes, not real disks or links); expected one of "
        f"{list(LIVE_FAULT_TYPES)}: simulate this scenario with `twin simulate`, or remove it"
    )


def compile_live_faults(
    sc: Any,
    recorders: list[str],
    sets_of_district: dict[str, list[str]],
    duration_s: float,
    source: str = "<scenario>",
) -> list[LiveFault]:
    """The scenario's faults as live actions over a run of `duration_s` (sorted by start).

    Random timings are drawn per target with the simulation's seed branch
    (`SeedSequence(seed, spawn_key=(FAULT_SPAWN_KEY,))`, one child per fault entry).
    """
    districts = [d.name for d in sc.city.districts]
    n_sets = sc.city.total_sets
    out: list[LiveFault] = []
    root = np.random.SeedSequence(sc.seed, spawn_key=(FAULT_SPAWN_KEY,))
    children = root.spawn(len(sc.faults))
    for i, (f, child) in enumerate(zip(sc.faults, children)):
        where = f"{source}: faults[{i}]"
        members = list(f.faults) if f.type == "group" else [f]
        units: list[list[tuple[str, str]]]
        if f.type == "group":
            units = [
                [
                    t
                    for j, m in enumerate(members)
                    for t in _targets(
                        m, recorders, districts, sets_of_district, n_sets, f"{where}.faults[{j}]"
                    )
                ]
            ]
        else:
            units = [
                [t] for t in _targets(f, recorders, districts, sets_of_district, n_sets, where)
            ]
        if f.random:
            rng = np.random.default_rng(child)
            wins = draw_windows(
                rng, len(units), f.mtbf_h * 3600, f.mttr_h * 3600, f.repair == "fixed", duration_s
            )
        else:
            t1 = f.at_s + f.duration_s if f.duration_s is not None else math.inf
            wins = [[(f.at_s, t1)] for _ in units]
        for unit, ws in zip(units, wins):
            for t0, t1 in ws:
                if t0 >= duration_s:
                    continue
                for action, target in unit:
                    out.append(
                        LiveFault(
                            i,
                            f.type if f.type != "group" else f"group:{f.name}",
                            action,
                            target,
                            float(t0),
                            float(t1),
                            f.label,
                        )
                    )
    out.sort(key=lambda x: (x.start_s, x.index, x.target))
    return out
