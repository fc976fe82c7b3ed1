"""The access desk's audit trail on disk: `evidence/audit.jsonl` and its keyed anchor.

One adapter for every writer of a run's desk trail (the `twin evidence` commands and the live
sweeper), so they agree on the format and the lock:

- `locked(folder)`: an exclusive `flock` on `evidence/.lock` for the whole read-append-anchor
  step (released by the kernel when the process ends, even by `kill -9`);
- `open_trail(folder, key)`: read the trail, check the anchor's HMAC under the audit key and
  the chain against it, and return a trail to append to (with a signer) and how many entries
  are on disk already;
- `save(...)`: append only the new lines, then replace the anchor (count, head hash, HMAC)
  with an atomic rename, after the entries it names are written.

The anchor's MAC is what makes a cut at the end of the trail show: anyone can recompute the
chain and an unkeyed anchor; nobody without the audit key (kept outside the run folder,
twin/storage/keys.py) can make an anchor that matches a shorter trail.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from twin.core.audit import AuditAnchor, AuditEntry, AuditTrail, parse_jsonl
from twin.core.signing import anchor_mac
from twin.errors import AuditError, EvidenceError

__all__ = [
    "DESK_DIR",
    "TRAIL",
    "ANCHOR",
    "TRAIL_NAME",
    "locked",
    "read_entries",
    "read_anchor",
    "open_trail",
    "save",
]

DESK_DIR = "evidence"
TRAIL = "audit.jsonl"
ANCHOR = "audit_anchor.json"
TRAIL_NAME = f"{DESK_DIR}/{TRAIL}"  # what the anchor's MAC binds it to


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the desk's exclusive lock (creating the folder) for the enclosed step."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def read_entries(folder: Path, *, repair: bool = False) -> list[AuditEntry]:
    """The trail's entries, unverified. With `repair` (a writer, under the lock), a torn last
    line, one a writer killed mid-write left without its newline, is cut off first: it was
    never anchored, so nothing that was vouched for is lost."""
    path = folder / TRAIL
    if not path.exists():
        return []
    text = path.read_text(encoding="ascii", errors="replace")
    if repair and text and not text.endswith("\n"):
        cut = text.rfind("\n") + 1
        with path.open("r+b") as f:
            f.truncate(cut)
        text = text[:cut]
    try:
        return parse_jsonl(text)
    except (AuditError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{path}: {exc}") from None


def read_anchor(folder: Path, key: bytes) -> AuditAnchor | None:
    """The anchor, after checking its HMAC; None if there is none (a trail not yet written).
    EvidenceError if it is not an anchor or its MAC does not match."""
    path = folder / ANCHOR
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        anchor = AuditAnchor(int(raw["count"]), str(raw["head_hash"]))
        mac = str(raw["hmac_sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(
            f"{path}: not a keyed audit anchor (count, head_hash, hmac_sha256): {exc}"
        ) from None
    if not hmac.compare_digest(mac, anchor_mac(key, anchor, TRAIL_NAME)):
        raise EvidenceError(
            f"{path}: the anchor (count {anchor.count}, head {anchor.head_hash[:16]}...) does not "
            "carry the audit key's MAC: it was rewritten by someone without the key (or this "
            "is not the key the trail was written with: check CCTV_TWIN_AUDIT_KEY)"
        )
    return anchor


def open_trail(
    folder: Path,
    key: bytes,
    signer: Callable[[AuditEntry], str] | None = None,
    *,
    repair: bool = False,
) -> tuple[AuditTrail, int]:
    """The desk trail, verified against its keyed anchor, ready to append to; and the number
    of entries already on disk. EvidenceError naming what is wrong if it does not verify.
    `repair`: a writer holding the lock (see `read_entries`)."""
    entries = read_entries(folder, repair=repair)
    anchor = read_anchor(folder, key)
    if entries and anchor is None:
        raise EvidenceError(
            f"{folder / TRAIL} has {len(entries)} entries but no {ANCHOR}: the "
            "anchor was deleted; restore it from a trusted copy"
        )
    if anchor is not None and anchor.count > len(entries):
        raise EvidenceError(
            f"{folder / TRAIL} has {len(entries)} entries but its keyed anchor records "
            f"{anchor.count}: entries were cut from its end; restore the trail from a trusted "
            "copy"
        )
    # Entries after the anchor are those of a writer stopped between appending and anchoring
    # (a sweeper killed with kill -9): they chain on from the anchored head, and each must
    # still be vouched for by its signature or MAC (twin.core.officers.check_trail).
    try:
        trail = AuditTrail.from_entries(entries, anchor)
    except AuditError as exc:
        raise EvidenceError(f"{folder / TRAIL}: {exc}") from None
    trail.signer = signer
    return trail, len(entries)


def save(folder: Path, trail: AuditTrail, written: int, key: bytes) -> int:
    """Append the entries from `written` on, then move the keyed anchor; returns the count."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(trail) > written:
        with (folder / TRAIL).open("a", encoding="ascii") as f:
            f.write(trail.to_jsonl(start=written))
            f.flush()
            os.fsync(f.fileno())
    a = trail.anchor()
    body = {
        "count": a.count,
        "head_hash": a.head_hash,
        "trail": TRAIL_NAME,
        "hmac_sha256": anchor_mac(key, a, TRAIL_NAME),
    }
    tmp = folder / (ANCHOR + ".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, folder / ANCHOR)
    return len(trail)
