"""The live catalog on disk: SQLite (standard library, WAL) under the core RunCatalog.

Theory of operation. Every finished segment file is one row, written in one transaction by
the recorder that closed the file (the file is complete and renamed into place first, so a row
never points at half a file; a recorder killed mid-transaction leaves no row, SQLite rolls it
back). Rows are never removed: a segment goes `stored -> deleting -> deleted`, so the run's
whole footage record stays queryable for gap analysis after retention has removed the files.

The core never sees SQLite: :meth:`LiveStore.sync_into` feeds new rows into a
:class:`~twin.core.catalog.RunCatalog` (one run per segment, `add_segment`), which plans the
sweeps exactly as in the simulation. The sweeper then hands the plan's segments to
:meth:`LiveStore.delete`, which marks their rows `deleting`, unlinks the files and marks them
`deleted`; :meth:`LiveStore.recover` finishes a deletion that was cut off between the two, so
catalog and disk agree after any stop.

Several processes (recorders, sweeper, the driver) open the same file; WAL lets readers run
beside the one writer and `busy_timeout` makes writers queue instead of failing.

Holds (evidence preservation) are rows too, in `holds`, each tied to its case: placed by the
desk (`twin evidence preserve`), released when the case's copies are made or the case is
closed (`released_at` set, the row kept). The sweeper reads the unreleased ones before every
sweep into its core catalog, so a hold is on disk before the command that placed it returns,
and survives any restart or `kill -9` of the sweeper.

Files live at `root / <recorder> / <key>` (one directory per recorder, its "disk"):
`segment_path` is that rule, for every reader and deleter. `stored_segments` is the read API
for tools outside the run (the evidence desk): a read-only connection, stored segments of some
cameras over a window, as the core's SegmentRefs.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from twin.core.types import Interval, SegmentRef
from twin.errors import CatalogError, EvidenceError

if TYPE_CHECKING:
    from twin.core.catalog import RunCatalog

__all__ = [
    "SegmentRow",
    "HoldRow",
    "LiveStore",
    "segment_relpath",
    "segment_path",
    "stored_segments",
]


def segment_relpath(recorder: str, key: str) -> str:
    """A segment file's path under the segment root: `<recorder>/<key>`."""
    return f"{recorder}/{key}"


def segment_path(root: Path, recorder: str, key: str) -> Path:
    """A segment file's path: `root / <recorder> / <key>`."""
    return root / segment_relpath(recorder, key)


def stored_segments(db: Path, cameras: tuple[str, ...], window: Interval) -> list[SegmentRef]:
    """Stored segments of `cameras` overlapping `window`, from the live catalog, read only.
    A SegmentRef's key is `segment_relpath`: the file's path under the segment root."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(cameras))
        rows = con.execute(
            "SELECT camera, recorder, start_s, end_s, size_bytes, key, sha256 FROM segments "
            f"WHERE state = 'stored' AND camera IN ({marks}) AND start_s < ? AND end_s > ? "
            "ORDER BY camera, start_s, key",
            (*cameras, window.end_s, window.start_s),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise EvidenceError(f"{db}: not a live segment catalog ({exc})") from None
    finally:
        con.close()
    return [
        SegmentRef(cam, float(a), float(b), int(n), segment_relpath(rec, key), rec, sha)
        for cam, rec, a, b, n, key, sha in rows
    ]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    id          INTEGER PRIMARY KEY,
    camera      TEXT NOT NULL,
    recorder    TEXT NOT NULL,
    start_s     REAL NOT NULL,
    end_s       REAL NOT NULL,
    size_bytes  INTEGER NOT NULL,
    packets     INTEGER NOT NULL,
    key         TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'stored'
                CHECK (state IN ('stored', 'deleting', 'deleted')),
    written_at  REAL NOT NULL,
    deleted_at  REAL,
    CHECK (end_s > start_s),
    -- A key is a path under its recorder's folder: two recorders may hold the same camera
    -- from the same keyframe (a camera moved while its first recorder was still recording).
    UNIQUE (recorder, key)
);
CREATE INDEX IF NOT EXISTS segments_camera ON segments (camera, start_s);
CREATE INDEX IF NOT EXISTS segments_state ON segments (state);
CREATE TABLE IF NOT EXISTS holds (
    hold_id     TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    camera      TEXT NOT NULL,
    start_s     REAL NOT NULL,
    end_s       REAL NOT NULL,
    placed_at   REAL NOT NULL,
    released_at REAL,
    CHECK (end_s > start_s)
);
CREATE INDEX IF NOT EXISTS holds_case ON holds (case_id);
"""


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """One segment file as the live catalog holds it (times on the run clock, seconds)."""

    id: int
    camera: str
    recorder: str
    start_s: float
    end_s: float
    size_bytes: int
    packets: int
    key: str  # path relative to the segment root
    sha256: str
    state: str
    written_at: float
    deleted_at: float | None


@dataclass(frozen=True, slots=True)
class HoldRow:
    """One evidence hold: `camera`'s footage in [start_s, end_s) (run clock) for `case_id`."""

    hold_id: str
    case_id: str
    camera: str
    start_s: float
    end_s: float
    placed_at: float
    released_at: float | None


