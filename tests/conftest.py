"""Shared fixtures for live tests: one real MediaMTX server per session, and a small clip.

A missing MediaMTX binary is a failure, not a skip: live tests are part of `make test`, which
builds the binary first (`make mediamtx`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Keys never come from the user's own ~/.config in tests: one audit key and one key folder per
# test session, outside every run folder (set before Ray starts, so its workers inherit them).
_KEYS = Path(tempfile.mkdtemp(prefix="cctv-twin-test-keys-"))
os.environ["CCTV_TWIN_AUDIT_KEY"] = str(_KEYS / "audit.key")
os.environ["CCTV_TWIN_KEY_DIR"] = str(_KEYS / "officers")
os.environ.pop("CCTV_TWIN_OFFICER_KEY", None)

#: Camera paths the session server knows; give each test its own so tests stay independent.
LIVE_CAMERA_PATHS = tuple(f"cam-{i:02d}" for i in range(1, 9))


@pytest.fixture(scope="session")
def mediamtx_binary_path() -> Path:
    """The MediaMTX binary; fails (never skips) with the fix when it is missing."""
    from synthetic_streams.errors import MediaServerError
    from synthetic_streams.install import mediamtx_binary

    try:
        return mediamtx_binary()
    except MediaServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mediamtx_server(mediamtx_binary_path: Path) -> Iterator[object]:
    """A running MediaMTX (on free loopback ports) with the paths in LIVE_CAMERA_PATHS."""
    from synthetic_streams.mediamtx import MediaMTXServer

    with MediaMTXServer(LIVE_CAMERA_PATHS, binary=mediamtx_binary_path) as server:
        yield server


@pytest.fixture(scope="session")
def live_clip(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A 4 s, 640x360, 15 fps, 0.5 Mbps H.264 clip with a keyframe every 15 frames."""
    from synthetic_streams.encode import EncodeProfile, encode_clip
    from synthetic_streams.scene import SceneConfig

    profile = EncodeProfile(width=640, height=360, fps=15, bitrate_mbps=0.5, gop_frames=15)
    scene = SceneConfig("cam-live", width=640, height=360, fps=15, duration_s=4.0, seed=11)
    return encode_clip(profile, scene, cache_dir=tmp_path_factory.mktemp("clips"))
