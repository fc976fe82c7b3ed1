"""Warm workers on a standing Ray: a pool of named, detached actors that keep the twin imported.

Theory of operation
-------------------
On a cluster joined with RAY_ADDRESS every command is a new Ray job, and a new job's tasks
run in fresh worker processes that must start and import the twin (~1.5 s on 2 cores)
before their first item. `run_on_pool` hands the items to a pool of actors instead, one per
CPU the cluster has, each asking for one CPU, created `lifetime="detached"` in the
`cctv-twin` namespace so they outlive the command that created them and the next command
finds them by name (`ray.util.list_named_actors`) and goes straight to work. Detached actors
are processes of the cluster's raylets: they never outlive the cluster they live on. The
pool is never made on a Ray a command starts for itself (twin.ray.tasks), which
would die with it anyway.

- Names are `twin-pool-<code key>-<slot>`, slots 0..CPUs-1, each got or created at once
  (Ray's get_if_exists), so two commands starting together share one pool. The code key is
  a digest of the twin's source files (path, size, modification time), so a pool started by
  an older version of the code is stopped and a new one started when the code changes: a
  warm worker never runs stale code.
- Items go to the actors in the items' order, each actor holding the one it runs and the
  next (so it never waits a round trip between items), while more items wait than there are
  actors; after that one each, the next to whichever actor finishes first. An actor gets its
  first item only once it answers (so an actor still waiting for a CPU holds no item).
  Results are put back in the items' order.
- The function and the shared inputs (the scenario, the city) go through the object store
  once per call (`ray.put`); each actor fetches and unpickles them once per call (kept by the
  references' ids) and drops them at the end of the call, so an idle pool holds no city.
- An actor that dies under an item (its process killed, its node lost) costs that item
  nothing but time: the item goes to a new actor, started in its place, up to `MAX_TRIES`
  times; an item that kills every actor it is given is an error naming it, and so are actors
  that keep dying before they answer (a worker that cannot import the twin).
- An actor that has had nothing to do for `TWIN_RAY_POOL_IDLE_S` seconds (default 600; 0:
  never) stops itself, giving its CPU back to the cluster. `twin ray-pool stop` stops the
  pool at once, `twin ray-pool status` lists it; TWIN_RAY_POOL=0 runs plain Ray tasks.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twin.errors import TwinError

__all__ = [
    "NAMESPACE",
    "PREFIX",
    "MAX_TRIES",
    "code_key",
    "pool_wanted",
    "pool_actors",
    "ensure_pool",
    "run_on_pool",
    "stop_pool",
]

NAMESPACE = "cctv-twin"
PREFIX = "twin-pool-"
MAX_TRIES = 3  # times one item is handed to an actor before its actors' deaths are an error
START_TRIES = 5  # actors in a row of one slot that may die before answering
IDLE_S = 600.0


def code_key() -> str:
    """A digest of the twin's source files (relative path, size, modification time)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        st = f.stat()
        h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


def pool_wanted(started_here: bool) -> bool:
    """A pool is used on a cluster joined with RAY_ADDRESS, never on a Ray of our own."""
    return (
        bool(os.environ.get("RAY_ADDRESS", "").strip())
        and not started_here
        and os.environ.get("TWIN_RAY_POOL", "1").strip() != "0"
    )


def _idle_s() -> float:
    text = os.environ.get("TWIN_RAY_POOL_IDLE_S", "").strip()
    if not text:
        return IDLE_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise TwinError(
            f"TWIN_RAY_POOL_IDLE_S={text!r}: expected seconds >= 0 (0: the pool "
            f"never stops by itself), e.g. TWIN_RAY_POOL_IDLE_S=600"
        )
    return value


