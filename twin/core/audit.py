"""Append-only, hash-chained audit trail of every footage decision.

Theory of operation
-------------------
Every request, approval, refusal, expiry, denial, view, export, preservation, copy, release and
deletion becomes one `AuditEntry`. An entry's `hash` is the SHA-256 of its canonical encoding:
the compact JSON object of all its other fields (`actor`, `at_s`, `details`, `kind`,
`prev_hash`, `seq`, `subject`) with sorted keys, ASCII only. `prev_hash` is the hash of the
entry before it (64 zeros for the first), so the entries form a chain:

- an entry edited after it was written no longer matches its hash;
- an entry removed leaves a gap in `seq`, or (if the rest was renumbered and re-hashed) a
  `prev_hash` that matches nothing;
- entries swapped show `seq` out of order or a broken `prev_hash`.

What the chain alone cannot show is a cut at its END: dropping the last k entries leaves a
shorter, perfectly valid chain (and so does re-writing the whole chain from some point on). An
`AuditAnchor` (entry count + head hash, taken with `AuditTrail.anchor()` and kept somewhere the
trail's writer cannot change: a results file, a second store, a signed report) closes that gap:
`verify(entries, anchor)` checks that the anchored prefix is still there, unchanged.

The trail is a plain in-memory list with no I/O. Appending costs one JSON encoding of `details`
and one SHA-256 of a few hundred bytes, so hundreds of thousands of entries are cheap. Bulk
work is recorded as one entry per batch: `record_segment_batch` summarises a batch of segments
(count, bytes, key range and a digest of the exact key set) instead of one entry per segment.
Adapters persist the trail with `to_jsonl(start=...)` (only what is new since the last write)
and read it back with `AuditTrail.from_jsonl`, which verifies before it accepts.

Errors: `AuditError` when a trail fails verification or cannot be parsed; `ValueError` for a bad
argument to `append` (details that are not JSON-able, a time that goes backwards).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, overload

from twin.core.types import SegmentRef
from twin.errors import AuditError

__all__ = [
    "GENESIS_HASH",
    "AuditKind",
    "AuditEntry",
    "AuditAnchor",
    "AuditTrail",
    "canonical_json",
    "summarise_segments",
    "parse_jsonl",
    "verify",
]

GENESIS_HASH = "0" * 64
"""`prev_hash` of the first entry of every trail."""


class AuditKind(StrEnum):
    """What an audit entry records. The value is what is written and hashed."""

    REQUEST = "request"  # an access request was submitted
    APPROVAL = "approval"  # an access request was approved
    REFUSAL = "refusal"  # an access request was refused by an approver
    EXPIRY = "expiry"  # a pending request or an approval ran out of time
    DENIAL = "denial"  # an attempt (to approve, to use footage) was turned down
    VIEW = "view"  # footage was viewed under an approval
    EXPORT = "export"  # footage was exported under an approval
    PRESERVATION = "preservation"  # a case's footage was put under preservation
    COPY = "copy"  # evidence copies were made (and, when complete, the manifest)
    RELEASE = "release"  # a case was closed; its evidence copy may be deleted
    DELETION = "deletion"  # footage or evidence copies were deleted
    OFFICER = "officer"  # the officer register was changed (bootstrap, enrol, revoke)


def canonical_json(value: Any) -> str:
    """The canonical JSON text of `value`: sorted keys, no spaces, ASCII only, no NaN.

    Raises ValueError when `value` is not JSON-able (a set, an object, NaN, a non-string key
    mixed with string keys). Tuples encode as lists.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"audit details {value!r} are not JSON-able ({exc}): use str, int, float (finite), "
            "bool, None, lists and str-keyed dicts only"
        ) from exc


_enc = json.encoder.encode_basestring_ascii  # the exact str encoder json.dumps uses above


