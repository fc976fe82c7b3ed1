"""Evidence manifests: every copy of a case with its hash, sealed by a hash over the whole.

When the last copy of a case is marked, the locker (core/evidence.py) builds its manifest
(`build_manifest`): a canonical JSON-able dict listing every file with its SHA-256 and the
missing intervals, sealed by a hash over its content; `verify_manifest` checks a set of
stored files against it. `EvidenceError` for a copy whose hash is malformed or disagrees with
the source, or a key listed twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twin.core.audit import canonical_json
from twin.core.preservation import segment_order
from twin.core.types import Interval, SegmentRef
from twin.errors import EvidenceError

__all__ = [
    "MANIFEST_FORMAT",
    "EvidenceCopy",
    "check_copy",
    "build_manifest",
    "ManifestCheck",
    "verify_manifest",
]

MANIFEST_FORMAT = "cctv-twin/evidence-manifest/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class EvidenceCopy:
    """One evidence copy: the source segment, the SHA-256 of the copy's bytes (as the adapter
    read them back) and where the copy is kept."""

    segment: SegmentRef
    sha256: str
    evidence_key: str
    copied_at_s: float = 0.0


def check_copy(case_id: str, seg: SegmentRef, sha256: str, evidence_key: str) -> None:
    if not _HEX64.fullmatch(sha256):
        raise EvidenceError(
            f"the copy of segment {seg.key!r} for case {case_id!r} has sha256 {sha256!r}: "
            "expected 64 lowercase hex digits, as from hashlib.sha256(data).hexdigest()"
        )
    if seg.sha256 and seg.sha256 != sha256:
        raise EvidenceError(
            f"the copy {evidence_key!r} of segment {seg.key!r} for case {case_id!r} hashes to "
            f"{sha256[:16]}... but the source was recorded as {seg.sha256[:16]}...: the copy is "
            "corrupt; copy the segment again and mark the new copy"
        )
    if not evidence_key:
        raise EvidenceError(
            f"the copy of segment {seg.key!r} for case {case_id!r} has no evidence key"
        )


def build_manifest(
    case_id: str,
    copies: Iterable[tuple[SegmentRef, str, str]],
    *,
    missing: Iterable[tuple[str, Interval]] = (),
) -> dict[str, Any]:
    """A deterministic manifest of a case's evidence copies.

    `copies` are (source segment, SHA-256 of the copy, evidence key); `missing` the
    (camera, interval) parts of the request that were already gone. Files are listed by
    camera, start, end, source key. `manifest_sha256` is the SHA-256 of the canonical JSON of
    every other field, so any edit to the manifest shows. Raises EvidenceError for a malformed
    hash, a copy whose hash disagrees with the source's recorded hash, or a repeated key.
    """
    files: list[dict[str, Any]] = []
    source_keys: set[str] = set()
    evidence_keys: set[str] = set()
    for seg, sha256, evidence_key in sorted(copies, key=lambda c: segment_order(c[0])):
        check_copy(case_id, seg, sha256, evidence_key)
        for key, seen, what in (
            (seg.key, source_keys, "segment"),
            (evidence_key, evidence_keys, "evidence key"),
        ):
            if key in seen:
                raise EvidenceError(
                    f"{what} {key!r} appears twice in the manifest of case {case_id!r}: "
                    "list each copy once, each under its own evidence key"
                )
            seen.add(key)
        files.append(
            {
                "camera": seg.camera,
                "start_s": float(seg.start_s),
                "end_s": float(seg.end_s),
                "bytes": seg.bytes,
                "source_key": seg.key,
                "recorder": seg.recorder,
                "sha256": sha256,
                "evidence_key": evidence_key,
            }
        )
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "case_id": case_id,
        "files": files,
        "file_count": len(files),
        "total_bytes": sum(f["bytes"] for f in files),
        "missing": [
            {"camera": cam, "start_s": float(iv.start_s), "end_s": float(iv.end_s)}
            for cam, iv in sorted(missing, key=lambda m: (m[0], m[1].start_s, m[1].end_s))
        ],
    }
    manifest["manifest_sha256"] = _manifest_hash(manifest)
    return manifest


def _manifest_hash(manifest: Mapping[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ManifestCheck:
    """What `verify_manifest` found. `ok` means the manifest is unchanged and every file it
    lists is present with its recorded hash; `unexpected` files (present, not listed) are
    reported but do not make it fail."""

    manifest_intact: bool
    missing: tuple[str, ...]
    mismatched: tuple[tuple[str, str, str], ...]  # (evidence key, expected, found)
    unexpected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.manifest_intact and not self.missing and not self.mismatched


def verify_manifest(manifest: Mapping[str, Any], hashes_by_key: Mapping[str, str]) -> ManifestCheck:
    """Check stored evidence files (their SHA-256 by evidence key, as the adapter computed
    them) against `manifest`. Raises EvidenceError only if the manifest is not a manifest."""
    files = manifest.get("files")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, list):
        raise EvidenceError(
            f"not an evidence manifest: expected format {MANIFEST_FORMAT!r} with a 'files' list, "
            f"got format {manifest.get('format')!r}"
        )
    try:
        intact = _manifest_hash(manifest) == manifest.get("manifest_sha256")
    except ValueError:
        intact = False
    missing: list[str] = []
    mismatched: list[tuple[str, str, str]] = []
    listed: set[str] = set()
    for entry in files:
        if not isinstance(entry, Mapping) or not {"evidence_key", "sha256"} <= entry.keys():
            raise EvidenceError(f"manifest file entry {entry!r} lacks 'evidence_key' or 'sha256'")
        key, expected = str(entry["evidence_key"]), str(entry["sha256"])
        listed.add(key)
        found = hashes_by_key.get(key)
        if found is None:
            missing.append(key)
        elif found != expected:
            mismatched.append((key, expected, found))
    return ManifestCheck(
        manifest_intact=intact,
        missing=tuple(sorted(missing)),
        mismatched=tuple(sorted(mismatched)),
        unexpected=tuple(sorted(set(hashes_by_key) - listed)),
    )