class PoolWorker:
    """One warm worker: the twin's engine imported, items run one at a time."""

    def __init__(self, key: str, idle_s: float, warm: Callable[..., Any] | None = None) -> None:
        # `warm`: the function the items of the command that starts the pool run. Ray
        # unpickles it by reference before this runs, which imports its module and the engine
        # under it once, here, and not on the first item; the pool itself names no engine.
        self._warm = warm
        self._key = key
        self._refs: tuple[str, ...] = ()
        self._values: list[Any] = []
        self._busy = 0
        self._last = time.monotonic()
        if idle_s > 0:
            threading.Thread(
                target=self._idle_stop, args=(idle_s,), daemon=True, name="twin-pool-idle"
            ).start()

    def info(self) -> dict[str, Any]:
        # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
        import ray

        return {
            "pid": os.getpid(),
            "key": self._key,
            "node": ray.get_runtime_context().get_node_id(),
        }

    def call(self, refs: list[Any], item: Any) -> Any:
        # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
        import ray

        self._busy += 1
        try:
            ids = tuple(r.hex() for r in refs)
            if ids != self._refs:
                self._refs, self._values = (), []
                self._values = list(ray.get(refs))
                self._refs = ids
            fn, *shared = self._values
            return fn(*shared, item)
        finally:
            self._busy -= 1
            self._last = time.monotonic()

    def forget(self) -> None:
        """Drop the call's function and shared inputs (the end of a command)."""
        self._refs, self._values = (), []

    def _idle_stop(self, idle_s: float) -> None:
        # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
        import ray

        while True:
            time.sleep(min(idle_s, 5.0))
            if not self._busy and time.monotonic() - self._last >= idle_s:
                # Frees this actor's CPU and its name; a call racing it sees the actor dead
                # and is handed to a new one (run_on_pool).
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return


_REMOTE: Any = None


def _remote_class() -> Any:
    global _REMOTE
    if _REMOTE is None:
        # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
        import ray

        _REMOTE = ray.remote(num_cpus=1, max_restarts=0)(PoolWorker)
    return _REMOTE


