"""Key files: the installation's audit key and officers' Ed25519 private keys, outside runs.

Where keys live (never inside a run folder: whoever can write the run folder must not be able
to read them):

- the audit key (32 random bytes, hex, one line): the file named by `$CCTV_TWIN_AUDIT_KEY`,
  else `~/.config/cctv-twin/audit.key` (`$XDG_CONFIG_HOME` is honoured). `audit_key(create=True)`
  makes it (0600, its folder 0700) on first use by a writer (the desk's bootstrap, the live
  sweeper); readers (`verify-audit`) never create it.
- an officer's private key (PEM, PKCS#8, 0600): `--key PATH`, else `$CCTV_TWIN_OFFICER_KEY`,
  else `<key dir>/<officer>.pem` with the key dir `$CCTV_TWIN_KEY_DIR` or
  `~/.config/cctv-twin/keys`. `twin evidence keygen --officer ID` writes one there.

A key file inside the run folder it is used on is refused (`check_outside`).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from twin.errors import EvidenceError

__all__ = [
    "AUDIT_KEY_ENV",
    "OFFICER_KEY_ENV",
    "KEY_DIR_ENV",
    "audit_key_path",
    "audit_key",
    "officer_key_path",
    "load_officer_key",
    "write_officer_key",
    "check_outside",
]

AUDIT_KEY_ENV = "CCTV_TWIN_AUDIT_KEY"
OFFICER_KEY_ENV = "CCTV_TWIN_OFFICER_KEY"
KEY_DIR_ENV = "CCTV_TWIN_KEY_DIR"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]+")


def _config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cctv-twin"


def audit_key_path() -> Path:
    """Where the audit key is (it may not exist yet)."""
    env = os.environ.get(AUDIT_KEY_ENV)
    return Path(env).expanduser() if env else _config_dir() / "audit.key"


def check_outside(path: Path, run_dir: Path | None, what: str) -> None:
    """EvidenceError if `path` lies inside `run_dir`: a key there protects nothing."""
    if run_dir is None:
        return
    p, r = path.expanduser().resolve(), run_dir.resolve()
    if p == r or r in p.parents:
        raise EvidenceError(
            f"{what} {path} is inside the run folder {run_dir}: anyone who can write the run "
            "folder could read or replace it; keep it elsewhere (see docs/evidence.md, 'Keys')"
        )


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def audit_key(*, create: bool = False, run_dir: Path | None = None) -> bytes:
    """The audit key's 32 bytes. With `create`, a missing key file is made first."""
    path = audit_key_path()
    check_outside(path, run_dir, "the audit key")
    if not path.exists():
        if not create:
            raise EvidenceError(
                f"no audit key at {path}: set {AUDIT_KEY_ENV} to the key file the trail was "
                "written with (it is made by the first `twin evidence officer init` or live run)"
            )
        try:
            _write_secret(path, (secrets.token_hex(32) + "\n").encode("ascii"))
        except FileExistsError:
            pass  # made meanwhile by another writer: read theirs
    text = path.read_text(encoding="ascii").strip()
    if not _HEX64.fullmatch(text):
        raise EvidenceError(
            f"{path}: the audit key must be one line of 64 lowercase hex digits (32 bytes); "
            f"restore the file, or point {AUDIT_KEY_ENV} at the right one"
        )
    return bytes.fromhex(text)


def officer_key_path(officer_id: str, given: str | None = None) -> Path:
    if given:
        return Path(given).expanduser()
    env = os.environ.get(OFFICER_KEY_ENV)
    if env:
        return Path(env).expanduser()
    if not _SAFE_ID.fullmatch(officer_id):
        raise EvidenceError(
            f"officer id {officer_id!r} may hold only letters, digits, '_', '.', '-'"
        )
    base = os.environ.get(KEY_DIR_ENV)
    return (Path(base).expanduser() if base else _config_dir() / "keys") / f"{officer_id}.pem"


def load_officer_key(
    officer_id: str, given: str | None = None, run_dir: Path | None = None
) -> Ed25519PrivateKey:
    """An officer's private key (see the module docstring for where it is looked for)."""
    path = officer_key_path(officer_id, given)
    check_outside(path, run_dir, f"officer {officer_id!r}'s private key")
    if not path.exists():
        raise EvidenceError(
            f"no private key for officer {officer_id!r} at {path}: pass --key FILE, set "
            f"{OFFICER_KEY_ENV}, or make one with `twin evidence keygen --officer {officer_id}`"
        )
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path}: a {type(key).__name__}, expected an Ed25519 private key")
    return key


def write_officer_key(officer_id: str, given: str | None = None) -> tuple[Path, Ed25519PrivateKey]:
    """A new Ed25519 key pair for `officer_id`, its private half written 0600 (never over an
    existing file)."""
    path = officer_key_path(officer_id, given)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        _write_secret(path, pem)
    except FileExistsError:
        raise EvidenceError(
            f"{path} exists: an officer's key is never overwritten; move it "
            "away first, or pass another --key path"
        ) from None
    return path, key
