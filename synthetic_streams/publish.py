"""Publish an encoded clip to MediaMTX over RTSP (TCP), in real time, looping forever.

Theory of operation. The clip's packets are read into memory once (a 10 s clip at 1 Mbps is
~1.3 MB) and then only copied: no decoding, no encoding. Time is one continuous line on the
wall clock: packet ``k`` of loop ``n`` gets ``pts = dts = n * D + pts_k`` (``D`` the clip's
duration; clips have no B-frames, so DTS = PTS) and is sent when the wall clock reaches it. A
loop therefore never restarts the timestamps, and a reader or recorder sees one monotonic
stream. When the connection breaks (MediaMTX restarted, network gone), the publisher
reconnects with exponential backoff and resumes at the first keyframe at or after "now" on
that same line, so the stream it sends after a gap is decodable at once and its timestamps
still say how much time passed.

:class:`RtspPublisher` runs in a daemon thread (``start``/``stop``/``stats``), which also suits
a Ray actor: the actor holds the publisher and returns ``stats()``.

What it offered against its plan (the harness's own honesty, apart from the system under
test): ``planned_packets``/``planned_bytes`` count the packets that fell due on the time line
while a session was up (a gap in the connection is the server's or the network's, not the
publisher's), ``packets_sent``/``bytes_sent`` what went out. Each packet's lateness (how long
after its due time it was handed to the muxer) goes into a log-spaced histogram
(``LATE_EDGES_S``), so cameras' figures merge by adding counts; ``late_max_s`` is the longest
stall, ``write_max_s`` the longest single write (a socket the server did not drain blocks it).
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import av.error

from synthetic_streams.errors import MediaServerError

from .reader import redact_url

__all__ = ["LATE_EDGES_S", "PublisherStats", "RtspPublisher", "late_quantile", "publish_for"]

_IO_TIMEOUT_S = 5.0

#: Upper edges of the lateness histogram's buckets, seconds: 1 ms x 1.25^k up to ~60 s (a
#: quantile read from it is at most 25 % above the true one); the last bucket is open.
LATE_EDGES_S: tuple[float, ...] = tuple(0.001 * 1.25**k for k in range(50))


def _late_bucket(late_s: float) -> int:
    return bisect.bisect_left(LATE_EDGES_S, late_s)


def late_quantile(hist: tuple[int, ...] | list[int], q: float) -> float:
    """The `q` quantile (0-1) of a lateness histogram, as its bucket's upper edge (0.0 when
    empty; the last, open bucket reads as twice the largest edge)."""
    total = sum(hist)
    if total == 0:
        return 0.0
    need = q * total
    seen = 0
    for k, n in enumerate(hist):
        seen += n
        if seen >= need and n:
            return LATE_EDGES_S[k] if k < len(LATE_EDGES_S) else 2 * LATE_EDGES_S[-1]
    return 2 * LATE_EDGES_S[-1]


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """A snapshot of one publisher's counters."""

    packets_sent: int
    bytes_sent: int
    loops: int
    connects: int  # successful connections, the first included
    reconnects: int  # successful connections after the first
    failures: int  # connection attempts or sessions that ended in an error
    connected: bool
    last_error: str | None
    planned_packets: int = 0  # fell due while a session was up
    planned_bytes: int = 0
    late_hist: tuple[int, ...] = ()  # per LATE_EDGES_S bucket (+1 open bucket)
    late_max_s: float = 0.0  # the longest a packet waited past its due time
    write_max_s: float = 0.0  # the longest single write to the server

    @property
    def offered_ratio(self) -> float | None:
        """Bytes sent / bytes planned (None before anything fell due)."""
        return self.bytes_sent / self.planned_bytes if self.planned_bytes else None

    @property
    def late_p50_s(self) -> float:
        return late_quantile(self.late_hist, 0.5)

    @property
    def late_p99_s(self) -> float:
        return late_quantile(self.late_hist, 0.99)


