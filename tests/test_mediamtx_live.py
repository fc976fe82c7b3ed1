"""MediaMTX as the twin runs it: the real binary, on loopback, with per-role credentials.

The first block checks the generated configuration without a server; everything after it talks
to the real process (no mocks of MediaMTX).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable

import httpx
import pytest
import yaml

from synthetic_streams.mediamtx import MediaMTXServer
from synthetic_streams.mediamtx_config import (
    Endpoints,
    Login,
    build_config,
    make_credentials,
    render_config,
)
from synthetic_streams.publish import RtspPublisher, publish_for
from synthetic_streams.reader import read_packets
from twin.errors import MediaServerError


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


# -- configuration (no server) ----------------------------------------------------------------
def test_config_grants_each_role_exactly_its_rights() -> None:
    creds = make_credentials(["cam-1", "set2/cam-1"], token=iter(map(str, range(99))).__next__)
    config = yaml.safe_load(render_config(build_config(creds, Endpoints("127.0.0.1", 1, 2, 3))))
    rights = {u["user"]: (u["permissions"], u["ips"]) for u in config["authInternalUsers"]}
    assert rights == {
        "pub_cam_1": ([{"action": "publish", "path": "cam-1"}], []),
        "pub_set2_cam_1": ([{"action": "publish", "path": "set2/cam-1"}], []),
        "recorder": ([{"action": "read", "path": ""}, {"action": "playback", "path": ""}], []),
        "analyser": ([{"action": "read", "path": ""}], []),
        "admin": ([{"action": "api"}, {"action": "metrics"}], ["127.0.0.1"]),
    }
    assert config["authMethod"] == "internal"
    assert set(config["paths"]) == {"cam-1", "set2/cam-1"}
    assert {
        k: config[k] for k in ("rtmp", "hls", "webrtc", "srt", "pprof", "playback")
    } == dict.fromkeys(("rtmp", "hls", "webrtc", "srt", "pprof", "playback"), False)
    for key in ("rtspAddress", "apiAddress", "metricsAddress"):
        assert config[key].startswith("127.0.0.1:")


def test_passwords_are_fresh_and_never_in_repr() -> None:
    a, b = make_credentials(["cam-1"]), make_credentials(["cam-1"])
    assert a.recorder.password != b.recorder.password
    assert len(a.publisher("cam-1").password) == 32
    assert a.recorder.password not in repr(a) and "password" not in repr(Login("u", "secret"))


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ([], "at least one"),
        (["/cam"], "not a valid MediaMTX path"),
        (["a", "a"], "more than once"),
        (["a.b", "a-b"], "same publisher user"),
    ],
)
def test_bad_camera_paths_are_refused(paths: list[str], message: str) -> None:
    with pytest.raises(MediaServerError, match=message):
        make_credentials(paths)


# -- the real server --------------------------------------------------------------------------
@pytest.mark.live
def test_server_starts_and_api_answers_only_the_admin(mediamtx_server: MediaMTXServer) -> None:
    server = mediamtx_server
    assert server.pid is not None and server.managed
    assert [p.name for p in server.paths()][:2] == ["cam-01", "cam-02"]
    ep = server.endpoints
    # MediaMTX answers a failed login only after a 2 s delay (against guessing): give it room.
    assert httpx.get(ep.api_url + "/v3/paths/list", timeout=10).status_code == 401
    assert httpx.get(ep.metrics_url, timeout=10).status_code == 401
    r = server.credentials.recorder
    assert httpx.get(ep.metrics_url, auth=(r.user, r.password), timeout=10).status_code == 401
    assert server.log_path is not None
    config_mode = stat.S_IMODE((server.log_path.parent / "mediamtx.yml").stat().st_mode)
    assert config_mode == 0o600


@pytest.mark.live
@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("wrong password", "cam-01"),
        ("camera A on camera B's path", "cam-02"),
        ("recorder", "cam-01"),
        ("analyser", "cam-01"),
    ],
)
def test_publishing_is_refused(
    mediamtx_server: MediaMTXServer, live_clip, who: str, path: str
) -> None:
    server, creds = mediamtx_server, mediamtx_server.credentials
    login = {
        "wrong password": Login(creds.publisher("cam-01").user, "not-the-password"),
        "camera A on camera B's path": creds.publisher("cam-01"),
        "recorder": creds.recorder,
        "analyser": creds.analyser,
    }[who]
    with pytest.raises(MediaServerError, match="401 Unauthorized") as info:
        publish_for(live_clip.path, server.endpoints.rtsp_url(path, login), 1.0)
    assert login.password not in str(info.value)
    assert not next(p for p in server.paths() if p.name == path).ready


@pytest.mark.live
def test_publishing_to_an_unconfigured_path_is_refused(mediamtx_server, live_clip) -> None:
    url = mediamtx_server.endpoints.rtsp_url(
        "not-a-camera", mediamtx_server.credentials.publisher("cam-01")
    )
    with pytest.raises(MediaServerError, match="400 Bad Request"):
        publish_for(live_clip.path, url, 1.0)


@pytest.mark.live
def test_recorder_reads_h264_and_metrics_count_the_bytes(mediamtx_server, live_clip) -> None:
    server = mediamtx_server
    with RtspPublisher(live_clip.path, server.rtsp_url("cam-03", "publisher")) as pub:
        wait_until(
            lambda: next(p for p in server.paths() if p.name == "cam-03").ready,
            what="cam-03 to be ready",
        )
        got = read_packets(server.rtsp_url("cam-03", "recorder"), 20)
        assert (got.codec, got.width, got.height, got.packets) == ("h264", 640, 360, 20)
        assert got.keyframes >= 1 and got.pts_monotonic
        state = next(p for p in server.paths() if p.name == "cam-03")
        assert state.tracks == ("H264",) and state.source_type == "rtspSession"
        metrics = server.metrics()
        assert {"labels": {"name": "cam-03", "state": "ready"}, "value": 1.0} in metrics["paths"]
        assert server.metric("paths_bytes_received", name="cam-03") > 0.5 * pub.stats().bytes_sent
        assert server.metric("paths_bytes_sent", name="cam-03") >= got.bytes
    wait_until(
        lambda: not next(p for p in server.paths() if p.name == "cam-03").ready,
        what="cam-03 to be torn down after the publisher stopped",
    )


@pytest.mark.live
def test_stop_leaves_no_process_and_frees_the_ports(mediamtx_binary_path) -> None:
    server = MediaMTXServer(["cam-x"], binary=mediamtx_binary_path).start()
    pid, ep, run_dir = server.pid, server.endpoints, server.log_path.parent
    assert pid is not None and os.path.exists(f"/proc/{pid}")
    server.close()
    assert server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie: the PID is gone
    with pytest.raises(httpx.ConnectError):
        httpx.get(ep.api_url + "/v3/paths/list", timeout=1)
    assert not run_dir.exists()
    server.stop()  # idempotent


@pytest.mark.live
def test_external_server_is_used_but_never_started_or_stopped(mediamtx_server) -> None:
    ext = MediaMTXServer.external(mediamtx_server.endpoints, mediamtx_server.credentials)
    with ext:
        assert not ext.managed and ext.pid is None
        assert [p.name for p in ext.paths()] == [p.name for p in mediamtx_server.paths()]
    assert mediamtx_server.pid is not None  # still running after the external handle closed
    with pytest.raises(MediaServerError, match="restart the external one yourself"):
        ext.restart()
    wrong = MediaMTXServer.external(
        mediamtx_server.endpoints, make_credentials(["cam-01"]), start_timeout_s=0.5
    )
    with pytest.raises(MediaServerError, match="answered HTTP 401 to user 'admin'.*do not match"):
        wrong.start()
