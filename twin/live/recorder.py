"""Record RTSP streams into segment files by stream copy, cut on keyframes, into the catalog.

Theory of operation. A :class:`Recorder` records many cameras, one :class:`StreamRecorder`
thread each (PyAV releases the GIL while it waits on the socket, so threads suffice for
stream copy). A stream recorder connects as the `recorder` user, waits for a keyframe, and
copies packets into a segment file (no decoding, no encoding). At the first keyframe at least
`segment_s` after the segment's start it closes the file and opens the next one, so every
segment starts with a keyframe and opens on its own.

Time. Segment times are on the run clock (`time.time() - epoch`, shared by every process on a
machine). Each connection is anchored once, at the wall time its first keyframe arrived; every
later boundary is that anchor plus the stream's own timestamps, so back-to-back segments of one
connection meet exactly and only a real interruption (reconnect, lost packets) leaves a gap.

Files. A segment is written as `<camera>/<camera>-<start ms>.<ext>.part`, closed, hashed and
renamed to its final name before its row goes into the :class:`~twin.storage.live_catalog.LiveStore`
in one transaction: a crash leaves at worst a `.part` file, or a finished file without its
row (killed between the rename and the insert), and never a row without a file.
When a connection breaks, the segment in progress is closed where the stream stopped and kept.

Crash safety. MP4 segments are *fragmented* (an empty `moov`, then one `moof`+`mdat` per
keyframe interval) and every fragment is flushed to the file as it is cut, MPEG-TS is written
packet by packet; so a recorder killed with `kill -9` leaves a `.part` file that plays up to
its last whole fragment. :func:`recover_partials` turns such files into catalog rows (its
start from the file name, its end from the last packet in it) and removes empty stubs; the
driver runs it when a recorder's process died and when the run ends, so catalog and disk
always agree and footage received before a crash is kept.
"""

from __future__ import annotations

import hashlib
import re
import resource
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from synthetic_streams.reader import redact_url
from twin.live.mux import EXT, MUX_OPTIONS
from twin.storage.live_catalog import LiveStore

__all__ = [
    "RTSP_LIVE_OPTIONS",
    "StreamStats",
    "RecorderStatus",
    "StreamRecorder",
    "Recorder",
    "Recovered",
    "recover_partials",
    "cpu_seconds",
]

_OPEN_TIMEOUT_S = 5.0
_SESSIONS_KEPT = 16  # per camera: a failover's reconnection is among the latest
_READ_TIMEOUT_S = 3.0
#: No probing: the SDP already carries SPS/PPS, and packets buffered by a probe would arrive
#: late and make the wall-clock anchor of the connection wrong by the probe time (~2 s).
RTSP_LIVE_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counters of one camera's recording on one recorder."""

    camera: str
    segments: int
    bytes: int
    connects: int
    failures: int
    discontinuities: int  # packets lost inside a connection (a segment was cut short)
    last_segment_end_s: float | None
    recording: bool
    last_error: str | None
    #: When this recorder was told to record the camera (run clock, s).
    started_s: float | None = None
    #: Its RTSP sessions, the latest _SESSIONS_KEPT: (opened, first keyframe or None), run clock.
    sessions: tuple[tuple[float, float | None], ...] = ()


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """A recorder's heartbeat: who it is, what it records, how it is doing."""

    name: str
    at_s: float
    cameras: tuple[str, ...]
    streams: tuple[StreamStats, ...]
    cpu_s: float


class _Segment:
    """One segment file being written."""

    def __init__(
        self,
        root: Path,
        camera: str,
        container: str,
        template: av.VideoStream,
        start_s: float,
        first_pts: int,
    ) -> None:
        self.key = f"{camera}/{camera}-{round(start_s * 1000):010d}.{EXT[container]}"
        self.path = root / self.key
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.start_s = start_s
        self.first_pts = first_pts
        self.packets = 0
        self.out = av.open(
            str(self.tmp), "w", format=container, options=dict(MUX_OPTIONS[container])
        )
        self.stream = self.out.add_stream_from_template(template)

    def write(self, packet: av.Packet[av.VideoStream], pts: int) -> None:
        """Mux `packet` (whose pts is `pts`, read by the caller) from this segment's start."""
        packet.pts = packet.dts = pts - self.first_pts
        packet.stream = self.stream
        self.out.mux(packet)
        self.packets += 1

    def finish(self) -> tuple[str, int, str]:
        """Close, hash and rename into place; returns (key, size, sha256)."""
        self.out.close()
        return _seal(self.tmp, self.path, self.key)

    def discard(self) -> None:
        try:
            self.out.close()
        except (av.error.FFmpegError, OSError, ValueError):
            pass
        self.tmp.unlink(missing_ok=True)


