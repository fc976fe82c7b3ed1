"""Exports of approved footage from a live run, and their verification.

`export_request` puts the EXPORT entry on the desk's trail before anything is copied, then
writes the copies and `manifest.json` into the destination, keeps the authentic manifest at
`evidence/exports/<request>.manifest.json` and puts its hash on the trail (a COPY entry).
`verify_export` checks the files against the manifest AND the manifest against the hash on
the trail, so a manifest re-sealed after a file was changed is caught, naming the file.
Segments are read through the live store's read API (twin.storage.live_catalog.stored_segments).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from twin.core.access import Action, Officer
from twin.core.audit import AuditKind
from twin.core.manifest import build_manifest, verify_manifest
from twin.core.preservation import PreservationRequest, plan_preservation
from twin.core.types import Interval, SegmentRef
from twin.desk.desk import EXPORTS, Desk, open_desk
from twin.errors import EvidenceError
from twin.live.cluster import fetch_footage
from twin.storage.live_catalog import stored_segments

__all__ = ["sha256_file", "export_footage", "export_request", "verify_export", "cluster_of_run"]


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks (hashlib.file_digest)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_footage(
    segments: list[SegmentRef],
    root: Path,
    dest: Path,
    case_id: str,
    cameras: tuple[str, ...],
    window: Interval,
    now: float,
    fetched: list[tuple[SegmentRef, bytes]] | None = None,
) -> dict[str, Any]:
    """Copy the segments' files into `dest` and return the sealed manifest (also written as
    dest/manifest.json). A file gone since the catalog was read is listed as missing footage.
    `fetched`: segments with their bytes, as the nodes of a cluster run sent them through Ray
    (then `segments` and `root` are not read)."""
    dest.mkdir(parents=True, exist_ok=True)
    copied: list[tuple[SegmentRef, str, str]] = []
    for seg, data in fetched or []:
        out = dest / seg.key
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        copied.append((seg, sha256_file(out), seg.key))
    for seg in segments if fetched is None else []:
        src = root / seg.key
        out = dest / seg.key
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(src, out)
        except FileNotFoundError:
            continue  # swept since the query: counted below as missing
        copied.append((seg, sha256_file(out), seg.key))
    request = PreservationRequest(case_id, cameras, window, max(now, window.end_s), "export")
    plan = plan_preservation(request, [c[0] for c in copied])
    manifest = build_manifest(case_id, copied, missing=plan.missing())
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def cluster_of_run(run_dir: Path) -> dict[str, Any] | None:
    """The `cluster` event of a live run whose footage lies in its nodes' own folders (None:
    all of it is in the run folder, read here)."""
    res = run_dir / "results.json"
    if not res.exists():
        return None
    events = json.loads(res.read_text()).get("events") or []
    ev = next((e for e in events if e.get("kind") == "cluster"), None)
    if ev is None or not any(n.get("storage") == "node folder" for n in ev.get("nodes", [])):
        return None
    return dict(ev)


def export_request(
    d: Desk,
    request_id: str,
    officer: Officer,
    now: float,
    db: Path | None,
    root: Path | None,
    dest: Path,
    shown_dest: Path | None = None,
) -> dict[str, Any]:
    """Export approved footage (AccessDenied, audited, if not allowed): the EXPORT entry goes
    on the trail before anything is copied; then the copies, the manifest, the authentic
    manifest kept with the desk, and a COPY entry with the manifest's hash."""
    grant = d.access.authorize_use(request_id, Action.EXPORT, now, officer_id=officer.officer_id)
    d.save()
    cluster = cluster_of_run(d.run_dir)
    if cluster is not None:  # each node sends its own files through Ray
        fetched = fetch_footage(
            d.run_dir, cluster, grant.cameras, grant.window.start_s, grant.window.end_s
        )
        manifest = export_footage(
            [], Path(), dest, grant.case_id, grant.cameras, grant.window, now, fetched=fetched
        )
    else:
        assert db is not None and root is not None
        segments = stored_segments(db, grant.cameras, grant.window)
        manifest = export_footage(
            segments, root, dest, grant.case_id, grant.cameras, grant.window, now
        )
    kept = d.folder / EXPORTS / f"{request_id}.manifest.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    entry = d.trail.append(
        now,
        AuditKind.COPY,
        officer.officer_id,
        request_id,
        {
            "what": "export",
            "case_id": grant.case_id,
            "manifest_sha256": manifest["manifest_sha256"],
            "file_count": manifest["file_count"],
            "total_bytes": manifest["total_bytes"],
            "missing": len(manifest["missing"]),
            "dest": str(shown_dest or dest),
        },
    )
    d.save()
    (dest / "export.json").write_text(
        json.dumps(
            {"run_dir": str(d.run_dir.resolve()), "request_id": request_id, "seq": entry.seq},
            indent=2,
        )
        + "\n"
    )
    return manifest


