"""Synthetic CCTV streams and the MediaMTX server they are published to.

Only synthetic video: scenes are drawn with numpy + OpenCV, never taken from real footage, and
the figures in them are faceless.

- :mod:`.scene` / :mod:`.figures`: seeded street scenes with per-frame ground truth;
- :mod:`.encode`: encode a scene once per profile to H.264 and cache the file;
- :mod:`.publish`: publish a clip over RTSP in real time, looping, reconnecting;
- :mod:`.reader`: read packets back (tests, checks);
- :mod:`.install`, :mod:`.mediamtx_config`, :mod:`.mediamtx`: MediaMTX built, configured, run.

Names are imported lazily, so ``python -m synthetic_streams.install`` does not load OpenCV,
PyAV or httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .encode import EncodedClip, EncodeProfile, clip_key, encode_clip, keyframe_indices
    from .install import install_mediamtx, mediamtx_binary
    from .mediamtx import MediaMTXServer, PathState
    from .mediamtx_config import (
        Credentials,
        Endpoints,
        Login,
        build_config,
        free_ports,
        make_credentials,
        render_config,
    )
    from .publish import PublisherStats, RtspPublisher, publish_for
    from .reader import ReadResult, read_packets, redact_url
    from .scene import BBox, FrameTruth, Incident, ObjectTruth, Scene, SceneConfig, SceneTruth

_EXPORTS = {
    "encode": ("EncodeProfile", "EncodedClip", "clip_key", "encode_clip", "keyframe_indices"),
    "install": ("install_mediamtx", "mediamtx_binary"),
    "mediamtx": ("MediaMTXServer", "PathState"),
    "mediamtx_config": (
        "Credentials",
        "Endpoints",
        "Login",
        "build_config",
        "free_ports",
        "make_credentials",
        "render_config",
    ),
    "publish": ("PublisherStats", "RtspPublisher", "publish_for"),
    "reader": ("ReadResult", "read_packets", "redact_url"),
    "scene": (
        "BBox",
        "FrameTruth",
        "Incident",
        "ObjectTruth",
        "Scene",
        "SceneConfig",
        "SceneTruth",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'synthetic_streams' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