def _seal(tmp: Path, path: Path, key: str) -> tuple[str, int, str]:
    """Hash a finished `.part` file and rename it into place; returns (key, size, sha256)."""
    with tmp.open("rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    size = tmp.stat().st_size
    tmp.replace(path)
    return key, size, sha


_SEG_NAME = re.compile(r"^(?P<camera>.+)-(?P<ms>\d{10})\.(?P<ext>mp4|ts)$")


@dataclass(frozen=True, slots=True)
class Recovered:
    """What :func:`recover_partials` did with the `.part` files of one recorder."""

    recovered: tuple[str, ...]  # keys now in the catalog (left-over .part files and files
    # finished just before the crash whose row was never written)
    removed: tuple[str, ...]  # empty or unplayable stubs deleted (relative paths)
    seconds: float  # footage the recovered files hold


def _probe_partial(path: Path) -> tuple[int, float] | None:
    """(packets, seconds) of a left-over segment file, or None if it holds no playable video.

    The duration runs from the first packet to the end of the last one (pts + duration), on
    the file's own time base.
    """
    try:
        with av.open(str(path)) as f:
            s = f.streams.video[0]
            tb = s.time_base
            first = last = None
            n, first_key = 0, None
            for p in f.demux(s):
                if not p.size or p.pts is None:
                    continue
                if first_key is None:
                    first_key = bool(p.is_keyframe)
                first = p.pts if first is None else min(first, p.pts)
                end = p.pts + (p.duration or 0)
                last = end if last is None else max(last, end)
                n += 1
    except (av.error.FFmpegError, OSError, IndexError, ValueError):
        return None
    if not n or not first_key or tb is None or last is None or first is None or last <= first:
        return None
    return n, float((last - first) * tb)


def recover_partials(root: Path, store: LiveStore, recorder: str) -> Recovered:
    """Turn what a dead recorder left under `root` into catalog rows.

    Two things can be left: a `.part` file (the segment in progress; it plays up to its last
    fragment) and a finished file whose row was never written (the process died between the
    rename and the insert). A file that plays is given its row (real size, hash, packets and
    span; a `.part` file is renamed to its final name first); one that holds no playable video
    is removed. Safe to run again: what has a row is left alone.
    """
    root = Path(root)
    recovered: list[str] = []
    removed: list[str] = []
    seconds = 0.0
    if not root.exists():
        return Recovered((), (), 0.0)
    known = {r.key for r in store.rows() if r.recorder == recorder}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        is_part = path.name.endswith(".part")
        name = path.name[: -len(".part")] if is_part else path.name
        m = _SEG_NAME.match(name)
        key = (
            str(path.relative_to(root))[: -len(".part")] if is_part else str(path.relative_to(root))
        )
        if not is_part and (m is None or key in known):
            continue  # a catalogued segment (or not a segment file at all)
        probe = _probe_partial(path) if m else None
        if m is None or probe is None:
            path.unlink(missing_ok=True)
            removed.append(str(path.relative_to(root)))
            continue
        packets, dur = probe
        start_s = int(m["ms"]) / 1000.0
        if is_part:
            key, size, sha = _seal(path, path.with_name(name), key)
        else:
            with path.open("rb") as f:
                sha = hashlib.file_digest(f, "sha256").hexdigest()
            size = path.stat().st_size
        store.add_segment(m["camera"], recorder, start_s, start_s + dur, size, packets, key, sha)
        known.add(key)
        recovered.append(key)
        seconds += dur
    return Recovered(tuple(recovered), tuple(removed), seconds)


class StreamRecorder:
    """Record one camera's RTSP stream until stopped, reconnecting with backoff."""

    def __init__(
        self,
        camera: str,
        url: str,
        recorder: str,
        root: Path,
        store: LiveStore,
        store_lock: threading.Lock,
        epoch: float,
        segment_s: float,
        container: str,
        reconnect_max_s: float,
        fps: int,
    ) -> None:
        self.fps = fps
        self.camera, self.url, self.recorder = camera, url, recorder
        self.root, self.store, self._store_lock = root, store, store_lock
        self.epoch, self.segment_s, self.container = epoch, segment_s, container
        self.reconnect_max_s = reconnect_max_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._segments = self._bytes = self._connects = self._failures = self._gaps = 0
        self._last_end: float | None = None
        self._recording = False
        self._last_error: str | None = None
        self._started_s = self._now()
        self._sessions: list[tuple[float, float | None]] = []
        self._thread = threading.Thread(target=self._run, name=f"rec-{camera}", daemon=True)

    def start(self) -> StreamRecorder:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def stats(self) -> StreamStats:
        with self._lock:
            return StreamStats(
                self.camera,
                self._segments,
                self._bytes,
                self._connects,
                self._failures,
                self._gaps,
                self._last_end,
                self._recording,
                self._last_error,
                self._started_s,
                tuple(self._sessions),
            )

    def _now(self) -> float:
        return time.time() - self.epoch

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self._session()
                delay = 0.1
            except Exception as exc:  # noqa: BLE001 - a stream's thread must never die
                # silently: any failure (the network, the muxer, the catalog) is counted and
                # the camera reconnects, so a lost camera shows up as a gap, not as nothing.
                with self._lock:
                    self._failures += 1
                    self._last_error = f"{type(exc).__name__}: {exc}".replace(
                        self.url, redact_url(self.url)
                    )
            with self._lock:
                self._recording = False
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.reconnect_max_s)

    def _session(self) -> None:
        seg: _Segment | None = None
        with av.open(
            self.url, options=RTSP_LIVE_OPTIONS, timeout=(_OPEN_TIMEOUT_S, _READ_TIMEOUT_S)
        ) as inp:
            stream = inp.streams.video[0]
            if stream.time_base is None:  # counted as a failed session, like a bad stream
                raise ConnectionError(f"{self.camera}: the RTSP stream has no time base")
            tb = Fraction(stream.time_base)
            frame_ticks = int(round(1 / (tb * self.fps)))
            with self._lock:
                self._connects += 1
                self._sessions = [*self._sessions[-(_SESSIONS_KEPT - 1) :], (self._now(), None)]
            anchor: tuple[float, int] | None = None  # (run-clock time, pts) of the 1st keyframe
            last_pts: int | None = None
            try:
                for pkt in inp.demux(stream):
                    if self._stop.is_set():
                        break
                    if pkt.pts is None or not pkt.size:
                        continue
                    pts = pkt.pts
                    if (
                        last_pts is not None
                        and seg is not None
                        and (pts <= last_pts or pts - last_pts > 3 * frame_ticks)
                    ):
                        # Lost or reordered packets: end the segment where the stream was whole.
                        self._finish(seg, anchor, last_pts + frame_ticks, tb)
                        seg = None
                        with self._lock:
                            self._gaps += 1
                    if pkt.is_keyframe:
                        if anchor is None:
                            anchor = (self._now(), pts)
                            with self._lock:
                                self._recording = True
                                self._sessions[-1] = (self._sessions[-1][0], anchor[0])
                        if seg is not None and (pts - seg.first_pts) * tb >= self.segment_s - 1e-3:
                            self._finish(seg, anchor, pts, tb)
                            seg = None
                        if seg is None:
                            seg = _Segment(
                                self.root,
                                self.camera,
                                self.container,
                                stream,
                                anchor[0] + float((pts - anchor[1]) * tb),
                                pts,
                            )
                    if seg is not None:
                        seg.write(pkt, pts)
                        last_pts = pts
            finally:
                if seg is not None and anchor is not None and last_pts is not None:
                    if last_pts > seg.first_pts:
                        self._finish(seg, anchor, last_pts + frame_ticks, tb)
                    else:
                        seg.discard()

    def _finish(
        self, seg: _Segment, anchor: tuple[float, int] | None, end_pts: int, tb: Fraction
    ) -> None:
        assert anchor is not None
        end_s = anchor[0] + float((end_pts - anchor[1]) * tb)
        key, size, sha = seg.finish()
        with self._store_lock:
            self.store.add_segment(
                self.camera, self.recorder, seg.start_s, end_s, size, seg.packets, key, sha
            )
        with self._lock:
            self._segments += 1
            self._bytes += size
            self._last_end = end_s