def _files_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(f.get("evidence_key")): f for f in manifest.get("files", []) if isinstance(f, dict)}


def _manifest_changes(now: dict[str, Any], then: dict[str, Any]) -> list[str]:
    """What differs between a manifest and the one sealed at export, by field and file."""
    out: list[str] = []
    a, b = _files_of(now), _files_of(then)
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append(f"file {k} was dropped from the manifest")
        elif k not in b:
            out.append(f"file {k} was added to the manifest")
        else:
            for field in sorted(set(a[k]) | set(b[k])):
                if a[k].get(field) != b[k].get(field):
                    out.append(
                        f"file {k}: {field} is {str(a[k].get(field))[:16]}..., was "
                        f"{str(b[k].get(field))[:16]}... at export"
                    )
    for field in sorted((set(now) | set(then)) - {"files", "manifest_sha256"}):
        if now.get(field) != then.get(field):
            out.append(f"{field} is {now.get(field)!r}, was {then.get(field)!r} at export")
    return out


def verify_export(dest: Path, run_dir: Path | None = None) -> tuple[bool, str]:
    """Check an export folder: its files against its manifest, and its manifest against the
    hash the run's verified trail recorded at export (the run: `run_dir`, else the one
    dest/export.json names)."""
    path = dest / "manifest.json"
    if not path.exists():
        raise EvidenceError(f"{path}: no manifest; pass the folder `twin evidence export` wrote")
    manifest = json.loads(path.read_text())
    side: dict[str, Any] = {}
    if (dest / "export.json").exists():
        side = json.loads((dest / "export.json").read_text())
    if run_dir is None:
        if "run_dir" not in side:
            raise EvidenceError(
                f"{dest}: no export.json naming the run; pass --run RUN_DIR (the "
                "run folder whose desk made the export)"
            )
        run_dir = Path(side["run_dir"])
    d = open_desk(run_dir)  # a trail that does not verify proves nothing: EvidenceError
    exports = [
        e
        for e in d.trail.entries
        if e.kind is AuditKind.COPY
        and e.details.get("what") == "export"
        and e.details.get("case_id") == manifest.get("case_id")
        and (not side.get("request_id") or e.subject == side["request_id"])
    ]
    problems: list[str] = []
    sealed = manifest
    if not exports:
        problems.append(
            f"no export of case {manifest.get('case_id')!r} is on the trail of "
            f"{run_dir}: the manifest was not made by this desk"
        )
    else:
        e = exports[-1]
        recorded = e.details["manifest_sha256"]
        where = f"export of {e.subject} (seq {e.seq}, by {e.actor})"
        if manifest.get("manifest_sha256") != recorded:
            kept = d.folder / EXPORTS / f"{e.subject}.manifest.json"
            original = json.loads(kept.read_text()) if kept.exists() else None
            if (
                original is not None
                and original.get("manifest_sha256") == recorded
                and verify_manifest(original, {}).manifest_intact
            ):
                sealed = original
                changes = _manifest_changes(manifest, original)
                problems.append(
                    f"the manifest's hash {str(manifest.get('manifest_sha256'))[:16]}... "
                    f"is not the {recorded[:16]}... the trail recorded at the {where}: it "
                    "was re-sealed after export (" + "; ".join(changes) + ")"
                )
            else:
                problems.append(
                    f"the manifest's hash {str(manifest.get('manifest_sha256'))[:16]}... "
                    f"is not the {recorded[:16]}... the trail recorded at the {where}: it "
                    "was changed after export (and the desk's copy is gone or altered)"
                )
    hashes = {
        p.relative_to(dest).as_posix(): sha256_file(p)
        for p in sorted(dest.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "export.json")
    }
    check = verify_manifest(sealed, hashes)
    if not check.manifest_intact:
        problems.append("the manifest was edited (its own hash does not match)")
    problems += [f"{k} is missing" for k in check.missing]
    problems += [
        f"{k} hashes to {found[:16]}..., the manifest sealed at export says {exp[:16]}..."
        for k, exp, found in check.mismatched
    ]
    if not problems:
        return True, (
            f"{path}: intact; {manifest['file_count']} files, "
            f"{manifest['total_bytes']:,} bytes match their SHA-256; "
            f"{len(manifest['missing'])} missing interval(s) declared; "
            f"manifest {manifest['manifest_sha256'][:16]}... is the one on the trail of "
            f"{run_dir} ({exports[-1].subject}, seq {exports[-1].seq})"
        )
    return False, f"{path}: " + "; ".join(problems)
