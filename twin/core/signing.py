"""Who vouches for an audit entry, and for a trail's anchor: signatures and keyed MACs.

Theory of operation
-------------------
An audit entry's `hash` (twin/core/audit.py) chains it to the entries before it, but anyone
can recompute a chain. What a copy of the project cannot recompute is a signature:

- an entry made by an officer carries `sig = "ed25519:<base64>"`, the officer's Ed25519
  signature of `ENTRY_CONTEXT + entry.hash`; it is checked against the public key the officer
  register (twin/core/officers.py) holds for that officer at the entry's time;
- an entry made by a system component (`SYSTEM_ACTORS`: the desk's own bootstrap and
  lazy expiries, the retention sweeper) carries `sig = "hmac-sha256:<hex>"`, an HMAC of the
  same message under the installation's audit key;
- a trail's anchor (entry count + head hash) carries an HMAC under the audit key over
  `ANCHOR_CONTEXT` + the canonical JSON of count, head hash and the trail's name, so a cut at
  the end of the trail cannot be re-anchored without the key.

The key material comes from outside (the adapters load it from files kept outside the run
folder, see twin/storage/keys.py); everything here is pure computation, no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from twin.core.audit import AuditAnchor, AuditEntry, canonical_json

__all__ = [
    "ENTRY_CONTEXT",
    "ANCHOR_CONTEXT",
    "SYSTEM_ACTORS",
    "ED25519_PREFIX",
    "HMAC_PREFIX",
    "public_key_b64",
    "load_public_key",
    "sign_entry",
    "mac_entry",
    "signature_verifies",
    "mac_verifies",
    "anchor_mac",
]

ENTRY_CONTEXT = b"cctv-twin/audit-entry/1\n"
ANCHOR_CONTEXT = b"cctv-twin/audit-anchor/1\n"
ED25519_PREFIX = "ed25519:"
HMAC_PREFIX = "hmac-sha256:"
SYSTEM_ACTORS = frozenset({"desk", "access_desk", "sweeper"})
"""Actors that are components, not officers: their entries are MAC'd with the audit key."""


def _message(entry: AuditEntry) -> bytes:
    return ENTRY_CONTEXT + entry.hash.encode("ascii")


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64: how the register and the command line name it."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from its base64 text; ValueError naming the text if it is not."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            f"public key {text!r} is not a base64 Ed25519 public key (32 bytes): {exc}; give the "
            "line `twin evidence keygen` printed"
        ) from None


def sign_entry(key: Ed25519PrivateKey, entry: AuditEntry) -> str:
    """The `sig` of an officer's entry: their Ed25519 signature of the entry's hash."""
    return ED25519_PREFIX + base64.b64encode(key.sign(_message(entry))).decode("ascii")


def mac_entry(key: bytes, entry: AuditEntry) -> str:
    """The `sig` of a system component's entry: HMAC-SHA256 of its hash under the audit key."""
    return HMAC_PREFIX + hmac.new(key, _message(entry), hashlib.sha256).hexdigest()


def signature_verifies(public_key_text: str, entry: AuditEntry) -> bool:
    """True if `entry.sig` is an Ed25519 signature of the entry by the holder of that key."""
    if not entry.sig.startswith(ED25519_PREFIX):
        return False
    try:
        sig = base64.b64decode(entry.sig[len(ED25519_PREFIX) :], validate=True)
        load_public_key(public_key_text).verify(sig, _message(entry))
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def mac_verifies(key: bytes, entry: AuditEntry) -> bool:
    """True if `entry.sig` is the audit key's MAC of the entry."""
    return entry.sig.startswith(HMAC_PREFIX) and hmac.compare_digest(
        entry.sig, mac_entry(key, entry)
    )


def anchor_mac(key: bytes, anchor: AuditAnchor, trail_name: str) -> str:
    """HMAC-SHA256 (hex) of an anchor for the trail called `trail_name` (e.g.
    "evidence/audit.jsonl"), so an anchor cannot be moved to another trail either."""
    body = canonical_json(
        {"count": anchor.count, "head_hash": anchor.head_hash, "trail": trail_name}
    )
    return hmac.new(key, ANCHOR_CONTEXT + body.encode("ascii"), hashlib.sha256).hexdigest()
