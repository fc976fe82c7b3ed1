"""The live twin across a Ray cluster: which node runs what, and where each node keeps its files.

Theory of operation
-------------------
Placement mirrors the deployment. A district's camera sets and its media relay (one MediaMTX
per node that hosts camera sets) run on one node; a recorder pool runs on one node. Which node
comes from the custom resources a node was started with (`ray start --resources=...`):

- `twin_district_<slug>`: this node hosts that district's camera sets and relay;
- `twin_pool_<slug>`: this node hosts that recorder pool (slug: the name in lower case, every
  run of other characters one `_`: "Kowloon City" -> `twin_district_kowloon_city`).

What no node claims is spread: districts in turn over the nodes that host least so far (the
driver's node first when all are equal), then each pool on its district's node, a pool of
several districts (or the central pool, `'*'`) on the node that hosts least. So on one
machine everything is on its one node, and on three nodes two districts and a central standby
pool use all three. The analyser pool's actors (`analyser`, `analyser:2`, ...) go in turn to
the nodes started with the resource `twin_analysers`, or else to every node in label order
(the driver's node first, so a one-actor pool runs there, as on one machine). `plan_placement` is
pure (tested without Ray); every actor is then pinned to its node (`NodeAffinitySchedulingStrategy`,
hard).

Storage where it is written. A node's recorders keep their segment files and catalog in that
node's own folder: `$CCTV_TWIN_STORAGE/<run key>/` where `CCTV_TWIN_STORAGE` is in the
environment of that node's `ray start` (so of its workers), and no other process is told it.
A node without it is the driver's own (its folder is the run folder's `live/`, the layout of a
one-machine run) or an error naming the node and the fix. Every file operation on a node's
folder (the catalog's schema, the recorders, the sweeper, the end-of-run recovery and the
measurement of coverage and files) runs on that node, as an actor or a task pinned there; the
driver gets rows and counts back, never a path.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.core.types import Interval
from twin.errors import EvidenceError, ScenarioError, TwinError
from twin.live.files import check_files
from twin.live.recorder import recover_partials
from twin.ray.session import start_ray
from twin.storage.live_catalog import LiveStore, stored_segments

__all__ = [
    "STORAGE_ENV",
    "ANALYSERS_RESOURCE",
    "NodeInfo",
    "Placement",
    "slug",
    "district_resource",
    "pool_resource",
    "plan_placement",
    "cluster_nodes",
    "node_folder",
    "pinned",
    "prepare_node",
    "finish_node",
    "finish_folder",
]

#: The node resource of the nodes that host the analyser pool (`ray start --resources=...`).
ANALYSERS_RESOURCE = "twin_analysers"

#: The environment variable naming a node's storage folder (set for that node's `ray start`).
STORAGE_ENV = "CCTV_TWIN_STORAGE"


def slug(name: str) -> str:
    """`Kowloon City` -> `kowloon_city`: a name as it appears in a node resource."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def district_resource(district: str) -> str:
    return f"twin_district_{slug(district)}"