@dataclass(frozen=True, slots=True)
class _Clip:
    template_path: Path
    payloads: tuple[bytes, ...]
    pts: tuple[int, ...]  # from 0, in time_base
    keyframes: tuple[bool, ...]
    key_positions: tuple[int, ...]  # indexes of keyframes
    time_base: Fraction
    duration: int  # one loop, in time_base
    prefix_bytes: tuple[int, ...]  # bytes of packets [0, k), k = 0..len

    def due_index(self, ticks: int) -> int:
        """Packets (counted over loops from packet 0 of loop 0) due at or before `ticks`."""
        loop, offset = divmod(ticks, self.duration)
        return loop * len(self.pts) + bisect.bisect_right(self.pts, offset)

    def bytes_before(self, index: int) -> int:
        """Bytes of the first `index` packets of the endless time line."""
        loop, k = divmod(index, len(self.pts))
        return loop * self.prefix_bytes[-1] + self.prefix_bytes[k]


def _load(path: Path) -> _Clip:
    with av.open(str(path)) as f:
        stream = f.streams.video[0]
        if stream.codec_context.name != "h264":
            raise MediaServerError(
                f"clip {path} holds {stream.codec_context.name!r} video; expected h264: "
                f"encode it with synthetic_streams.encode.encode_clip"
            )
        packets = [p for p in f.demux(stream) if p.size and p.pts is not None]
        if stream.time_base is None or stream.average_rate is None:
            raise MediaServerError(f"clip {path} has no time base or frame rate; expected an mp4")
        time_base = Fraction(stream.time_base)
        frame_ticks = round(1 / (time_base * Fraction(stream.average_rate)))
    if not packets or not packets[0].is_keyframe:
        raise MediaServerError(f"clip {path} does not start with a keyframe; expected H.264 GOPs")
    raw_pts = [int(p.pts) for p in packets if p.pts is not None]
    pts = tuple(t - raw_pts[0] for t in raw_pts)
    keys = tuple(bool(p.is_keyframe) for p in packets)
    payloads = tuple(bytes(p) for p in packets)
    prefix = [0]
    for b in payloads:
        prefix.append(prefix[-1] + len(b))
    return _Clip(
        path,
        payloads,
        pts,
        keys,
        tuple(i for i, k in enumerate(keys) if k),
        time_base,
        pts[-1] + (packets[-1].duration or frame_ticks),
        tuple(prefix),
    )


