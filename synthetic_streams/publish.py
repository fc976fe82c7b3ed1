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

__all__ = ["PublisherStats", "RtspPublisher", "publish_for"]

_IO_TIMEOUT_S = 5.0


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


@dataclass(frozen=True, slots=True)
class _Clip:
    template_path: Path
    payloads: tuple[bytes, ...]
    pts: tuple[int, ...]  # from 0, in time_base
    keyframes: tuple[bool, ...]
    key_positions: tuple[int, ...]  # indexes of keyframes
    time_base: Fraction
    duration: int  # one loop, in time_base


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
    return _Clip(
        path,
        tuple(bytes(p) for p in packets),
        pts,
        keys,
        tuple(i for i, k in enumerate(keys) if k),
        time_base,
        pts[-1] + (packets[-1].duration or frame_ticks),
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
            return PublisherStats(
                self._packets,
                self._bytes,
                self._loops,
                self._connects,
                max(0, self._connects - 1),
                self._failures,
                self._connected,
                self._last_error,
            )

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
            with self._lock:
                self._connects += 1
                self._connected = True
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
                    out.mux_one(packet)
                    with self._lock:
                        self._packets += 1
                        self._bytes += len(clip.payloads[k])
                    k += 1
                    if k == len(clip.payloads):
                        k, loop = 0, loop + 1
                        with self._lock:
                            self._loops += 1
            finally:
                with self._lock:
                    self._connected = False


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
