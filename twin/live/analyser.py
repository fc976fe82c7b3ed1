"""The analyser: read cameras as the `analyser` user, decode keyframes, detect, score.

Theory of operation. One thread per camera reads its RTSP stream (no probing, like the
recorder) and hands only keyframe packets to the decoder, at most one per
`min_interval_s`: keyframe-only decoding costs ~1 % of a core per 1280x720 stream where full
decoding would cost ~10x that. Each decoded frame is scaled to `width` and analysed by the
camera's :class:`~twin.live.analytics.CameraAnalytics`.

Ground truth. A camera's publisher puts clip time `t` of loop `n` on the air at wall time
`origin + n * D + t` (synthetic_streams.publish). A keyframe's own on-air time is its
timestamp plus the stream's wall-clock offset, taken from the least delayed packet of the
connection so far (no probing, so packets arrive live; a thread that reads a burst late, on a
loaded machine, would otherwise shift every frame of the session): a frame read late, because
the analyser is behind, keeps its true time. It shows clip time
`(on_air - origin) mod D`, snapped to the nearest keyframe of the clip (keyframes are every
`gop_frames` frames, so the snap is exact while transport delay stays under half a keyframe
interval). Its truth boxes are scored against the detections, and each incident of the clip
happens at `origin + n * D + start_s`: the alert latency is the wall time the alert was raised
minus that. An analyser more than `max_lag_s` behind drops keyframes to catch up (counted).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import av.error

from synthetic_streams.scene import SceneTruth
from twin.live.analytics import CameraAnalytics, Detection, iou, matched
from twin.live.recorder import RTSP_LIVE_OPTIONS

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CameraScore", "StreamClock", "StreamAnalyser", "Analyser", "MIN_VISIBLE", "score_frame"]


@dataclass
class CameraScore:
    """What one camera's analysis measured."""

    camera: str
    frames: int = 0
    frames_scored: int = 0
    tp: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    detections: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    truths: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    alerts: list[tuple[float, tuple[int, int, int, int]]] = field(default_factory=list)
    process_s: float = 0.0  # time spent in decode + analysis
    connects: int = 0
    failures: int = 0
    first_frame_s: float | None = None
    last_frame_s: float | None = None
    dropped_late: int = 0  # keyframes skipped because the analyser was behind

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "frames": self.frames,
            "frames_scored": self.frames_scored,
            "tp": dict(self.tp),
            "detections": dict(self.detections),
            "truths": dict(self.truths),
            "alerts": [(round(t, 3), b) for t, b in self.alerts],
            "process_s": round(self.process_s, 4),
            "connects": self.connects,
            "failures": self.failures,
            "first_frame_s": self.first_frame_s,
            "last_frame_s": self.last_frame_s,
            "dropped_late": self.dropped_late,
        }


class StreamClock:
    """A live stream's wall-clock offset (wall time minus stream time). A packet arrives live
    plus transport delay plus however late its reader gets to it (a loaded machine can leave
    a whole burst in the socket): the least delayed packet seen so far gives it best."""

    def __init__(self) -> None:
        self.offset: float | None = None

    def observe(self, now: float, stream_s: float) -> None:
        arrival = now - stream_s
        self.offset = arrival if self.offset is None else min(self.offset, arrival)

    def on_air(self, stream_s: float) -> float:
        if self.offset is None:
            raise ValueError("StreamClock.on_air before any packet was observed")
        return stream_s + self.offset


class StreamAnalyser:
    """One camera: read, decode keyframes, analyse, score (see the module docstring)."""

    def __init__(
        self,
        camera: str,
        url: str,
        truth: SceneTruth,
        origin_wall: float,
        epoch: float,
        gop_frames: int,
        width: int,
        min_interval_s: float,
    ) -> None:
        self.camera, self.url, self.truth = camera, url, truth
        self.origin, self.epoch = origin_wall, epoch
        cfg = truth.config
        self.fps, self.n_frames, self.gop = cfg.fps, cfg.frame_count, gop_frames
        self.clip_s = cfg.frame_count / cfg.fps
        self.width = width
        self.height = int(round(cfg.height * width / cfg.width / 2) * 2)
        self.scale = width / cfg.width
        self.min_interval_s = min_interval_s
        self.max_lag_s = 2.0
        self.analytics = CameraAnalytics(self.width, self.height)
        self.score = CameraScore(camera)
        self._min_area = self.width * self.height * 0.0015
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"an-{camera}", daemon=True)

    def start(self) -> StreamAnalyser:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> CameraScore:
        self._stop.set()
        self._thread.join(timeout_s)
        return self.score

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except (av.error.FFmpegError, OSError):
                self.score.failures += 1
            if self._stop.wait(0.5):
                break

    def _session(self) -> None:
        with av.open(self.url, options=RTSP_LIVE_OPTIONS, timeout=(5.0, 3.0)) as inp:
            stream = inp.streams.video[0]
            stream.codec_context.thread_count = 1
            # Deblocking skipped: ~20 % less decode time, invisible to blob-level analytics.
            stream.codec_context.options = {"skip_loop_filter": "all"}
            self.score.connects += 1
            if stream.time_base is None:  # counted as a failed connection, like a bad stream
                raise ConnectionError(f"{self.camera}: the RTSP stream has no time base")
            tb = float(stream.time_base)
            clock = StreamClock()
            last = -1e9
            for pkt in inp.demux(stream):
                if self._stop.is_set():
                    return
                if pkt.pts is None or not pkt.size:
                    continue
                now = time.time()
                clock.observe(now, pkt.pts * tb)
                if not pkt.is_keyframe:
                    continue
                # When the frame was on the air, not when this thread got round to reading it.
                on_air = clock.on_air(pkt.pts * tb)
                if on_air - last < self.min_interval_s:
                    continue
                if now - on_air > self.max_lag_s:
                    # Behind: drop stale frames to catch up, as a real-time analyser must.
                    self.score.dropped_late += 1
                    continue
                last = on_air
                t_cpu = time.thread_time()
                for frame in pkt.decode():
                    img = frame.to_ndarray(
                        width=self.width,
                        height=self.height,
                        format="bgr24",
                        interpolation="FAST_BILINEAR",
                    )
                    self._analyse(img, on_air, time.time())
                self.score.process_s += time.thread_time() - t_cpu

    def _analyse(self, img: np.ndarray, on_air: float, done: float) -> None:
        """Analyse a frame that was on the air at `on_air`; its alerts are raised at `done`."""
        s = self.score
        t_run = on_air - self.epoch
        s.frames += 1
        s.first_frame_s = t_run if s.first_frame_s is None else s.first_frame_s
        s.last_frame_s = t_run
        dets, alerts = self.analytics.process(img, t_run)
        s.alerts.extend((done - self.epoch, a.box) for a in alerts)
        if not self.analytics.warm:
            return
        clip_t = (on_air - self.origin) % self.clip_s
        index = int(round(clip_t * self.fps / self.gop)) * self.gop % self.n_frames
        score_frame(s, dets, self.truth, index, self.gop, self.scale, self._min_area)