def pool_resource(pool: str) -> str:
    return f"twin_pool_{slug(pool)}"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A live Ray node: its id, the address it was started on, its resources."""

    node_id: str
    address: str
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class Placement:
    """Which node hosts each district (sets and relay) and each recorder pool."""

    nodes: list[NodeInfo]  # every node of the cluster, labelled n1, n2, ... in this order
    district_node: dict[str, str]  # district -> node id
    pool_node: dict[str, str]  # pool -> node id
    claimed: dict[str, str] = field(default_factory=dict)  # district/pool -> "resource" | "spread"
    analyser_node: dict[str, str] = field(default_factory=dict)  # analyser part -> node id

    def label(self, node_id: str) -> str:
        for i, n in enumerate(self.nodes):
            if n.node_id == node_id:
                return f"n{i + 1}"
        return node_id[:8]

    def address(self, node_id: str) -> str:
        return next(n.address for n in self.nodes if n.node_id == node_id)

    def used(self) -> list[str]:
        """Node ids hosting anything, in label order."""
        ids = (
            set(self.district_node.values())
            | set(self.pool_node.values())
            | set(self.analyser_node.values())
        )
        return [n.node_id for n in self.nodes if n.node_id in ids]


def plan_placement(
    nodes: list[NodeInfo],
    districts: list[str],
    pools: list[tuple[str, list[str] | str]],
    driver_node: str,
    analysers: list[str] | None = None,
) -> Placement:
    """Districts, pools and the analyser pool's parts on nodes, as the module docstring says.
    `pools`: (name, its districts or '*')."""
    if not nodes:
        raise ScenarioError("no live Ray node to place the live twin on; expected at least one")
    order = sorted(nodes, key=lambda n: (n.node_id != driver_node, n.address, n.node_id))
    load = {n.node_id: 0 for n in order}
    claimed: dict[str, str] = {}

    def claim(resource: str, what: str) -> str | None:
        owners = [n for n in order if n.resources.get(resource, 0) > 0]
        if len(owners) > 1:
            raise ScenarioError(
                f"{what}: nodes {[n.address for n in owners]} all have the resource "
                f"{resource!r}; expected one node per district or pool: start only one of them "
                f"with --resources='{{\"{resource}\": 1}}'"
            )
        return owners[0].node_id if owners else None

    def least() -> str:
        return min(order, key=lambda n: load[n.node_id]).node_id

    district_node: dict[str, str] = {}
    for d in districts:
        nid = claim(district_resource(d), f"district {d!r}")
        if nid is not None:
            district_node[d] = nid
            load[nid] += 1
            claimed[d] = "resource"
    for d in districts:
        if d not in district_node:
            nid = least()
            district_node[d] = nid
            load[nid] += 1
            claimed[d] = "spread"
    pool_node: dict[str, str] = {}
    for name, served in pools:
        nid = claim(pool_resource(name), f"recorder pool {name!r}")
        how = "resource"
        if nid is None:
            how = "spread"
            own = [] if served == "*" else [district_node[d] for d in served if d in district_node]
            nid = own[0] if len(set(own)) == 1 else least()
            load[nid] += 1
        pool_node[name] = nid
        claimed[f"pool:{name}"] = how
    analyser_node: dict[str, str] = {}
    if analysers:
        hosts = [n for n in order if n.resources.get(ANALYSERS_RESOURCE, 0) > 0]
        claimed["analysers"] = "resource" if hosts else "spread"
        hosts = hosts or order
        analyser_node = {p: hosts[k % len(hosts)].node_id for k, p in enumerate(analysers)}
    return Placement(order, district_node, pool_node, claimed, analyser_node)


def cluster_nodes() -> list[NodeInfo]:
    """The cluster's live nodes, from Ray."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    return [
        NodeInfo(
            str(n["NodeID"]),
            str(n["NodeManagerAddress"]),
            {k: float(v) for k, v in (n.get("Resources") or {}).items()},
        )
        for n in ray.nodes()  # type: ignore[no-untyped-call]
        if n.get("Alive")
    ]


def pinned(node_id: str) -> dict[str, Any]:
    """Ray options that run an actor or task on `node_id` and nowhere else."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}


def node_folder(run_key: str, driver_dir: str, driver_node: str) -> Path:
    """This node's folder for the run (module docstring); called on the node itself."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    base = os.environ.get(STORAGE_ENV, "").strip()
    if base:
        return Path(base) / run_key
    here = ray.get_runtime_context().get_node_id()
    if here == driver_node:
        return Path(driver_dir)
    addr = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    raise TwinError(
        f"node {addr} has no {STORAGE_ENV}; expected each node that records to be given its "
        f"own storage folder: start it with `{STORAGE_ENV}=/path/to/folder ray start ...` (see "
        f"docs/cluster.md)"
    )


def _prepare(run_key: str, driver_dir: str, driver_node: str) -> bool:
    """Make this node's folder and its catalog's schema; True if it is the run folder."""
    folder = node_folder(run_key, driver_dir, driver_node)
    (folder / "segments").mkdir(parents=True, exist_ok=True)
    LiveStore(folder / "catalog.sqlite").close()  # the schema, before the recorders race to
    return folder == Path(driver_dir)


def _finish(
    run_key: str, driver_dir: str, driver_node: str, recorders: list[str]
) -> dict[str, Any]:
    """At the end of a run, on the node: recover what dead recorders left, then read the
    catalog and check it against the files. Returns rows and counts, no path."""
    return finish_folder(node_folder(run_key, driver_dir, driver_node), recorders)