def _body(
    seq: int, at_s: float, kind: str, actor: str, subject: str, details_json: str, prev_hash: str
) -> str:
    # Hand-assembled for speed; byte-identical to canonical_json of the same fields (a test
    # holds it to that), so anyone can re-check a trail with any JSON library.
    return (
        f'{{"actor":{_enc(actor)},"at_s":{at_s!r},"details":{details_json},'
        f'"kind":{_enc(kind)},"prev_hash":{_enc(prev_hash)},"seq":{seq!r},'
        f'"subject":{_enc(subject)}}}'
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One link of the chain. `details_json` holds the canonical JSON of the details mapping
    (immutable, and exactly what was hashed); read it back with `details`."""

    seq: int
    at_s: float
    kind: AuditKind
    actor: str
    subject: str
    details_json: str
    prev_hash: str
    hash: str
    sig: str = ""  # who vouches for the entry (twin/core/signing.py); not part of `hash`

    @property
    def details(self) -> dict[str, Any]:
        """A fresh dict of the entry's details (changing it changes nothing in the trail)."""
        result: dict[str, Any] = json.loads(self.details_json)
        return result

    def canonical(self) -> str:
        """The canonical encoding that `hash` is computed over (every field but `hash`)."""
        return _body(
            self.seq,
            self.at_s,
            str(self.kind),
            self.actor,
            self.subject,
            self.details_json,
            self.prev_hash,
        )

    def compute_hash(self) -> str:
        """SHA-256 (hex) of `canonical()`; equals `hash` unless the entry was tampered with."""
        return _sha256(self.canonical())

    def to_json(self) -> str:
        """One JSONL line (without newline): the canonical object with `hash` added."""
        body = self.canonical()
        sig = f',"sig":{_enc(self.sig)}' if self.sig else ""
        return f'{body[:-1]},"hash":{_enc(self.hash)}{sig}}}'


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """A trail's head at some moment: how many entries it had and the hash of the last one
    (`GENESIS_HASH` for an empty trail). Keep it outside the trail's own store."""

    count: int
    head_hash: str


class _EntriesView(Sequence[AuditEntry]):
    """Read-only live view of the trail's entries (no copy per access)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[AuditEntry]) -> None:
        self._items = items

    @overload
    def __getitem__(self, index: int) -> AuditEntry: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[AuditEntry, ...]: ...

    def __getitem__(self, index: int | slice) -> AuditEntry | tuple[AuditEntry, ...]:
        if isinstance(index, slice):
            return tuple(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"<{len(self._items)} audit entries>"


def summarise_segments(segments: Iterable[SegmentRef]) -> dict[str, Any]:
    """Constant-size details for a batch of segments: count, bytes, number of cameras, the
    first and last key (sorted), the earliest start and latest end, and `keys_sha256`, the
    SHA-256 of the sorted keys joined by newlines, which pins down the exact set of keys
    without listing them. Raises ValueError for an empty batch."""
    keys: list[str] = []
    cameras: set[str] = set()
    total_bytes = 0
    start_s = math.inf
    end_s = -math.inf
    for seg in segments:
        keys.append(seg.key)
        cameras.add(seg.camera)
        total_bytes += seg.bytes
        start_s = min(start_s, seg.start_s)
        end_s = max(end_s, seg.end_s)
    if not keys:
        raise ValueError(
            "a segment batch to audit is empty: record a batch only when it holds segments"
        )
    keys.sort()
    return {
        "count": len(keys),
        "bytes": total_bytes,
        "cameras": len(cameras),
        "first_key": keys[0],
        "last_key": keys[-1],
        "start_s": float(start_s),
        "end_s": float(end_s),
        "keys_sha256": hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest(),
    }


class AuditTrail:
    """The append-only trail. Only `append` (and its batch helper) adds entries; nothing
    edits or removes them. Times must not go backwards."""

    __slots__ = ("_entries", "_view", "_head", "_last_at_s", "signer")

    def __init__(self, signer: Callable[[AuditEntry], str] | None = None) -> None:
        # `signer` vouches for each new entry (an officer's signature, a keyed MAC): it gets
        # the hashed entry and returns its `sig`. The simulation passes none.
        self.signer = signer
        self._entries: list[AuditEntry] = []
        self._view = _EntriesView(self._entries)
        self._head = GENESIS_HASH
        self._last_at_s = -math.inf

    def append(
        self,
        at_s: float,
        kind: AuditKind,
        actor: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Add one entry at `at_s` (scenario seconds) and return it.

        `actor` is an officer id or a system component ("sweeper", "evidence_copier");
        `subject` what it concerns (a request id, a case id, a key range). `details` must be
        JSON-able; it is stored canonically (sorted keys), so two equal mappings give the same
        hash whatever their insertion order. Raises ValueError for a time before the last
        entry's, a non-finite time, or details that are not JSON-able.
        """
        at = float(at_s)
        if not math.isfinite(at):
            raise ValueError(
                f"audit time at_s={at_s!r} is not finite: pass the scenario clock's now"
            )
        if at < self._last_at_s:
            raise ValueError(
                f"audit time at_s={at} is before the last entry's ({self._last_at_s}): entries "
                "must be appended in time order; pass the current `now`, not an earlier deadline"
            )
        kind = AuditKind(kind)
        details_json = canonical_json(dict(details) if details is not None else {})
        seq = len(self._entries)
        body = _body(seq, at, str(kind), actor, subject, details_json, self._head)
        entry = AuditEntry(seq, at, kind, actor, subject, details_json, self._head, _sha256(body))
        if self.signer is not None:
            entry = AuditEntry(
                seq,
                at,
                kind,
                actor,
                subject,
                details_json,
                self._head,
                entry.hash,
                self.signer(entry),
            )
        self._entries.append(entry)
        self._head = entry.hash
        self._last_at_s = at
        return entry

    def record_segment_batch(
        self,
        at_s: float,
        kind: AuditKind,
        actor: str,
        segments: Iterable[SegmentRef],
        subject: str | None = None,
        **extra: Any,
    ) -> AuditEntry:
        """One entry for a whole batch of segments (a retention sweep's deletions, a batch of
        evidence copies): the `summarise_segments` details plus `extra` (e.g. `reason=`).
        The subject defaults to "first_key..last_key"."""
        details = summarise_segments(segments)
        overlap = sorted(set(details) & set(extra))
        if overlap:
            raise ValueError(
                f"extra details {overlap} would overwrite the batch summary: rename them"
            )
        details.update(extra)
        if subject is None:
            subject = f"{details['first_key']}..{details['last_key']}"
        return self.append(at_s, kind, actor, subject, details)

    @property
    def entries(self) -> Sequence[AuditEntry]:
        """Read-only, live view of all entries in order."""
        return self._view

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def head_hash(self) -> str:
        """Hash of the last entry (`GENESIS_HASH` while empty)."""
        return self._head

    def anchor(self) -> AuditAnchor:
        """The current head, to keep outside the trail so a cut at its end can be detected."""
        return AuditAnchor(len(self._entries), self._head)

    def to_jsonl(self, start: int = 0) -> str:
        """Entries from seq `start` on as JSON lines (each ending in a newline). An adapter
        that persists incrementally passes the count it has already written."""
        if not 0 <= start <= len(self._entries):
            raise ValueError(
                f"start={start} is outside the trail's 0..{len(self._entries)} entries"
            )
        return "".join(e.to_json() + "\n" for e in self._entries[start:])

    @classmethod
    def from_entries(
        cls, entries: Iterable[AuditEntry], anchor: AuditAnchor | None = None
    ) -> AuditTrail:
        """A trail that continues `entries` after verifying them (and `anchor`, if given).
        Raises AuditError if they do not verify."""
        items = list(entries)
        verify(items, anchor)
        trail = cls()
        trail._entries.extend(items)
        if items:
            trail._head = items[-1].hash
            trail._last_at_s = items[-1].at_s
        return trail

    @classmethod
    def from_jsonl(cls, text: str, anchor: AuditAnchor | None = None) -> AuditTrail:
        """Parse JSON lines written by `to_jsonl`, verify them, and return a trail that can be
        appended to. Raises AuditError naming the line or seq that is wrong."""
        return cls.from_entries(parse_jsonl(text), anchor)


_FIELDS = ("actor", "at_s", "details", "hash", "kind", "prev_hash", "seq", "subject")
_SIGNED_FIELDS = tuple(sorted((*_FIELDS, "sig")))


def parse_jsonl(text: str) -> list[AuditEntry]:
    """Entries from JSON lines, NOT verified (so a tampered trail can still be inspected).
    Blank lines are skipped. Raises AuditError naming the line that cannot be read."""
    entries: list[AuditEntry] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AuditError(
                f"audit line {lineno} is not JSON ({exc}): the file is damaged"
            ) from exc
        if not isinstance(obj, dict) or tuple(sorted(obj)) not in (_FIELDS, _SIGNED_FIELDS):
            got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise AuditError(
                f"audit line {lineno} has fields {got}, expected exactly {list(_FIELDS)} "
                "(and 'sig' if signed): the line was edited or is not an audit entry"
            )
        try:
            kind = AuditKind(obj["kind"])
        except ValueError as exc:
            raise AuditError(
                f"audit line {lineno} has kind {obj['kind']!r}, expected one of "
                f"{[k.value for k in AuditKind]}: the line was edited"
            ) from exc
        seq, at_s = obj["seq"], obj["at_s"]
        strings = (obj["actor"], obj["subject"], obj["prev_hash"], obj["hash"], obj.get("sig", ""))
        if (
            type(seq) is not int
            or type(at_s) not in (int, float)
            or not isinstance(obj["details"], dict)
            or not all(isinstance(s, str) for s in strings)
        ):
            raise AuditError(
                f"audit line {lineno} has a field of the wrong type (seq int, at_s number, "
                "details object, the rest strings): the line was edited"
            )
        entries.append(
            AuditEntry(
                seq=seq,
                # A float always carries a '.' or exponent in JSON, so an int here can only
                # come from an edit; keeping it as int makes that edit fail the hash.
                at_s=at_s,
                kind=kind,
                actor=obj["actor"],
                subject=obj["subject"],
                details_json=canonical_json(obj["details"]),
                prev_hash=obj["prev_hash"],
                hash=obj["hash"],
                sig=obj.get("sig", ""),
            )
        )
    return entries


def verify(
    entries: Sequence[AuditEntry],
    anchor: AuditAnchor | None = None,
    *,
    after: AuditAnchor | None = None,
) -> int:
    """Check the chain and return the number of entries verified.

    Raises AuditError naming the first bad seq and what is wrong with it:
    - its hash does not match its content: the entry was edited;
    - its seq is not the next one: entries were removed (a gap) or reordered;
    - its prev_hash is not the hash of the entry before: an entry before it was removed,
      reordered, or edited and re-hashed;
    - its time is before the previous entry's: entries were reordered.

    The chain alone cannot reveal that entries were cut from its END. Pass `anchor` (a head
    taken earlier with `AuditTrail.anchor()` and kept apart from the trail) to check that the
    first `anchor.count` entries are all present and end in `anchor.head_hash`; a trail that
    has grown since the anchor was taken still passes.

    `after` verifies a later part of a trail on its own: `entries` must start at seq
    `after.count` and chain from `after.head_hash` (an anchor of the part before it).
    """
    start = expected_seq = after.count if after is not None else 0
    base = prev = after.head_hash if after is not None else GENESIS_HASH
    last_at = -math.inf
    for entry in entries:
        computed = entry.compute_hash()
        if computed != entry.hash:
            raise AuditError(
                f"audit entry seq {entry.seq} (position {expected_seq}) does not match its hash: "
                f"stored {entry.hash[:16]}..., computed {computed[:16]}...: the entry was edited "
                "after it was written; restore it from a trusted copy"
            )
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                what = (
                    f"seq {expected_seq}..{entry.seq - 1} are missing: entries were removed "
                    "(or moved later in the trail)"
                )
            else:
                what = "it is out of order: entries were reordered or duplicated"
            raise AuditError(
                f"audit entry seq {entry.seq} is at position {expected_seq}, expected seq "
                f"{expected_seq}; {what}; restore the trail from a trusted copy"
            )
        if entry.prev_hash != prev:
            before = f"seq {expected_seq - 1}" if expected_seq else "the genesis"
            raise AuditError(
                f"audit entry seq {entry.seq} has prev_hash {entry.prev_hash[:16]}... but "
                f"{before} hashes to {prev[:16]}...: an entry before it was removed, reordered, "
                "or edited and re-hashed; restore the trail from a trusted copy"
            )
        if entry.at_s < last_at:
            raise AuditError(
                f"audit entry seq {entry.seq} is at time {entry.at_s}, before the previous "
                f"entry's {last_at}: entries were reordered; restore the trail from a trusted copy"
            )
        prev = entry.hash
        last_at = entry.at_s
        expected_seq += 1
    if anchor is not None:
        if anchor.count > expected_seq:
            raise AuditError(
                f"the anchor records {anchor.count} audit entries but the trail ends at seq "
                f"{expected_seq - 1}: entries seq {expected_seq}..{anchor.count - 1} were cut "
                "from its end; restore them from a trusted copy"
            )
        if anchor.count < start:
            raise AuditError(
                f"the anchor records {anchor.count} entries, before the verified part, which "
                f"starts at seq {start}: pass an anchor taken after seq {start}"
            )
        idx = anchor.count - 1 - start
        head = entries[idx].hash if idx >= 0 else base
        if head != anchor.head_hash:
            raise AuditError(
                f"audit entry seq {anchor.count - 1} hashes to {head[:16]}... but the anchor "
                f"expects {anchor.head_hash[:16]}...: the trail was rewritten up to that entry; "
                "restore it from a trusted copy"
            )
    return expected_seq - start
