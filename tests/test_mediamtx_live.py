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

from synthetic_streams.errors import MediaServerError
from synthetic_streams.mediamtx import MediaMTXServer
from synthetic_streams.mediamtx_config import (
    Endpoints,
    Login,
    build_config,
    hashed_credential,
    make_credentials,
    render_config,
)
from synthetic_streams.publish import RtspPublisher, publish_for
from synthetic_streams.reader import read_packets


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


def test_config_stores_only_password_hashes_and_no_takeover() -> None:
    creds = make_credentials(["cam-1", "cam-2"])
    text = render_config(build_config(creds, Endpoints("127.0.0.1", 1, 2, 3)))
    logins = [login for _, login in creds.publishers] + [
        creds.recorder,
        creds.analyser,
        creds.admin,
    ]
    assert not [login.user for login in logins if login.password in text]
    users = {u["user"]: u["pass"] for u in yaml.safe_load(text)["authInternalUsers"]}
    assert users == {login.user: hashed_credential(login.password) for login in logins}
    # MediaMTX's own test vector (internal/auth/manager_test.go): "testpass".
    assert hashed_credential("testpass") == "sha256:E9JJ8stBJ7QM+nV4ZoUCeHk/gU3tPFh/5YieiJp6n2w="
    assert yaml.safe_load(text)["pathDefaults"]["overridePublisher"] is False


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
    # The configuration was read at start-up and is gone; its folder is the owner's alone.
    assert not (server.log_path.parent / "mediamtx.yml").exists()
    assert stat.S_IMODE(server.log_path.parent.stat().st_mode) == 0o700


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


@pytest.mark.live
def test_a_second_publisher_with_the_cameras_own_login_is_refused_while_the_first_is_live(
    mediamtx_server, live_clip
) -> None:
    server = mediamtx_server
    url = server.rtsp_url("cam-05", "publisher")
    with RtspPublisher(live_clip.path, url) as first:
        wait_until(
            lambda: next(p for p in server.paths() if p.name == "cam-05").ready,
            what="cam-05 to be ready",
        )
        before = next(p for p in server.paths() if p.name == "cam-05").bytes_received
        with pytest.raises(MediaServerError, match="failed") as info:
            publish_for(live_clip.path, url, 1.0)  # the very same login and path
        assert server.credentials.publisher("cam-05").password not in str(info.value)
        # FFmpeg only sees the refused ANNOUNCE as bad data; the server says why.
        wait_until(
            lambda: "someone is already publishing to path 'cam-05'" in server.log_tail(200),
            what="the server's reason for refusing the second publisher",
        )
        # The first publisher still feeds the path, and is the path's only source.
        wait_until(
            lambda: next(p for p in server.paths() if p.name == "cam-05").bytes_received > before,
            what="cam-05 to keep receiving from the first publisher",
        )
        assert first.stats().bytes_sent > 0
        state = next(p for p in server.paths() if p.name == "cam-05")
        assert state.ready and state.source_type == "rtspSession"


@pytest.mark.live
def test_the_admin_api_shows_no_password(mediamtx_server) -> None:
    server = mediamtx_server
    a = server.credentials.admin
    r = httpx.get(
        server.endpoints.api_url + "/v3/config/global/get", auth=(a.user, a.password), timeout=10
    )
    assert r.status_code == 200
    c = server.credentials
    logins = [login for _, login in c.publishers] + [c.recorder, c.analyser, c.admin]
    assert not [login.user for login in logins if login.password in r.text]
    passes = {u["user"]: u["pass"] for u in r.json()["authInternalUsers"]}
    assert passes == {login.user: hashed_credential(login.password) for login in logins}


_DRIVER = """
import sys, time
from pathlib import Path
from synthetic_streams.mediamtx import MediaMTXServer
s = MediaMTXServer(["cam-k"], binary=Path(sys.argv[1])).start()
print(s.log_path.parent, s.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.live
def test_a_killed_drivers_server_folder_holds_no_config_and_goes_on_the_next_start(
    mediamtx_binary_path,
) -> None:
    import contextlib
    import signal
    import subprocess
    import sys
    from pathlib import Path

    driver = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(mediamtx_binary_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert driver.stdout is not None
    folder, mtx_pid = driver.stdout.readline().split()
    try:
        os.kill(driver.pid, signal.SIGKILL)  # no finally, no atexit, no finalizer runs
        driver.wait(timeout=10)
    finally:
        # The server it had started dies with it (PR_SET_PDEATHSIG); if not, end it by PID.
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(mtx_pid), signal.SIGTERM)
    left = Path(folder)
    assert left.is_dir() and not (left / "mediamtx.yml").exists()
    with MediaMTXServer(["cam-y"], binary=mediamtx_binary_path):
        assert not left.exists()