class RtspPublisher:
    """Publish ``clip_path`` to ``url`` (``rtsp://user:pass@host:port/path``) until stopped."""

    def __init__(
        self,
        clip_path: Path,
        url: str,
        *,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        name: str | None = None,
        origin_wall: float | None = None,
    ) -> None:
        """``origin_wall`` (``time.time()``): where clip time 0 of loop 0 sits on the wall clock.

        Default: the moment :meth:`run` starts. A publisher restarted with its predecessor's
        origin carries on the same time line, so the scene's ground truth stays valid.
        """
        self._clip = _load(Path(clip_path))
        self._origin_wall = origin_wall
        self._url = url
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._name = name or url.rsplit("/", 1)[-1]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._packets = self._bytes = self._loops = 0
        self._connects = self._failures = 0
        self._connected = False
        self._last_error: str | None = None
        self._planned = self._planned_bytes = 0  # of sessions ended
        self._up: tuple[float, int] | None = None  # (t0 monotonic, first index) if up
        self._late = [0] * (len(LATE_EDGES_S) + 1)
        self._late_max = self._write_max = 0.0

    # -- control ------------------------------------------------------------------------------
    def start(self) -> Self:
        """Start publishing in a daemon thread; returns at once."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"publish-{self._name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop publishing and wait for the thread (the RTSP session is torn down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise MediaServerError(
                    f"publisher {self._name!r} did not stop within {timeout_s} s; expected its "
                    f"socket I/O to time out after {_IO_TIMEOUT_S} s"
                )
            self._thread = None

    def stats(self) -> PublisherStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            planned, planned_bytes = self._planned, self._planned_bytes
            if self._up is not None:
                p, b = self._due_since(*self._up, time.monotonic())
                planned, planned_bytes = planned + p, planned_bytes + b
            return PublisherStats(
                self._packets,
                self._bytes,
                self._loops,
                self._connects,
                max(0, self._connects - 1),
                self._failures,
                self._connected,
                self._last_error,
                planned,
                planned_bytes,
                tuple(self._late),
                self._late_max,
                self._write_max,
            )

    def _due_since(self, t0: float, first: int, now: float) -> tuple[int, int]:
        """Packets and bytes due on the time line from index `first` up to `now`."""
        clip = self._clip
        upto = max(first, clip.due_index(int((now - t0) / clip.time_base)))
        return upto - first, clip.bytes_before(upto) - clip.bytes_before(first)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _describe(self, exc: BaseException) -> str:
        """The error as text, with the URL's password redacted (FFmpeg quotes the URL)."""
        return f"{type(exc).__name__}: {exc}".replace(self._url, redact_url(self._url))

    # -- the loop -----------------------------------------------------------------------------
    def run(self, max_s: float | None = None) -> None:
        """Publish in the calling thread until :meth:`stop` (or ``max_s`` seconds)."""
        t0 = time.monotonic()
        deadline = None if max_s is None else t0 + max_s
        if self._origin_wall is not None:
            t0 -= time.time() - self._origin_wall
        delay = self._backoff[0]
        while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                self._session(t0, deadline)
                delay = self._backoff[0]
            except (av.error.FFmpegError, OSError, MediaServerError) as exc:
                with self._lock:
                    self._failures += 1
                    self._connected = False
                    self._last_error = self._describe(exc)
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self._backoff[1])

    def _session(self, t0: float, deadline: float | None) -> None:
        """One RTSP session: connect, then send packets on schedule until stop or error."""
        clip = self._clip
        ticks_per_s = 1 / clip.time_base
        # Resume at the first keyframe at or after "now" on the continuous time line.
        now_ticks = int((time.monotonic() - t0) * ticks_per_s)
        loop, offset = divmod(now_ticks, clip.duration)
        at = bisect.bisect_left(clip.key_positions, bisect.bisect_left(clip.pts, offset))
        if at == len(clip.key_positions):
            loop, k = loop + 1, 0
        else:
            k = clip.key_positions[at]
        with (
            av.open(str(clip.template_path)) as template,
            av.open(
                self._url,
                "w",
                format="rtsp",
                options={"rtsp_transport": "tcp"},
                timeout=_IO_TIMEOUT_S,
            ) as out,
        ):
            stream = out.add_stream_from_template(template.streams.video[0])
            out.start_encoding()
            first = loop * len(clip.payloads) + k
            with self._lock:
                self._connects += 1
                self._connected = True
                # Due from the packet it resumes at (its due time is now or just after).
                self._up = (t0, first)
            try:
                while not self._stop.is_set():
                    ts = loop * clip.duration + clip.pts[k]
                    due = t0 + float(ts * clip.time_base)
                    if deadline is not None and due > deadline:
                        self._stop.set()
                        break
                    wait = due - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        break
                    packet = av.Packet(clip.payloads[k])
                    packet.pts = packet.dts = ts
                    packet.time_base = clip.time_base
                    packet.is_keyframe = clip.keyframes[k]
                    packet.stream = stream
                    before = time.monotonic()
                    out.mux_one(packet)
                    wrote = time.monotonic() - before
                    late = max(0.0, before - due)
                    with self._lock:
                        self._packets += 1
                        self._bytes += len(clip.payloads[k])
                        self._late[_late_bucket(late)] += 1
                        self._late_max = max(self._late_max, late)
                        self._write_max = max(self._write_max, wrote)
                    k += 1
                    if k == len(clip.payloads):
                        k, loop = 0, loop + 1
                        with self._lock:
                            self._loops += 1
            finally:
                with self._lock:
                    self._connected = False
                    if self._up is not None:  # what fell due while it was up
                        p, b = self._due_since(*self._up, time.monotonic())
                        self._planned += p
                        self._planned_bytes += b
                        self._up = None


def publish_for(clip_path: Path, url: str, duration_s: float) -> PublisherStats:
    """Publish for ``duration_s`` seconds in this thread, no retries; MediaServerError if refused.

    For tests and one-off checks: a refused login or path shows up as an exception naming the
    URL (without its password) and FFmpeg's error.
    """
    pub = RtspPublisher(clip_path, url)
    try:
        pub._session(time.monotonic(), time.monotonic() + duration_s)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaServerError(
            f"publishing to {redact_url(url)} failed: {pub._describe(exc)}; expected the "
            f"server to accept this user on this path: check the credentials and path"
        ) from exc
    return pub.stats()
