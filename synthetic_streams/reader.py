"""A small RTSP reader for tests and checks: open a stream, read N packets, report them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import pairwise

import av
import av.error

from synthetic_streams.errors import MediaServerError

__all__ = ["ReadResult", "read_packets", "redact_url"]


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What :func:`read_packets` saw of a stream's video."""

    codec: str
    width: int
    height: int
    packets: int
    keyframes: int
    bytes: int
    pts_s: tuple[float, ...]  # presentation times of the packets read, in seconds

    @property
    def pts_monotonic(self) -> bool:
        """True when every packet's timestamp is later than the one before."""
        return all(b > a for a, b in pairwise(self.pts_s))


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def read_packets(url: str, count: int, timeout_s: float = 10.0) -> ReadResult:
    """Read ``count`` video packets from ``url`` over RTSP/TCP.

    Raises MediaServerError (URL redacted) if the stream cannot be opened or read in time.
    """
    deadline = time.monotonic() + timeout_s
    try:
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=timeout_s) as f:
            stream = f.streams.video[0]
            n = keys = size = 0
            pts: list[float] = []
            for packet in f.demux(stream):
                if not packet.size:
                    continue
                n += 1
                keys += bool(packet.is_keyframe)
                size += packet.size
                if packet.pts is not None and packet.time_base is not None:
                    pts.append(float(packet.pts * packet.time_base))
                if n >= count or time.monotonic() > deadline:
                    break
            ctx = stream.codec_context
            result = ReadResult(ctx.name, ctx.width, ctx.height, n, keys, size, tuple(pts))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaServerError(
            f"reading {redact_url(url)} failed: {type(exc).__name__}: "
            f"{str(exc).replace(url, redact_url(url))}; expected a published stream this user "
            f"may read: check the path, the credentials and that a publisher is running"
        ) from exc
    if n < count:
        raise MediaServerError(
            f"read only {n} of {count} packets from {redact_url(url)} in {timeout_s} s; "
            f"expected a live stream: check the publisher"
        )
    return result