def pool_actors(key: str | None = None) -> list[str]:
    """Names of the pool's actors on the joined cluster (of code `key`, or all)."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    names = [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a.get("namespace") == NAMESPACE and str(a.get("name", "")).startswith(PREFIX)
    ]
    if key is not None:
        names = [n for n in names if n.startswith(f"{PREFIX}{key}-")]
    return sorted(names)


def _kill(names: list[str]) -> int:
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    killed = 0
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            killed += 1
        except ValueError:  # gone meanwhile
            pass
    return killed


def stop_pool() -> int:
    """Stop every pool actor on the joined cluster; returns how many were stopped."""
    return _kill(pool_actors())


def _slot_name(key: str, slot: int) -> str:
    return f"{PREFIX}{key}-{slot}"


def _actor(key: str, slot: int, warm: Callable[..., Any] | None) -> Any:
    """The pool's actor of `slot`: the one up under that name, else a new one (Ray's
    get-or-create, so two commands starting at once share one actor per slot)."""
    return (
        _remote_class()
        .options(
            name=_slot_name(key, slot), namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        )
        .remote(key, _idle_s(), warm)
    )


def ensure_pool(warm: Callable[..., Any] | None = None) -> dict[int, Any]:
    """The pool's actors for this code, by slot: one slot per CPU of the cluster, each the
    actor already up there or a new one while CPUs are free (an actor that cannot get a CPU
    would hold its items forever). Pools of other code are stopped first. A new actor is
    given `warm` (the items' function) so it starts with the engine imported."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    key = code_key()
    _kill([n for n in pool_actors() if not n.startswith(f"{PREFIX}{key}-")])
    target = int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    up = set(pool_actors(key))
    free = int(ray.available_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    handles = {}
    for slot in range(target):
        if _slot_name(key, slot) in up:
            handles[slot] = _actor(key, slot, warm)
        elif free > 0:
            handles[slot] = _actor(key, slot, warm)
            free -= 1
    return handles


def run_on_pool(
    fn: Callable[..., Any],
    shared: tuple[Any, ...],
    items: Sequence[Any],
    indices: Sequence[int],
    results: list[Any],
    tick: Callable[[], None],
    handles: dict[int, Any],
) -> None:
    """results[i] = fn(*shared, items[i]) for i in `indices`, on the pool's actors `handles`
    (module docstring); `tick()` after each item."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray
    from ray.exceptions import RayActorError

    key = code_key()
    refs = [ray.put(fn), *(ray.put(s) for s in shared)]
    queue = deque(indices)
    tries: dict[int, int] = {}  # item -> times handed to an actor
    starts: dict[int, int] = {}  # slot -> actors in a row that died before answering
    actors = dict(handles)
    ready: list[int] = []  # slots whose actor has answered, in the order they did
    held: dict[int, list[int]] = {}  # slot -> items handed to its actor, in order (the 1st runs)
    flight: dict[Any, tuple[int, int | None]] = {}  # ref -> (slot, item, or None: "ready?")
    for slot, h in actors.items():
        flight[h.info.remote()] = (slot, None)

    def replace(slot: int, err: BaseException) -> None:
        # Just after a death Ray may still hand out the dead actor for its name: asked again
        # a moment later, it starts a new one.
        if starts.get(slot, 0) >= START_TRIES:
            raise TwinError(
                f"the Ray actors of the twin's pool died {START_TRIES} times in a row before "
                f"answering ({str(err)[:300]}); expected them to start: see the cluster's logs, "
                f"stop the pool with `twin ray-pool stop`, or run without it (TWIN_RAY_POOL=0)"
            ) from None
        try:
            ray.kill(actors[slot], no_restart=True)
        except Exception:  # noqa: BLE001 - already dead, the usual case
            pass
        time.sleep(0.05)
        actors[slot] = _actor(key, slot, fn)
        flight[actors[slot].info.remote()] = (slot, None)

    def died(slot: int, err: BaseException) -> None:
        """The slot's actor is gone: what it held goes back to the queue, the item it was
        running counted as a try, and a new actor takes the slot."""
        for ref in [r for r, (s, _) in flight.items() if s == slot]:
            del flight[ref]  # the same death, reported for each of them
        mine = held.pop(slot, [])
        if slot in ready:
            ready.remove(slot)
        if mine:
            i = mine[0]
            if tries[i] >= MAX_TRIES:
                raise TwinError(
                    f"item {i} of {len(items)}: the Ray actor running it died {tries[i]} "
                    f"times ({type(err).__name__}); expected it to finish: see the cluster's "
                    f"logs (`ray logs` on the head), or run with --backend local to see the "
                    f"error here"
                ) from None
            for j in mine[1:]:
                tries[j] -= 1  # held, never begun
            queue.extendleft(reversed(mine))
        else:
            starts[slot] = starts.get(slot, 0) + 1
        replace(slot, err)

    try:
        while queue or held and any(held.values()):
            # Each actor holds its next item while it runs one (depth 2), so it never waits a
            # round trip between items; near the end one item each, so that no actor sits on
            # a second item while another has none.
            for depth in (1, 2):
                for slot in ready:
                    mine = held[slot]
                    if queue and len(mine) < depth and (depth == 1 or len(queue) > len(ready)):
                        nxt = queue.popleft()
                        tries[nxt] = tries.get(nxt, 0) + 1
                        mine.append(nxt)
                        flight[actors[slot].call.remote(refs, items[nxt])] = (slot, nxt)
            done, _ = ray.wait(list(flight), num_returns=1)
            for ref in done:
                if ref not in flight:
                    continue  # dropped with its dead actor
                slot, i = flight.pop(ref)
                try:
                    value = ray.get(ref)
                except RayActorError as err:
                    died(slot, err)
                    continue
                if i is None:
                    starts[slot] = 0
                    ready.append(slot)
                    held[slot] = []
                else:
                    held[slot].remove(i)
                    results[i] = value
                    tick()
    finally:
        for h in actors.values():
            try:
                h.forget.remote()
            except Exception:  # noqa: BLE001 - a dead actor has nothing to forget
                pass
