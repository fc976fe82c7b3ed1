"""Encode a synthetic scene to H.264 once, and reuse the file.

Live x264 encoding costs 5-10 % of a core per stream, which would make the encoder, not the
system under test, the bottleneck of a live run. So a clip is encoded once per (encode profile,
scene) with PyAV/libx264 into ``.cache/clips/<key>.mp4`` (the key is a hash of both), next to
``<key>.truth.json`` (the scene's ground truth), and publishers only copy its packets.

The encoder is set up like a CCTV camera: a fixed GOP (``keyint = min-keyint = gop_frames``,
no scene-cut keyframes) so recorders can cut segments at predictable keyframes, no B-frames
(so decode order is presentation order and DTS = PTS), and a VBV cap so the bitrate stays near
``bitrate_mbps`` instead of following the scene.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from .scene import Scene, SceneConfig, SceneTruth

__all__ = ["EncodeProfile", "EncodedClip", "clip_key", "encode_clip", "keyframe_indices"]

#: Bump when the renderer or encoder settings change, so cached clips are re-encoded.
RENDER_VERSION = 3  # 2: the truth says how much of each object the frame shows
_DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "clips"


@dataclass(frozen=True, slots=True)
class EncodeProfile:
    """How a camera encodes: resolution, frame rate, bitrate and keyframe interval."""

    width: int = 1280
    height: int = 720
    fps: int = 15
    bitrate_mbps: float = 1.0
    gop_frames: int = 30  # keyframe interval, in frames
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.bitrate_mbps <= 0 or self.gop_frames < 1:
            raise ValueError(
                f"EncodeProfile bitrate_mbps={self.bitrate_mbps!r}, gop_frames="
                f"{self.gop_frames!r}; expected bitrate_mbps > 0 and gop_frames >= 1"
            )


@dataclass(frozen=True, slots=True)
class EncodedClip:
    """An encoded clip on disk and what it holds."""

    path: Path
    truth_path: Path
    profile: EncodeProfile
    scene: SceneConfig
    frame_count: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.profile.fps

    def truth(self) -> SceneTruth:
        """The ground truth stored next to the clip."""
        return SceneTruth.from_json(self.truth_path.read_text())


def clip_key(profile: EncodeProfile, scene: SceneConfig) -> str:
    """Stable hash of everything that determines the clip's bytes (and RENDER_VERSION)."""
    blob = json.dumps(
        {"v": RENDER_VERSION, "profile": asdict(profile), "scene": asdict(scene)},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _check_match(profile: EncodeProfile, scene: SceneConfig) -> None:
    for name in ("width", "height", "fps"):
        if getattr(profile, name) != getattr(scene, name):
            raise ValueError(
                f"EncodeProfile.{name}={getattr(profile, name)!r} but SceneConfig.{name}="
                f"{getattr(scene, name)!r}; expected equal: build the scene from the profile"
            )


def encode_clip(
    profile: EncodeProfile, scene: SceneConfig, cache_dir: Path | None = None
) -> EncodedClip:
    """The clip of ``scene`` encoded with ``profile``: from the cache, or encoded now.

    Writes go to a temporary name and are renamed into place, so concurrent callers (tests
    side by side, several actors) never see half a file.
    """
    _check_match(profile, scene)
    cache = cache_dir or _DEFAULT_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    key = clip_key(profile, scene)
    path, truth_path = cache / f"{key}.mp4", cache / f"{key}.truth.json"
    clip = EncodedClip(path, truth_path, profile, scene, scene.frame_count)
    if path.exists() and truth_path.exists():
        return clip
    sc = Scene(scene)
    tmp_truth = truth_path.with_name(f"{truth_path.name}.{os.getpid()}.tmp")
    tmp_truth.write_text(sc.ground_truth.to_json())
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.mp4")
    kbps = int(profile.bitrate_mbps * 1000)
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=profile.fps)
        stream.width, stream.height, stream.pix_fmt = profile.width, profile.height, "yuv420p"
        stream.bit_rate = kbps * 1000
        stream.options = {
            "preset": profile.preset,
            "x264-params": (
                f"keyint={profile.gop_frames}:min-keyint={profile.gop_frames}:scenecut=0:"
                f"bframes=0:vbv-maxrate={kbps}:vbv-bufsize={kbps}"
            ),
        }
        for i in range(scene.frame_count):
            frame = av.VideoFrame.from_ndarray(sc.frame(i), format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp_truth.replace(truth_path)
    tmp.replace(path)
    return clip


def keyframe_indices(path: Path) -> list[int]:
    """Indexes (in decode order) of the keyframe packets of the video in ``path``."""
    with av.open(str(path)) as f:
        packets = [p for p in f.demux(f.streams.video[0]) if p.size]
    return [i for i, p in enumerate(packets) if p.is_keyframe]
