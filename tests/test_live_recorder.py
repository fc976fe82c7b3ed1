"""The recorder against the real MediaMTX (no Ray): segment files by stream copy, cut on
keyframes, that ffprobe opens; back-to-back coverage; a server restart leaves one gap that ends
when the stream is back."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from synthetic_streams.mediamtx import MediaMTXServer
from synthetic_streams.publish import RtspPublisher
from twin.live.measure import GAP_TOLERANCE_S, check_files
from twin.live.recorder import Recorder
from twin.storage.live_catalog import LiveStore

pytestmark = pytest.mark.live

SEGMENT_S = 2.0


def ffprobe(path: Path) -> dict:
    """ffprobe's view of a file (fails the test if ffprobe refuses it)."""
    exe = shutil.which("ffprobe")
    assert exe, "ffprobe is missing: run `make tools` (apt-get install -y ffmpeg)"
    out = subprocess.run(
        [
            exe,
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,width,height",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and not out.stderr.strip(), f"ffprobe {path}: {out.stderr}"
    return json.loads(out.stdout)


def _wait(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.1)


def test_recorder_writes_keyframe_cut_segments_that_cover_the_stream_and_survive_a_restart(
    mediamtx_binary_path: Path, live_clip, tmp_path: Path
) -> None:
    cams = ["lr-a", "lr-b"]
    with MediaMTXServer(cams, binary=mediamtx_binary_path) as server:
        pubs = [
            RtspPublisher(
                live_clip.path,
                server.rtsp_url(c, "publisher"),
                backoff_initial_s=0.1,
                backoff_max_s=0.5,
            ).start()
            for c in cams
        ]
        try:
            _wait(lambda: all(p.ready for p in server.paths()), 10, "both paths on the air")
            epoch = time.time()
            rec = Recorder(
                "r1",
                tmp_path / "seg" / "r1",
                tmp_path / "cat.sqlite",
                epoch,
                SEGMENT_S,
                fps=15,
                container="mp4",
                reconnect_max_s=0.5,
            )
            rec.record({c: server.rtsp_url(c, "recorder") for c in cams})
            time.sleep(7)
            fault_s = time.time() - epoch
            server.restart()
            _wait(lambda: all(p.ready for p in server.paths()), 15, "publishers back")
            time.sleep(5)
            status = rec.stop()
        finally:
            for p in pubs:
                p.stop()
    rows = LiveStore(tmp_path / "cat.sqlite").rows()
    assert {s.camera for s in status.streams} == set(cams)
    for cam in cams:
        segs = sorted((r for r in rows if r.camera == cam), key=lambda r: r.start_s)
        assert len(segs) >= 5
        gaps = [
            (a.end_s, b.start_s)
            for a, b in zip(segs, segs[1:])
            if b.start_s - a.end_s > GAP_TOLERANCE_S
        ]
        # One gap, around the restart, and it ends within a few seconds of it.
        assert len(gaps) == 1, gaps
        ((g0, g1),) = gaps
        assert g0 <= fault_s + 2.0 and g1 >= fault_s and g1 - fault_s < 8.0
        for r in segs:
            info = ffprobe(tmp_path / "seg" / "r1" / r.key)
            stream = info["streams"][0]
            assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 360)
            assert int(stream["nb_read_packets"]) == r.packets
            assert float(info["format"]["duration"]) == pytest.approx(r.end_s - r.start_s, abs=0.1)
        # Whole segments are cut on the first keyframe after segment_s (1 s GOP: exactly 2 s).
        full = [r.end_s - r.start_s for r in segs[1:-1] if r.end_s - r.start_s > 1.5]
        assert full and all(d == pytest.approx(SEGMENT_S, abs=1e-3) for d in full)
    assert check_files(tmp_path / "seg", rows) == {
        "stored": len(rows),
        "missing": 0,
        "wrong_size": 0,
        "unreadable": 0,
        "deleted_but_present": 0,
        "orphans": 0,
        "partials": 0,
    }
