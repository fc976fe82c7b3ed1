"""Placement of the live twin on Ray's nodes (twin.live.cluster.plan_placement), without Ray."""

from __future__ import annotations

import pytest

from twin.errors import ScenarioError
from twin.live.cluster import NodeInfo, district_resource, plan_placement, pool_resource, slug

DISTRICTS = ["Yau Tsim Mong", "Wan Chai"]
POOLS = [("yau-tsim-mong", ["Yau Tsim Mong"]), ("wan-chai", ["Wan Chai"]), ("central", "*")]


def _nodes(n: int, **resources: dict[str, float]) -> list[NodeInfo]:
    return [NodeInfo(f"id{i}", f"127.0.0.{i + 2}", resources.get(f"n{i}", {})) for i in range(n)]


def test_one_node_hosts_everything() -> None:
    pl = plan_placement(_nodes(1), DISTRICTS, POOLS, "id0")
    assert set(pl.district_node.values()) == set(pl.pool_node.values()) == {"id0"}
    assert pl.used() == ["id0"] and pl.label("id0") == "n1"


def test_three_nodes_spread_two_districts_and_the_central_pool_one_each() -> None:
    pl = plan_placement(_nodes(3), DISTRICTS, POOLS, "id0")
    assert pl.district_node == {"Yau Tsim Mong": "id0", "Wan Chai": "id1"}
    # A district's pool goes with its district; the central pool to the least used node.
    assert pl.pool_node == {"yau-tsim-mong": "id0", "wan-chai": "id1", "central": "id2"}
    assert len(pl.used()) == 3


def test_the_drivers_node_comes_first_whatever_its_address() -> None:
    nodes = _nodes(3)
    pl = plan_placement(nodes, DISTRICTS, POOLS, "id2")
    assert pl.nodes[0].node_id == "id2" and pl.district_node["Yau Tsim Mong"] == "id2"


def test_node_resources_set_with_ray_start_decide_first() -> None:
    nodes = _nodes(
        3, n2={district_resource("Yau Tsim Mong"): 1.0}, n0={pool_resource("central"): 1.0}
    )
    pl = plan_placement(nodes, DISTRICTS, POOLS, "id0")
    assert pl.district_node["Yau Tsim Mong"] == "id2" and pl.pool_node["central"] == "id0"
    assert pl.pool_node["yau-tsim-mong"] == "id2"  # follows its district
    assert pl.claimed["Yau Tsim Mong"] == "resource" and pl.claimed["Wan Chai"] == "spread"
    assert slug("Yau Tsim Mong") == "yau_tsim_mong"


def test_two_nodes_claiming_one_district_is_refused_with_the_fix() -> None:
    r = {district_resource("Wan Chai"): 1.0}
    with pytest.raises(ScenarioError, match="expected one node per district or pool"):
        plan_placement(_nodes(2, n0=r, n1=r), DISTRICTS, POOLS, "id0")


def test_the_analyser_pool_takes_the_nodes_in_turn_the_drivers_first() -> None:
    parts = ["analyser", "analyser:2", "analyser:3", "analyser:4"]
    pl = plan_placement(_nodes(3), DISTRICTS, POOLS, "id1", parts)
    assert pl.analyser_node == {
        "analyser": "id1",
        "analyser:2": "id0",
        "analyser:3": "id2",
        "analyser:4": "id1",
    }
    assert pl.claimed["analysers"] == "spread"
    one = plan_placement(_nodes(3), DISTRICTS, POOLS, "id0", ["analyser"])
    assert one.analyser_node == {"analyser": "id0"}  # where one machine runs it
    assert "analysers" not in plan_placement(_nodes(3), DISTRICTS, POOLS, "id0").claimed


def test_nodes_started_with_the_analysers_resource_host_the_whole_pool() -> None:
    from twin.live.cluster import ANALYSERS_RESOURCE

    nodes = _nodes(3, n2={ANALYSERS_RESOURCE: 1.0})
    pl = plan_placement(nodes, DISTRICTS, POOLS, "id0", ["analyser", "analyser:2"])
    assert set(pl.analyser_node.values()) == {"id2"} and pl.claimed["analysers"] == "resource"
    # A node that hosts only analysers is a node the run uses.
    alone = plan_placement(
        _nodes(2, n1={ANALYSERS_RESOURCE: 1.0}),
        ["Wan Chai"],
        [("wan-chai", ["Wan Chai"])],
        "id0",
        ["analyser"],
    )
    assert alone.used() == ["id0", "id1"]
