from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.core.assignment import RecorderLoads, accept_within_limits


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.floats(10, 500), st.integers(1, 20)), min_size=1, max_size=6),
    st.lists(st.floats(0.5, 50), min_size=0, max_size=120),
)
def test_balanced_placement_never_exceeds_a_limit_and_only_leaves_out_what_cannot_fit(recs, mbps):
    loads = RecorderLoads(np.zeros(len(recs)), [r[0] for r in recs], [r[1] for r in recs])
    mbps = np.array(mbps)
    out = loads.place_balanced(mbps, np.zeros(mbps.size, dtype=int))
    for r, (lim, streams) in enumerate(recs):
        mine = out == r
        assert mbps[mine].sum() <= lim * (1 + 1e-9)
        assert mine.sum() <= streams
    # A camera left out fits nowhere at the moment it was placed; at the end it still does not.
    for i in np.flatnonzero(out < 0):
        assert not any(loads.fits(r, mbps[i]) for r in range(len(recs)))


def test_static_plan_over_a_limit_records_the_cameras_that_fit_in_order():
    assigned = np.array([0, 0, 0, 0, 1, 1])
    mbps = np.array([4.0, 4.0, 4.0, 4.0, 1.0, 1.0])
    ok = accept_within_limits(assigned, mbps, np.array([10.0, 100.0]), np.array([100, 1]))
    assert ok.tolist() == [True, True, False, False, True, False]
