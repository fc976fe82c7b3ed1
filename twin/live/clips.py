"""The clips a live run publishes: a few distinct scenes, encoded once per profile, cached.

Live x264 per stream would cost 5-10 % of a core each; encoding `profile.scenes` clips once
(cached in .cache/clips by synthetic_streams.encode) and looping them costs nothing per camera.
Camera k shows scene k mod scenes; its ground truth is that scene's truth.
"""

from __future__ import annotations

from pathlib import Path

from synthetic_streams.encode import EncodedClip, EncodeProfile, encode_clip
from synthetic_streams.scene import SceneConfig
from twin.scenario.live import LiveProfile

__all__ = ["scene_configs", "prepare_clips"]


def scene_configs(profile: LiveProfile, seed: int) -> list[SceneConfig]:
    """The SceneConfig of each distinct scene (seeded from the scenario's seed)."""
    return [
        SceneConfig(
            camera_id=f"scene-{k}",
            width=profile.width,
            height=profile.height,
            fps=profile.fps,
            duration_s=profile.clip_s,
            seed=seed * 100 + k,
            people=profile.people,
            vehicles=profile.vehicles,
            collision_at_s=profile.collision_at_s,
            night_depth=profile.night_depth,
        )
        for k in range(profile.scenes)
    ]


def prepare_clips(
    profile: LiveProfile, seed: int, cache_dir: Path | None = None
) -> list[EncodedClip]:
    """Encode (or take from the cache) every scene; returns their EncodedClip, in scene order."""
    enc = EncodeProfile(
        width=profile.width,
        height=profile.height,
        fps=profile.fps,
        bitrate_mbps=profile.bitrate_mbps,
        gop_frames=profile.gop_frames,
    )
    return [encode_clip(enc, sc, cache_dir) for sc in scene_configs(profile, seed)]
