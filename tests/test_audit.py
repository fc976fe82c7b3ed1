"""The audit trail: the chain it builds, how it is stored, and that tampering is found."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.core.audit import (
    GENESIS_HASH,
    AuditAnchor,
    AuditEntry,
    AuditKind,
    AuditTrail,
    canonical_json,
    parse_jsonl,
    summarise_segments,
    verify,
)
from twin.core.types import SegmentRef
from twin.errors import AuditError


def small_trail(n: int = 5) -> AuditTrail:
    trail = AuditTrail()
    for i in range(n):
        trail.append(
            10.0 * i, AuditKind.VIEW, f"officer-{i}", f"req-{i}", {"use": i, "cams": ["a", "b"]}
        )
    return trail


def rechain(entries: list[AuditEntry], start: int) -> list[AuditEntry]:
    """What a careful forger does after changing entries[start:]: renumber and re-hash."""
    out = list(entries[:start])
    for i, e in enumerate(entries[start:], start=start):
        prev = out[-1].hash if out else GENESIS_HASH
        e = dataclasses.replace(e, seq=i, prev_hash=prev)
        out.append(dataclasses.replace(e, hash=e.compute_hash()))
    return out


# -- building the chain ----------------------------------------------------------------------


def test_entries_chain_from_genesis_and_hash_their_canonical_json() -> None:
    trail = AuditTrail()
    first = trail.append(0, AuditKind.REQUEST, "pc-1", "req-1", {"b": 2, "a": [1, 2.5]})
    second = trail.append(1.5, AuditKind.APPROVAL, "insp-1", "req-1")

    assert first.seq == 0 and second.seq == 1
    assert first.at_s == 0.0 and isinstance(first.at_s, float)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    assert first.details_json == '{"a":[1,2.5],"b":2}'
    assert first.details == {"a": [1, 2.5], "b": 2}
    # The hash is over exactly the sorted-key compact JSON of every other field.
    fields = {
        "actor": "pc-1",
        "at_s": 0.0,
        "details": {"a": [1, 2.5], "b": 2},
        "kind": "request",
        "prev_hash": GENESIS_HASH,
        "seq": 0,
        "subject": "req-1",
    }
    assert first.canonical() == canonical_json(fields)
    assert first.hash == hashlib.sha256(canonical_json(fields).encode()).hexdigest()
    assert trail.head_hash == second.hash
    assert trail.anchor() == AuditAnchor(2, second.hash)
    assert list(trail.entries) == [first, second]


def test_details_hash_the_same_whatever_their_insertion_order() -> None:
    a, b = AuditTrail(), AuditTrail()
    a.append(1, AuditKind.DELETION, "sweeper", "x", {"count": 3, "bytes": 10})
    b.append(1, AuditKind.DELETION, "sweeper", "x", {"bytes": 10, "count": 3})
    assert a.head_hash == b.head_hash


def test_non_ascii_and_quotes_survive_the_canonical_form() -> None:
    trail = AuditTrail()
    entry = trail.append(0, AuditKind.REFUSAL, 'insp "陳"', "旺角\n", {"reason": "不足 \\ ok"})
    line = entry.to_json()
    assert line.isascii()
    (back,) = parse_jsonl(line)
    assert back == entry


def test_append_refuses_what_cannot_be_recorded_faithfully() -> None:
    trail = AuditTrail()
    trail.append(5, AuditKind.VIEW, "pc-1", "r")
    with pytest.raises(ValueError, match=r"at_s=4\.0 is before the last entry's \(5\.0\)"):
        trail.append(4, AuditKind.VIEW, "pc-1", "r")
    with pytest.raises(ValueError, match=r"at_s=nan is not finite"):
        trail.append(float("nan"), AuditKind.VIEW, "pc-1", "r")
    with pytest.raises(ValueError, match=r"audit details .* are not JSON-able"):
        trail.append(6, AuditKind.VIEW, "pc-1", "r", {"cams": {"a", "b"}})
    with pytest.raises(ValueError, match=r"not JSON-able"):
        trail.append(6, AuditKind.VIEW, "pc-1", "r", {"x": float("inf")})
    with pytest.raises(ValueError, match=r"'shred' is not a valid AuditKind"):
        trail.append(6, "shred", "pc-1", "r")  # type: ignore[arg-type]
    assert len(trail) == 1  # nothing half-written


def test_entries_cannot_be_changed_through_the_trail() -> None:
    trail = small_trail(3)
    view = trail.entries
    assert not hasattr(view, "append") and not hasattr(view, "__setitem__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        view[0].actor = "someone else"  # type: ignore[misc]
    view[0].details["use"] = 99  # a fresh dict: the entry is untouched
    assert view[0].details["use"] == 0
    assert view[0:2] == (trail.entries[0], trail.entries[1])
    trail.append(99, AuditKind.VIEW, "x", "y")
    assert len(view) == 4  # a live view, not a copy


def test_a_batch_of_segments_is_one_entry_that_pins_the_exact_keys() -> None:
    trail = AuditTrail()
    segs = [
        SegmentRef("cam-2", 60.0, 120.0, 700, "cam-2/0060"),
        SegmentRef("cam-1", 0.0, 60.0, 500, "cam-1/0000"),
        SegmentRef("cam-1", 60.0, 120.0, 600, "cam-1/0060"),
    ]
    entry = trail.record_segment_batch(
        3000, AuditKind.DELETION, "sweeper", segs, reason="retention"
    )
    keys = "cam-1/0000\ncam-1/0060\ncam-2/0060"
    assert entry.subject == "cam-1/0000..cam-2/0060"
    assert entry.details == {
        "count": 3,
        "bytes": 1800,
        "cameras": 2,
        "first_key": "cam-1/0000",
        "last_key": "cam-2/0060",
        "start_s": 0.0,
        "end_s": 120.0,
        "keys_sha256": hashlib.sha256(keys.encode()).hexdigest(),
        "reason": "retention",
    }
    assert len(trail) == 1
    with pytest.raises(ValueError, match="segment batch to audit is empty"):
        summarise_segments([])
    with pytest.raises(ValueError, match=r"extra details \['count'\] would overwrite"):
        trail.record_segment_batch(3000, AuditKind.DELETION, "sweeper", segs, count=1)


# -- storing ---------------------------------------------------------------------------------


def test_jsonl_round_trip_continues_the_same_chain() -> None:
    whole = small_trail(6)
    part = small_trail(4)
    text = part.to_jsonl()
    restored = AuditTrail.from_jsonl(text, part.anchor())
    for i in (4, 5):
        restored.append(
            10.0 * i, AuditKind.VIEW, f"officer-{i}", f"req-{i}", {"use": i, "cams": ["a", "b"]}
        )
    assert list(restored.entries) == list(whole.entries)
    assert restored.to_jsonl() == whole.to_jsonl()
    # Incremental writes concatenate to the whole file.
    assert whole.to_jsonl(0)[: len(text)] == text
    assert text + whole.to_jsonl(4) == whole.to_jsonl()
    assert whole.to_jsonl(6) == ""
    with pytest.raises(ValueError, match=r"start=7 is outside the trail's 0\.\.6 entries"):
        whole.to_jsonl(7)
    assert len(AuditTrail.from_jsonl("")) == 0


def test_jsonl_lines_are_the_canonical_object_plus_hash() -> None:
    (entry,) = small_trail(1).entries
    obj = json.loads(entry.to_json())
    assert obj.pop("hash") == entry.hash
    assert canonical_json(obj) == entry.canonical()


def test_an_edited_file_is_refused_with_the_line_or_seq() -> None:
    text = small_trail(4).to_jsonl()
    lines = text.splitlines()
    edited = lines[2].replace('"officer-2"', '"officer-9"')
    with pytest.raises(AuditError, match=r"seq 2 \(position 2\) does not match its hash.*edited"):
        AuditTrail.from_jsonl("\n".join(lines[:2] + [edited] + lines[3:]))
    # at_s 20.0 written as 20: same number, but only an edit produces it.
    retyped = lines[2].replace('"at_s":20.0', '"at_s":20')
    assert retyped != lines[2]
    with pytest.raises(AuditError, match=r"seq 2 .* does not match its hash"):
        AuditTrail.from_jsonl("\n".join(lines[:2] + [retyped] + lines[3:]))
    with pytest.raises(AuditError, match=r"audit line 2 is not JSON"):
        parse_jsonl(lines[0] + "\n" + lines[1][:-3])
    with pytest.raises(AuditError, match=r"audit line 1 has kind 'shred'"):
        parse_jsonl(lines[0].replace('"kind":"view"', '"kind":"shred"'))
    with pytest.raises(
        AuditError, match=r"audit line 1 has fields \[.*'who'\], expected exactly \['actor'"
    ):
        parse_jsonl(lines[0].replace('"actor"', '"who"'))
    with pytest.raises(AuditError, match=r"audit line 1 has a field of the wrong type"):
        parse_jsonl(lines[0].replace('"seq":0', '"seq":"0"'))


# -- verification: each kind of tampering, named ---------------------------------------------


def test_verify_counts_an_intact_trail() -> None:
    trail = small_trail(5)
    assert verify(trail.entries) == 5
    assert verify(trail.entries, trail.anchor()) == 5
    assert verify([]) == 0
    assert verify([], AuditAnchor(0, GENESIS_HASH)) == 0


def test_an_edited_entry_is_named() -> None:
    entries = list(small_trail(5).entries)
    entries[3] = dataclasses.replace(entries[3], details_json='{"use":3,"cams":["a"]}')
    with pytest.raises(AuditError, match=r"seq 3 \(position 3\) does not match its hash: .*edited"):
        verify(entries)


def test_a_removed_entry_is_named() -> None:
    entries = list(small_trail(5).entries)
    del entries[1]
    with pytest.raises(
        AuditError, match=r"seq 2 is at position 1, expected seq 1; seq 1\.\.1 are missing"
    ):
        verify(entries)


def test_swapped_entries_are_named() -> None:
    entries = list(small_trail(5).entries)
    entries[1], entries[2] = entries[2], entries[1]
    with pytest.raises(AuditError, match=r"seq 2 is at position 1"):
        verify(entries)


def test_a_removal_covered_by_renumbering_breaks_the_next_link() -> None:
    entries = list(small_trail(5).entries)
    forged = entries[:2] + [dataclasses.replace(e, seq=e.seq - 1) for e in entries[3:]]
    forged = [f if f.seq < 2 else dataclasses.replace(f, hash=f.compute_hash()) for f in forged]
    with pytest.raises(
        AuditError, match=r"seq 2 has prev_hash .* but seq 1 hashes to .*removed, reordered"
    ):
        verify(forged)


def test_time_going_backwards_is_named() -> None:
    entries = rechain(
        [dataclasses.replace(e, at_s=100.0 - e.at_s) for e in small_trail(3).entries], 0
    )
    with pytest.raises(
        AuditError, match=r"seq 1 is at time 90\.0, before the previous entry's 100\.0"
    ):
        verify(entries)


def test_a_cut_at_the_end_needs_the_anchor() -> None:
    trail = small_trail(5)
    anchor = trail.anchor()
    cut = list(trail.entries)[:3]
    assert verify(cut) == 3  # the chain alone cannot tell: the documented limit
    with pytest.raises(
        AuditError,
        match=(
            r"anchor records 5 audit entries but the trail ends at seq 2: "
            r"entries seq 3\.\.4 were cut"
        ),
    ):
        verify(cut, anchor)
    with pytest.raises(AuditError, match=r"anchor records 5 .* ends at seq -1"):
        verify([], anchor)


def test_a_rewritten_tail_is_caught_by_the_anchor() -> None:
    trail = small_trail(5)
    anchor = trail.anchor()
    forged = rechain(
        list(trail.entries[:3])
        + [dataclasses.replace(e, actor="nobody") for e in trail.entries[3:]],
        3,
    )
    assert verify(forged) == 5
    with pytest.raises(AuditError, match=r"seq 4 hashes to .* but the anchor expects .*rewritten"):
        verify(forged, anchor)


def test_a_trail_that_grew_after_its_anchor_still_verifies() -> None:
    trail = small_trail(3)
    anchor = trail.anchor()
    trail.append(100, AuditKind.EXPIRY, "access_desk", "req-9")
    assert verify(trail.entries, anchor) == 4


def test_a_later_part_verifies_on_its_own_from_a_checkpoint() -> None:
    trail = small_trail(6)
    checkpoint = AuditAnchor(2, trail.entries[1].hash)
    tail = list(trail.entries[2:])
    assert verify(tail, trail.anchor(), after=checkpoint) == 4
    with pytest.raises(AuditError, match=r"seq 2 has prev_hash"):
        verify(tail, after=AuditAnchor(2, trail.entries[0].hash))
    with pytest.raises(AuditError, match=r"seq 3 is at position 2"):
        verify(tail[1:], after=checkpoint)


# -- properties ------------------------------------------------------------------------------

details_st = st.dictionaries(
    st.text(min_size=1, max_size=4),
    st.one_of(st.integers(), st.text(max_size=6), st.floats(allow_nan=False, allow_infinity=False)),
    max_size=3,
)
trail_st = st.lists(
    st.tuples(
        st.floats(0, 1000, allow_nan=False),
        st.sampled_from(list(AuditKind)),
        st.text(max_size=6),
        st.text(max_size=6),
        details_st,
    ),
    min_size=1,
    max_size=12,
)


def build(rows: list[tuple[float, AuditKind, str, str, dict[str, object]]]) -> AuditTrail:
    trail = AuditTrail()
    at = 0.0
    for dt, kind, actor, subject, details in rows:
        at += dt
        trail.append(at, kind, actor, subject, details)
    return trail


def edit(entry: AuditEntry, field: str) -> AuditEntry:
    changes: dict[str, object] = {
        "seq": entry.seq + 1,
        "at_s": entry.at_s + 1.0,
        "kind": AuditKind.EXPORT if entry.kind is not AuditKind.EXPORT else AuditKind.VIEW,
        "actor": entry.actor + "x",
        "subject": entry.subject + "x",
        "details_json": canonical_json({**entry.details, "forged": True}),
        "prev_hash": "f" * 64 if entry.prev_hash != "f" * 64 else "e" * 64,
        "hash": "f" * 64 if entry.hash != "f" * 64 else "e" * 64,
    }
    return dataclasses.replace(entry, **{field: changes[field]})


@settings(max_examples=150, deadline=None)
@given(trail_st)
def test_intact_trails_verify_and_survive_jsonl(rows: list) -> None:
    trail = build(rows)
    assert verify(trail.entries, trail.anchor()) == len(rows)
    again = AuditTrail.from_jsonl(trail.to_jsonl(), trail.anchor())
    assert list(again.entries) == list(trail.entries)


@settings(max_examples=200, deadline=None)
@given(trail_st, st.data())
def test_any_edit_drop_or_swap_is_detected(rows: list, data: st.DataObject) -> None:
    trail = build(rows)
    anchor = trail.anchor()
    entries = list(trail.entries)
    n = len(entries)
    tamper = data.draw(st.sampled_from(["edit", "edit_in_file", "drop", "swap", "drop_rechain"]))
    if tamper == "edit":
        i = data.draw(st.integers(0, n - 1))
        # `sig` says who vouches for the entry and is checked against the officer register
        # (tests/test_officers.py), not by the chain: every other field is.
        field = data.draw(
            st.sampled_from([f.name for f in dataclasses.fields(AuditEntry) if f.name != "sig"])
        )
        entries[i] = edit(entries[i], field)
        with pytest.raises(AuditError, match=rf"seq {entries[i].seq}\b"):
            verify(entries)
    elif tamper == "edit_in_file":
        i = data.draw(st.integers(0, n - 1))
        lines = trail.to_jsonl().splitlines()
        obj = json.loads(lines[i])
        obj["details"]["forged"] = 1
        lines[i] = json.dumps(obj)
        with pytest.raises(AuditError, match=rf"seq {i} \(position {i}\) does not match its hash"):
            AuditTrail.from_jsonl("\n".join(lines))
    elif tamper == "drop":
        i = data.draw(st.integers(0, n - 1))
        del entries[i]
        with pytest.raises(AuditError, match=r"missing|cut from its end"):
            verify(entries, anchor)
        if i < n - 1:  # in the middle, the chain alone shows it
            with pytest.raises(AuditError, match=rf"expected seq {i}; seq {i}\.\.{i} are missing"):
                verify(entries)
    elif tamper == "swap":
        if n < 2:
            return
        i, j = sorted(
            data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        )
        entries[i], entries[j] = entries[j], entries[i]
        with pytest.raises(AuditError, match=rf"seq {j} is at position {i}"):
            verify(entries)
    else:  # drop one and re-chain everything after it: only the anchor can tell
        i = data.draw(st.integers(0, n - 1))
        forged = rechain(entries[:i] + entries[i + 1 :], i)
        assert verify(forged) == n - 1
        with pytest.raises(AuditError, match="cut from its end"):
            verify(forged, anchor)
