"""Catalog against disk, on the node that holds the files (twin.live.cluster runs it there).

Every row still `stored` must have its file, of the recorded size, opening with PyAV and
starting on a keyframe; no `deleted` row may have a file; no segment file may lack a row.
`.part` files should not be left (the run recovers them); any still there are counted as lost
and removed, so disk and catalog agree at the end.
"""

from __future__ import annotations

from pathlib import Path

import av
import av.error

from twin.storage.live_catalog import SegmentRow, segment_path

__all__ = ["check_files"]


def check_files(
    root: Path, rows: list[SegmentRow], *, remove_partials: bool = True
) -> dict[str, int]:
    """Catalog against disk (see the module docstring); returns counts of each finding."""
    stored = {(r.recorder, r.key): r for r in rows if r.state == "stored"}
    gone = {(r.recorder, r.key) for r in rows if r.state != "stored"}
    res = {
        "stored": len(stored),
        "missing": 0,
        "wrong_size": 0,
        "unreadable": 0,
        "deleted_but_present": 0,
        "orphans": 0,
        "partials": 0,
    }
    on_disk: set[tuple[str, str]] = set()
    for p in sorted(root.rglob("*")) if root.exists() else []:
        if not p.is_file():
            continue
        rel = p.relative_to(root)
        rec, key = rel.parts[0], "/".join(rel.parts[1:])
        if p.name.endswith(".part"):
            res["partials"] += 1
            if remove_partials:
                p.unlink()
            continue
        on_disk.add((rec, key))
        if (rec, key) in gone:
            res["deleted_but_present"] += 1
        elif (rec, key) not in stored:
            res["orphans"] += 1
    for (rec, key), r in stored.items():
        p = segment_path(root, rec, key)
        if (rec, key) not in on_disk:
            res["missing"] += 1
            continue
        if p.stat().st_size != r.size_bytes:
            res["wrong_size"] += 1
        if not _readable(p, r.packets):
            res["unreadable"] += 1
    return res


def _readable(path: Path, packets: int) -> bool:
    """Opens, is H.264, starts on a keyframe and holds the packets the recorder wrote."""
    try:
        with av.open(str(path)) as f:
            s = f.streams.video[0]
            if s.codec_context.name != "h264":
                return False
            n, first_key = 0, None
            for p in f.demux(s):
                if not p.size:
                    continue
                if first_key is None:
                    first_key = bool(p.is_keyframe)
                n += 1
            return bool(first_key) and n == packets
    except (av.error.FFmpegError, OSError, IndexError):
        return False
