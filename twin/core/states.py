"""One small helper for every state machine of the twin: a read-only transition table.

A `StateTable` maps (state, event) to the next state and nothing else is a legal move. Its
`next` looks a move up and, for a move the table does not have, raises the error its caller
builds from the state, the event and the events allowed from that state, so each machine
words its own refusal (the access desk says what to do instead, the failover core names the
recorder). Used by the access requests (core/access.py), evidence cases (core/cases.py),
recorder health (core/failover.py) and the simulated cameras (sim/engine.py).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

__all__ = ["StateTable"]

S = TypeVar("S", bound=Hashable)
E = TypeVar("E", bound=Hashable)


class StateTable(Mapping[tuple[S, E], S], Generic[S, E]):
    """(state, event) -> next state, read-only; a Mapping, so `dict(table)` is the table."""

    __slots__ = ("_moves",)

    def __init__(self, moves: Mapping[tuple[S, E], S]) -> None:
        self._moves: Mapping[tuple[S, E], S] = MappingProxyType(dict(moves))

    def __getitem__(self, key: tuple[S, E]) -> S:
        return self._moves[key]

    def __iter__(self) -> Iterator[tuple[S, E]]:
        return iter(self._moves)

    def __len__(self) -> int:
        return len(self._moves)

    def allowed(self, state: S) -> list[E]:
        """The events the table allows from `state`, in table order."""
        return [e for (s, e) in self._moves if s == state]

    def next(self, state: S, event: E, refuse: Callable[[S, E, list[E]], Exception]) -> S:
        """The state `event` leads to from `state`; `refuse(state, event, allowed)` is raised
        for a move the table does not have."""
        try:
            return self._moves[(state, event)]
        except KeyError:
            raise refuse(state, event, self.allowed(state)) from None
