"""Retention over random catalogs and holds, against a brute-force per-segment model.

The catalog stores runs; the model below stores every segment. After every sweep, the set of
segments left on disk must be exactly: everything written, minus every segment that ended
retention_s or more before some sweep and was not held at that sweep.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from twin.core.catalog import RunCatalog
from twin.core.types import Interval

SEG = 10.0
RET = 100.0


@st.composite
def scripts(draw):
    n_cams = draw(st.integers(1, 3))
    ops = []
    t = 0.0
    for _ in range(draw(st.integers(1, 25))):
        t += draw(st.sampled_from([0.0, 10.0, 20.0, 30.0, 55.0, 120.0]))
        kind = draw(st.sampled_from(["open", "close", "live", "hold", "release", "sweep", "sweep"]))
        cam = draw(st.integers(0, n_cams - 1))
        if kind == "live":
            d = draw(st.floats(1.0, 15.0))
            ops.append(("live", t, cam, t - d - draw(st.floats(0, 30)), d))
        elif kind == "hold":
            a = draw(st.floats(0, max(t, 1.0)))
            ops.append(("hold", t, cam, a, a + draw(st.floats(0.5, 200))))
        else:
            ops.append((kind, t, cam, 0.0, 0.0))
    ops.append(("sweep", t + 300.0, 0, 0.0, 0.0))
    return n_cams, ops


def _written(runs, now):
    """All segments the model knows at `now`: (cam, start, end)."""
    out = []
    for cam, start, seg, end in runs:
        stop = now if end is None else end
        n = max(0, math.floor((stop - start) / seg + 1e-9))
        out += [(cam, start + i * seg, start + (i + 1) * seg) for i in range(n)]
    return out


@settings(max_examples=150, deadline=None)
@given(scripts())
# A window starting a hair before a segment boundary still overlaps the segment ending there.
@example(
    (
        1,
        [
            ("open", 0.0, 0, 0.0, 0.0),
            ("hold", 1110.0, 0, 1109.9999999999998, 1111.0),
            ("sweep", 1410.0, 0, 0.0, 0.0),
        ],
    )
)
# A live segment [30, 41) beside the run's [30, 40): two segments that start together are two
# segments (the model once keyed segments by start and lost one of them).
@example(
    (
        1,
        [
            ("open", 0.0, 0, 0.0, 0.0),
            ("live", 55.0, 0, 30.0, 11.0),
            ("sweep", 140.0, 0, 0.0, 0.0),
            ("sweep", 440.0, 0, 0.0, 0.0),
        ],
    )
)
def test_sweeps_delete_exactly_the_unheld_segments_past_retention(script):
    n_cams, ops = script
    cat = RunCatalog([f"c{i}" for i in range(n_cams)], ["r0"])
    runs = []  # model: (cam, start, seg, end or None while open)
    open_run: dict[int, int] = {}
    holds: dict[str, tuple[int, float, float]] = {}
    deleted: set[tuple[int, float, float]] = set()  # (camera, start, end)
    hid = 0
    for kind, t, cam, a, b in ops:
        if kind == "open" and cam not in open_run:
            cat.open_runs(np.array([cam]), np.array([0]), t, SEG, np.array([5.0]))
            open_run[cam] = len(runs)
            runs.append((cam, t, SEG, None))
        elif kind == "close" and cam in open_run:
            cat.close_runs(np.array([cam]), t)
            i = open_run.pop(cam)
            runs[i] = (*runs[i][:3], t)
        elif kind == "live":
            cat.add_segment(cam, 0, a, a + b, 7, f"k{len(runs)}")
            runs.append((cam, a, b, a + b))
            # A segment finished after a hold, inside its window, is held too.
            for hc, h0, h1, cov in holds.values():
                if hc == cam and a < h1 and a + b > h0:
                    cov.add((cam, round(a, 6), round(a + b, 6)))
        elif kind == "hold":
            h1 = min(b, t)
            if cam in open_run:
                _, s, seg, _ = runs[open_run[cam]]
                if s < h1:
                    h1 = min(h1, s + math.floor((t - s) / seg + 1e-9) * seg)
            cat.hold(f"h{hid}", cam, Interval(a, b), t)
            covered = {
                (c, round(s, 6), round(e, 6))
                for c, s, e in _written(runs, t)
                if c == cam and s < h1 and e > a and h1 > a
            } - deleted
            holds[f"h{hid}"] = (cam, a, h1, set(covered))
            hid += 1
        elif kind == "release" and holds:
            h = sorted(holds)[0]
            cat.release(h)
            del holds[h]
        elif kind == "sweep":
            plan = cat.plan_sweep(t, RET, 10**9)
            cat.apply(plan)
            for c, s, e in _written(runs, t):
                held = any((c, round(s, 6), round(e, 6)) in cov for *_, cov in holds.values())
                if e <= t - RET + 1e-9 and not held:
                    deleted.add((c, round(s, 6), round(e, 6)))
            on_disk = {
                (int(r.camera[1:]), round(r.start_s, 6), round(r.end_s, 6)) for r in cat.segments(t)
            }
            expected = {(c, round(s, 6), round(e, 6)) for c, s, e in _written(runs, t)} - deleted
            assert on_disk == expected
            # Nothing held is gone.
            for *_, cov in holds.values():
                assert cov <= on_disk


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 50), st.lists(st.integers(0, 3), min_size=1, max_size=6))
def test_bounded_sweeps_take_oldest_first_and_never_exceed_the_batch(batch, starts):
    cams = np.arange(len(starts))
    cat = RunCatalog([f"c{i}" for i in cams], ["r0"])
    for c, s in zip(cams, starts):
        cat.open_runs(np.array([c]), np.array([0]), s * SEG, SEG, np.array([1.0]))
    now = 40 * SEG
    due_total = sum(max(0, math.floor((now - RET - s * SEG) / SEG)) for s in starts)
    left = due_total
    while left:
        plan = cat.plan_sweep(now, RET, batch)
        before = {(r.camera, r.start_s) for r in cat.segments(now)}
        cat.apply(plan)
        after = {(r.camera, r.start_s) for r in cat.segments(now)}
        gone = before - after
        assert len(gone) == min(batch, left) == plan.segments
        assert plan.overdue_after == left - plan.segments
        # Oldest first: nothing left that is due is older than anything deleted.
        due_left = [s for _, s in after if s + SEG <= now - RET]
        if due_left:
            assert min(due_left) >= max(s for _, s in gone)
        left -= len(gone)
    assert cat.plan_sweep(now, RET, batch).segments == 0