def finish_folder(folder: Path, recorders: list[str]) -> dict[str, Any]:
    """One recording folder at the end of a run: recover what `recorders` left (`.part`
    files, finished files without their row) into its catalog, then read the catalog and
    check it against the files. Also what `twin live --recover` runs on a run folder whose
    driver died (twin.live.recover)."""
    store = LiveStore(folder / "catalog.sqlite")
    recovered: list[dict[str, Any]] = []
    try:
        for r in recorders:
            rec = recover_partials(folder / "segments" / r, store, r)
            if rec.recovered or rec.removed:
                recovered.append(
                    {
                        "recorder": r,
                        "recovered": len(rec.recovered),
                        "removed": len(rec.removed),
                        "seconds": rec.seconds,
                    }
                )
        rows = store.rows()
    finally:
        store.close()
    files = check_files(folder / "segments", rows)
    return {"rows": rows, "files": files, "recovered": recovered}


def prepare_node(node_id: str, run_key: str, driver_dir: str, driver_node: str) -> Any:
    """A ref: the node's folder made and its catalog's schema created, on that node."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    return (
        ray.remote(num_cpus=0)(_prepare)
        .options(**pinned(node_id))
        .remote(run_key, driver_dir, driver_node)
    )


def finish_node(
    node_id: str, run_key: str, driver_dir: str, driver_node: str, recorders: list[str]
) -> Any:
    """A ref: the node's end-of-run recovery and file check (`_finish`), on that node."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    return (
        ray.remote(num_cpus=0)(_finish)
        .options(**pinned(node_id))
        .remote(run_key, driver_dir, driver_node, recorders)
    )


def _node_footage(
    run_key: str,
    driver_dir: str,
    driver_node: str,
    cameras: list[str],
    start_s: float,
    end_s: float,
) -> list[tuple[Any, bytes]]:
    """On a node: its stored segments of `cameras` overlapping [start_s, end_s), each with
    its file's bytes (a file swept since is left out: the export counts it as missing)."""
    folder = node_folder(run_key, driver_dir, driver_node)
    db = folder / "catalog.sqlite"
    if not db.exists():
        return []
    out: list[tuple[Any, bytes]] = []
    for seg in stored_segments(db, tuple(cameras), Interval(start_s, end_s)):
        try:
            data = (folder / "segments" / seg.key).read_bytes()
        except FileNotFoundError:
            continue
        out.append((seg, data))
    return out


def fetch_footage(
    run_dir: Path, cluster: dict[str, Any], cameras: tuple[str, ...], start_s: float, end_s: float
) -> list[tuple[Any, bytes]]:
    """Footage of a cluster run, fetched through Ray from the nodes that hold it (a task on
    each, reading its own folder): the cluster must be up and RAY_ADDRESS name it. `cluster`
    is the run's `cluster` event (results.json)."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    if not os.environ.get("RAY_ADDRESS", "").strip():
        raise EvidenceError(
            f"{run_dir}: this live run's footage is in its Ray nodes' own folders; expected "
            f"RAY_ADDRESS naming that cluster (with RAY_AUTH_MODE=token and its token), so "
            f"each node sends its files through Ray"
        )
    session = start_ray(Path(tempfile.gettempdir()) / f"cctv-twin-export-{os.getpid()}.log")
    try:
        alive = {n.node_id for n in cluster_nodes()}
        nodes = [n for n in cluster["nodes"] if n.get("storage")]
        gone = [n["address"] for n in nodes if n["node_id"] not in alive]
        if gone:
            raise EvidenceError(
                f"{run_dir}: nodes {gone} of this run hold footage but are not in the cluster "
                f"at RAY_ADDRESS; expected the run's nodes up: start them again with their "
                f"CCTV_TWIN_STORAGE (a node's id changes when it restarts: then export from "
                f"that node's folder)"
            )
        task = ray.remote(num_cpus=0)(_node_footage)
        driver = next(n["node_id"] for n in cluster["nodes"] if n.get("driver"))
        refs = [
            task.options(**pinned(n["node_id"])).remote(
                cluster["run_key"],
                str((run_dir / "live").resolve()),
                driver,
                list(cameras),
                start_s,
                end_s,
            )
            for n in nodes
        ]
        return [pair for got in ray.get(refs, timeout=300) for pair in got]
    finally:
        session.close()
