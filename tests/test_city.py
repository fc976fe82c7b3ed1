from __future__ import annotations

import numpy as np

from tests.helpers import scenario
from twin.model.city import generate_city


def test_same_seed_same_city_and_a_new_seed_a_new_one():
    a, b = generate_city(scenario()), generate_city(scenario())
    for f in ("set_site_kind", "set_cameras", "cam_profile", "cam_mbps", "cam_pool"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    c = generate_city(scenario(seed=8))
    assert not np.array_equal(a.cam_mbps, c.cam_mbps)


def test_sets_cameras_and_names_follow_the_scenario():
    city = generate_city(scenario())
    assert city.n_sets == 60
    assert np.bincount(city.set_district).tolist() == [40, 20]
    assert set(city.set_cameras.tolist()) <= {2, 3}
    assert city.n_cameras == int(city.set_cameras.sum())
    assert city.camera_name(0) == "set00001-cam1"
    names = [city.camera_name(i) for i in range(city.n_cameras)]
    assert len(set(names)) == len(names)
    assert (abs(city.cam_mbps - 4.0) <= 0.4 + 1e-9).all()


def test_rollout_sets_come_on_line_on_the_first_of_their_month():
    sc = scenario(**{"city.rollout": [{"month": "2024-04", "sets": {"Wan Chai": 5}}]})
    city = generate_city(sc)
    assert city.n_sets == 65
    assert (city.set_online_s[-5:] == 31 * 86_400).all()  # March has 31 days
    assert (city.set_online_s[:60] == 0).all()
