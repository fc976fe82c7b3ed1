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
renamed to its final name before its row goes into the :class:`~twin.live.store.LiveStore`
in one transaction: a crash leaves at worst a `.part` file and never a row without a file.
When a connection breaks, the segment in progress is closed where the stream stopped and kept.
"""

from __future__ import annotations

import hashlib
import resource
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from twin.live.store import LiveStore

__all__ = ["RTSP_LIVE_OPTIONS", "StreamStats", "RecorderStatus", "StreamRecorder", "Recorder", "cpu_seconds"]

_OPEN_TIMEOUT_S = 5.0
_READ_TIMEOUT_S = 3.0
_EXT = {"mp4": "mp4", "mpegts": "ts"}
#: No probing: the SDP already carries SPS/PPS, and packets buffered by a probe would arrive
#: late and make the wall-clock anchor of the connection wrong by the probe time (~2 s).
RTSP_LIVE_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}" if at else url


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

    def __init__(self, root: Path, camera: str, container: str, template: av.VideoStream,
                 start_s: float, first_pts: int) -> None:
        self.key = f"{camera}/{camera}-{round(start_s * 1000):010d}.{_EXT[container]}"
        self.path = root / self.key
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.start_s = start_s
        self.first_pts = first_pts
        self.packets = 0
        self.out = av.open(str(self.tmp), "w", format=container)
        self.stream = self.out.add_stream_from_template(template)

    def write(self, packet: av.Packet) -> None:
        packet.pts -= self.first_pts
        packet.dts = packet.pts
        packet.stream = self.stream
        self.out.mux(packet)
        self.packets += 1

    def finish(self) -> tuple[str, int, str]:
        """Close, hash and rename into place; returns (key, size, sha256)."""
        self.out.close()
        h = hashlib.sha256()
        with self.tmp.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        size = self.tmp.stat().st_size
        self.tmp.replace(self.path)
        return self.key, size, h.hexdigest()

    def discard(self) -> None:
        try:
            self.out.close()
        except (av.error.FFmpegError, OSError, ValueError):
            pass
        self.tmp.unlink(missing_ok=True)


class StreamRecorder:
    """Record one camera's RTSP stream until stopped, reconnecting with backoff."""

    def __init__(self, camera: str, url: str, recorder: str, root: Path, store: LiveStore,
                 store_lock: threading.Lock, epoch: float, segment_s: float, container: str,
                 reconnect_max_s: float, fps: int) -> None:
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
        self._thread = threading.Thread(target=self._run, name=f"rec-{camera}", daemon=True)

    def start(self) -> StreamRecorder:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def stats(self) -> StreamStats:
        with self._lock:
            return StreamStats(self.camera, self._segments, self._bytes, self._connects,
                               self._failures, self._gaps, self._last_end, self._recording,
                               self._last_error)

    def _now(self) -> float:
        return time.time() - self.epoch

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self._session()
                delay = 0.1
            except (av.error.FFmpegError, OSError) as exc:
                with self._lock:
                    self._failures += 1
                    self._last_error = f"{type(exc).__name__}: {exc}".replace(
                        self.url, _redact(self.url))
            with self._lock:
                self._recording = False
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.reconnect_max_s)

    def _session(self) -> None:
        seg: _Segment | None = None
        with av.open(self.url, options=RTSP_LIVE_OPTIONS,
                     timeout=(_OPEN_TIMEOUT_S, _READ_TIMEOUT_S)) as inp:
            stream = inp.streams.video[0]
            tb = Fraction(stream.time_base)
            frame_ticks = int(round(1 / (tb * self.fps)))
            with self._lock:
                self._connects += 1
            anchor: tuple[float, int] | None = None  # (run-clock time, pts) of the 1st keyframe
            last_pts: int | None = None
            try:
                for pkt in inp.demux(stream):
                    if self._stop.is_set():
                        break
                    if pkt.pts is None or not pkt.size:
                        continue
                    pts = pkt.pts
                    if last_pts is not None and seg is not None and (
                            pts <= last_pts or pts - last_pts > 3 * frame_ticks):
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
                        if seg is not None and (pts - seg.first_pts) * tb >= self.segment_s - 1e-3:
                            self._finish(seg, anchor, pts, tb)
                            seg = None
                        if seg is None:
                            seg = _Segment(self.root, self.camera, self.container, stream,
                                           anchor[0] + float((pts - anchor[1]) * tb), pts)
                    if seg is not None:
                        seg.write(pkt)
                        last_pts = pts
            finally:
                if seg is not None and anchor is not None and last_pts is not None:
                    if last_pts > seg.first_pts:
                        self._finish(seg, anchor, last_pts + frame_ticks, tb)
                    else:
                        seg.discard()

    def _finish(self, seg: _Segment, anchor: tuple[float, int] | None, end_pts: int,
                tb: Fraction) -> None:
        assert anchor is not None
        end_s = anchor[0] + float((end_pts - anchor[1]) * tb)
        key, size, sha = seg.finish()
        with self._store_lock:
            self.store.add_segment(self.camera, self.recorder, seg.start_s, end_s, size,
                                   seg.packets, key, sha)
        with self._lock:
            self._segments += 1
            self._bytes += size
            self._last_end = end_s


class Recorder:
    """One recorder: many cameras, one thread each, one catalog connection."""

    def __init__(self, name: str, root: Path, store_path: Path, epoch: float, segment_s: float,
                 fps: int, container: str = "mp4", reconnect_max_s: float = 1.0) -> None:
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
                    cam, cameras[cam], self.name, self.root, self.store, self._store_lock,
                    self.epoch, self.segment_s, self.container, self.reconnect_max_s,
                    self.fps).start()
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
        return RecorderStatus(self.name, time.time() - self.epoch, tuple(sorted(self._streams)),
                              streams, cpu_seconds())

    def stop(self) -> RecorderStatus:
        """Stop every stream; returns the final counters (released cameras included)."""
        self.release(sorted(self._streams))
        done = tuple(self._done)
        self.store.close()
        return RecorderStatus(self.name, time.time() - self.epoch, (), done, cpu_seconds())