class Recorder:
    """One recorder: many cameras, one thread each, one catalog connection."""

    def __init__(
        self,
        name: str,
        root: Path,
        store_path: Path,
        epoch: float,
        segment_s: float,
        fps: int,
        container: str = "mp4",
        reconnect_max_s: float = 1.0,
    ) -> None:
        self.fps = fps
        self.name = name
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = LiveStore(store_path)
        self._store_lock = threading.Lock()
        self.epoch, self.segment_s = epoch, segment_s
        self.container, self.reconnect_max_s = container, reconnect_max_s
        self._streams: dict[str, StreamRecorder] = {}
        self._done: list[StreamStats] = []

    def record(self, cameras: dict[str, str]) -> list[str]:
        """Start recording these cameras ({name: RTSP URL}); returns the ones now recording."""
        for cam in sorted(cameras):
            if cam not in self._streams:
                self._streams[cam] = StreamRecorder(
                    cam,
                    cameras[cam],
                    self.name,
                    self.root,
                    self.store,
                    self._store_lock,
                    self.epoch,
                    self.segment_s,
                    self.container,
                    self.reconnect_max_s,
                    self.fps,
                ).start()
        return sorted(self._streams)

    def release(self, cameras: list[str]) -> None:
        """Stop recording these cameras (their segment in progress is closed and kept)."""
        for cam in cameras:
            s = self._streams.pop(cam, None)
            if s is not None:
                s.stop()
                self._done.append(s.stats())

    def status(self) -> RecorderStatus:
        streams = tuple(s.stats() for s in self._streams.values())
        return RecorderStatus(
            self.name,
            time.time() - self.epoch,
            tuple(sorted(self._streams)),
            streams,
            cpu_seconds(),
        )

    def stop(self) -> RecorderStatus:
        """Stop every stream; returns the final counters (released cameras included)."""
        self.release(sorted(self._streams))
        done = tuple(self._done)
        self.store.close()
        return RecorderStatus(self.name, time.time() - self.epoch, (), done, cpu_seconds())