class LiveStore:
    """The SQLite file of one live run; cheap to open in each process that needs it."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- writing ----------------------------------------------------------------------------
    def add_segment(
        self,
        camera: str,
        recorder: str,
        start_s: float,
        end_s: float,
        size_bytes: int,
        packets: int,
        key: str,
        sha256: str,
    ) -> int:
        """Record one finished, renamed segment file; returns its row id."""
        if not end_s > start_s:
            raise CatalogError(
                f"segment {key!r}: end ({end_s}) must be after start ({start_s}); check the "
                f"recorder's segment boundaries"
            )
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO segments (camera, recorder, start_s, end_s, size_bytes, packets, "
                "key, sha256, written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (camera, recorder, start_s, end_s, size_bytes, packets, key, sha256, time.time()),
            )
        return int(cur.lastrowid or 0)

    def mark(self, segments: Iterable[tuple[str, str]], state: str) -> int:
        """Move these segments, (recorder, key) each, to `deleting` or `deleted`; returns rows
        changed."""
        if state not in ("deleting", "deleted"):
            raise CatalogError(f"state {state!r}; expected 'deleting' or 'deleted'")
        pairs = [(str(r), str(k)) for r, k in segments]
        if not pairs:
            return 0
        now = time.time()
        with self._tx():
            cur = self._db.executemany(
                "UPDATE segments SET state = ?, deleted_at = ? WHERE recorder = ? AND key = ? "
                "AND state != 'deleted'",
                [(state, now if state == "deleted" else None, r, k) for r, k in pairs],
            )
        return cur.rowcount

    def delete(self, root: Path, segments: Iterable[tuple[str, str]]) -> int:
        """Delete these segments, (recorder, key) each, files and all: their rows marked
        `deleting` (one transaction), their files unlinked, their rows marked `deleted` (one
        transaction). A stop in between leaves `deleting` rows, which `recover` finishes, so
        the store never lists a file that is gone as stored. Returns the files already gone."""
        pairs = [(str(r), str(k)) for r, k in segments]
        self.mark(pairs, "deleting")
        missing = 0
        for r, k in pairs:
            try:
                segment_path(root, r, k).unlink()
            except FileNotFoundError:
                missing += 1
        self.mark(pairs, "deleted")
        return missing

    def place_holds(
        self, case_id: str, holds: Iterable[tuple[str, str, float, float]], at: float
    ) -> int:
        """Record holds (hold id, camera, start_s, end_s) of a case in one transaction; a hold
        id already placed is left as it is. Returns the rows added."""
        rows = [(h, case_id, cam, float(a), float(b), float(at)) for h, cam, a, b in holds]
        with self._tx():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO holds (hold_id, case_id, camera, start_s, end_s, placed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return self._db.total_changes - before

    def release_holds(self, hold_ids: Iterable[str], at: float) -> int:
        """Mark holds released (the rows stay, for the record); returns rows changed."""
        ids = [(float(at), h) for h in hold_ids]
        with self._tx():
            before = self._db.total_changes
            self._db.executemany(
                "UPDATE holds SET released_at = ? WHERE hold_id = ? AND released_at IS NULL", ids
            )
            return self._db.total_changes - before

    def holds(self, *, case_id: str | None = None, active: bool = True) -> list[HoldRow]:
        """Holds (unreleased only, by default), optionally of one case, by hold id."""
        sql = "SELECT * FROM holds WHERE 1"
        args: list[object] = []
        if active:
            sql += " AND released_at IS NULL"
        if case_id is not None:
            sql += " AND case_id = ?"
            args.append(case_id)
        return [HoldRow(*r) for r in self._db.execute(sql + " ORDER BY hold_id", args)]

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    # -- reading ----------------------------------------------------------------------------
    def rows(self, *, after_id: int = 0, state: str | None = None) -> list[SegmentRow]:
        """Segments with id > after_id (optionally in one state), in id order."""
        sql = "SELECT * FROM segments WHERE id > ?"
        args: list[object] = [after_id]
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        return [SegmentRow(*r) for r in self._db.execute(sql + " ORDER BY id", args)]

    def count(self, state: str | None = None) -> int:
        if state is None:
            return int(self._db.execute("SELECT COUNT(*) FROM segments").fetchone()[0])
        return int(
            self._db.execute("SELECT COUNT(*) FROM segments WHERE state = ?", (state,)).fetchone()[
                0
            ]
        )

    def sync_into(
        self,
        catalog: RunCatalog,
        camera_index: dict[str, int],
        recorder_index: dict[str, int],
        after_id: int,
    ) -> tuple[int, dict[int, str]]:
        """Add stored segments with id > after_id to a RunCatalog; returns (last id, run->key)."""
        last = after_id
        added: dict[int, str] = {}
        for r in self.rows(after_id=after_id):
            last = r.id
            if r.state != "stored":
                continue
            rid = catalog.add_segment(
                camera_index[r.camera],
                recorder_index[r.recorder],
                r.start_s,
                r.end_s,
                r.size_bytes,
                r.key,
                r.sha256,
            )
            added[rid] = r.key
        return last, added

    def recover(self, root: Path) -> list[SegmentRow]:
        """Finish an interrupted deletion: unlink the `deleting` files, mark them deleted;
        returns the rows it finished (what the sweeper audits)."""
        rows = self.rows(state="deleting")
        for r in rows:
            segment_path(root, r.recorder, r.key).unlink(missing_ok=True)
        self.mark([(r.recorder, r.key) for r in rows], "deleted")
        return rows


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): take the write lock up front."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
