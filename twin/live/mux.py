"""How a live recorder writes its segment files: the container's extension and muxer options.

Kept apart from twin/live/recorder.py (which loads PyAV) so that `twin calibrate` can read the
recorder's fragment length, what a crash costs at most, without importing the recorder.
"""

from __future__ import annotations

__all__ = ["EXT", "MUX_OPTIONS", "MP4_FRAGMENT_S", "fragment_s"]

#: File extension of a segment, by container.
EXT = {"mp4": "mp4", "mpegts": "ts"}
#: Fragmented MP4, a fragment at every keyframe and at least every 0.2 s (frag_duration, in
#: microseconds), each flushed to the file as it is cut: a process killed mid-segment leaves a
#: file that plays up to its last whole fragment, so a crash costs at most 0.2 s of what the
#: recorder had received. MPEG-TS is flushed packet by packet.
MUX_OPTIONS = {
    "mp4": {
        "movflags": "frag_keyframe+empty_moov+default_base_moof",
        "frag_duration": "200000",
        "flush_packets": "1",
    },
    "mpegts": {"flush_packets": "1"},
}
MP4_FRAGMENT_S = int(MUX_OPTIONS["mp4"]["frag_duration"]) / 1e6


def fragment_s(container: str, fps: float) -> float:
    """The most footage a crash can cut off a segment under way, by its container: the MP4
    fragment's longest duration, or one frame of MPEG-TS (written packet by packet)."""
    if container == "mp4":
        return MP4_FRAGMENT_S
    if container == "mpegts":
        return 1.0 / fps
    raise ValueError(f"container {container!r}; expected one of {sorted(EXT)}")