#: Share of an object's box that must be inside the frame for it to be scored (Caltech's and
#: CityPersons' "reasonable" pedestrians are >= 65 % visible); the rest are ignored.
MIN_VISIBLE = 0.65


def score_frame(
    s: CameraScore,
    dets: list[Detection],
    truth: SceneTruth,
    index: int,
    gop: int,
    scale: float,
    min_area: float,
) -> None:
    """Score one analysed frame (clip frame `index`; the previous analysed frame was `gop`
    frames before) against the truth, into `s`. Used live and by bench/bench_accuracy.py."""
    n_frames = len(truth.frames)
    now = truth.frames[index]
    before = {o.object_id: o.bbox for o in truth.frames[(index - gop) % n_frames].objects}
    s.frames_scored += 1
    k = scale
    for cls in ("person", "vehicle"):
        # Motion-triggered detection is scored on what moved since the last analysed
        # frame; a vehicle that has stopped is the incident logic's job. An object mostly
        # outside the frame (under MIN_VISIBLE of it inside: the Caltech / CityPersons
        # "reasonable" rule) is ignored, as a still one is.
        scaled = [
            (
                (int(o.bbox.x0 * k), int(o.bbox.y0 * k), int(o.bbox.x1 * k), int(o.bbox.y1 * k)),
                before.get(o.object_id) != o.bbox and o.visible >= MIN_VISIBLE,
            )
            for o in now.objects
            if o.cls == cls
        ]
        boxes = [b for b, scored in scaled if scored and (b[2] - b[0]) * (b[3] - b[1]) >= min_area]
        ignored = [b for b, scored in scaled if not scored]
        # Detections are matched to the scored objects first; one left over that lies on an
        # ignored object is neither right nor wrong (don't care, as in the Caltech protocol).
        found = [d.box for d in dets if d.cls == cls]
        hits = matched(found, boxes)
        spare = [
            b
            for i, b in enumerate(found)
            if i not in hits and not any(iou(b, x) >= 0.3 for x in ignored)
        ]
        s.tp[cls] += len(hits)
        s.detections[cls] += len(hits) + len(spare)
        s.truths[cls] += len(boxes)


class Analyser:
    """Many cameras, one thread each; `stop()` returns every camera's score."""

    def __init__(
        self,
        urls: dict[str, str],
        scene_of: dict[str, int],
        truth_paths: list[str],
        epoch: float,
        gop_frames: int,
        width: int,
        min_interval_s: float,
    ) -> None:
        truths = [SceneTruth.from_json(Path(p).read_text()) for p in truth_paths]
        self.urls, self.scene_of, self.truths = urls, scene_of, truths
        self.epoch, self.gop, self.width = epoch, gop_frames, width
        self.min_interval_s = min_interval_s
        self._streams: dict[str, StreamAnalyser] = {}

    def start(self, origins_wall: dict[str, float], cameras: list[str] | None = None) -> None:
        """Start a thread for each of `cameras` (None: every camera given)."""
        for cam in sorted(self.urls if cameras is None else cameras):
            self._streams[cam] = StreamAnalyser(
                cam,
                self.urls[cam],
                self.truths[self.scene_of[cam]],
                origins_wall[cam],
                self.epoch,
                self.gop,
                self.width,
                self.min_interval_s,
            ).start()

    def scores(self) -> list[CameraScore]:
        return [s.score for s in self._streams.values()]

    def snapshot(self) -> list[dict[str, Any]]:
        """Every camera's score so far, while the threads run on."""
        out: list[dict[str, Any]] = []
        for s in self._streams.values():
            for _ in range(5):  # a thread may add a key while the dicts are copied
                try:
                    out.append(s.score.as_dict())
                    break
                except RuntimeError:
                    continue
        return out

    def stop(self) -> list[dict[str, Any]]:
        return [s.stop().as_dict() for s in self._streams.values()]
