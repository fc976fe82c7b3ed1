"""The RTSP publisher against the real MediaMTX: real-time pacing, continuous timestamps across
loops, and reconnection when the server restarts (the "restart MediaMTX" drill)."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from synthetic_streams.encode import EncodeProfile, encode_clip
from synthetic_streams.mediamtx import MediaMTXServer
from synthetic_streams.publish import RtspPublisher
from synthetic_streams.reader import read_packets
from synthetic_streams.scene import SceneConfig

pytestmark = pytest.mark.live


def _ready(server: MediaMTXServer, path: str) -> bool:
    return any(p.name == path and p.ready for p in server.paths())


def _wait(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.1)


def test_timestamps_stay_continuous_across_loops(mediamtx_server, tmp_path) -> None:
    profile = EncodeProfile(width=320, height=180, fps=15, bitrate_mbps=0.2, gop_frames=15)
    clip = encode_clip(
        profile,
        SceneConfig("cam-loop", width=320, height=180, fps=15, duration_s=1.0, seed=3),
        cache_dir=tmp_path,
    )
    server = mediamtx_server
    with RtspPublisher(clip.path, server.rtsp_url("cam-05", "publisher")) as pub:
        _wait(lambda: _ready(server, "cam-05"), 10, "cam-05 to be ready")
        started = time.monotonic()
        got = read_packets(server.rtsp_url("cam-05", "analyser"), 40)  # 2.7 loops of 15
        elapsed = time.monotonic() - started
        stats = pub.stats()
    steps = [round(b - a, 4) for a, b in pairwise(got.pts_s)]
    assert set(steps) == {round(1 / 15, 4)}, f"uneven or backward steps across loops: {steps}"
    assert stats.loops >= 2 and stats.failures == 0 and stats.last_error is None
    assert 2.0 < elapsed < 4.5  # real time: 40 frames at 15 fps take ~2.7 s, not less
    assert not pub.stats().connected  # stopped: the session is torn down


def test_publisher_reconnects_after_server_restart(mediamtx_binary_path, live_clip) -> None:
    with MediaMTXServer(["cam-r"], binary=mediamtx_binary_path) as server:
        pub = RtspPublisher(
            live_clip.path,
            server.rtsp_url("cam-r", "publisher"),
            backoff_initial_s=0.1,
            backoff_max_s=0.5,
        ).start()
        try:
            _wait(lambda: _ready(server, "cam-r"), 10, "cam-r to be ready")
            old_pid, old_url = server.pid, server.rtsp_url("cam-r")
            server.restart()
            assert server.pid != old_pid and server.rtsp_url("cam-r") == old_url
            _wait(
                lambda: pub.stats().reconnects >= 1 and _ready(server, "cam-r"),
                15,
                "the publisher to reconnect",
            )
            got = read_packets(server.rtsp_url("cam-r", "recorder"), 10)
            assert got.codec == "h264" and got.keyframes >= 1
            stats = pub.stats()
            assert stats.failures >= 1 and "***" in (stats.last_error or "***")
            password = server.credentials.publisher("cam-r").password
            assert password not in (stats.last_error or "")
        finally:
            pub.stop()


def test_publisher_keeps_retrying_while_the_server_is_down(mediamtx_binary_path, live_clip) -> None:
    with MediaMTXServer(["cam-d"], binary=mediamtx_binary_path) as server:
        url = server.rtsp_url("cam-d", "publisher")
        server.stop()
        with RtspPublisher(live_clip.path, url, backoff_initial_s=0.05, backoff_max_s=0.2) as pub:
            _wait(lambda: pub.stats().failures >= 3, 10, "three failed attempts")
            assert pub.stats().packets_sent == 0 and not pub.stats().connected
            server.start()
            _wait(lambda: _ready(server, "cam-d"), 10, "cam-d to come back")
            assert pub.stats().connects == 1
