"""Analytics on numpy frames: motion -> people / vehicles -> incidents, and scoring against truth.

Theory of operation. Sans-IO: frames (BGR uint8) and their times come in, detections and
alerts go out; no clock, no files. One :class:`CameraAnalytics` per camera:

1. Motion: OpenCV MOG2 background subtraction on a grey, blurred frame; the foreground mask
   is cleaned (open, close) and split into blobs (contours).
2. People and vehicles: a tall blob is a person if OpenCV's default HOG people detector fires
   on the blob's neighbourhood; a wide blob of vehicle size is a vehicle (OpenCV ships no
   vehicle model; on these synthetic streets the shape is a fair test, and the scoring says
   how fair).
3. Incidents: a vehicle blob that stays put (IoU >= `stay_iou` with a vehicle blob of the
   previous analysed frame) and shows the detail of a vehicle (edge density: an uncovered
   patch of road, a MOG2 "ghost", is flat) is a stopped vehicle; the first time a region is
   seen stopped it raises one alert, and the region stays alerted while it is seen.

Scoring (:func:`match`): detections against the generator's truth boxes of the same class,
greedy by IoU >= 0.3. Built to run at keyframe rate (~1 frame/s per camera): MOG2 and the
blob logic cost ~1 ms per 640x360 frame, HOG runs only on person-shaped blobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Box", "Detection", "Alert", "CameraAnalytics", "iou", "match"]

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels of the analysed frame


@dataclass(frozen=True, slots=True)
class Detection:
    cls: str  # "person" | "vehicle"
    box: Box


@dataclass(frozen=True, slots=True)
class Alert:
    """A stopped vehicle seen at `t_s` in `box` (an incident to look at)."""

    t_s: float
    box: Box


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(dets: list[Box], truth: list[Box], min_iou: float = 0.3) -> int:
    """True positives: greedy one-to-one matching by IoU (best pairs first)."""
    pairs = sorted(((iou(d, t), i, j) for i, d in enumerate(dets) for j, t in enumerate(truth)),
                   reverse=True)
    used_d: set[int] = set()
    used_t: set[int] = set()
    tp = 0
    for v, i, j in pairs:
        if v < min_iou:
            break
        if i in used_d or j in used_t:
            continue
        used_d.add(i)
        used_t.add(j)
        tp += 1
    return tp


_HOG: cv2.HOGDescriptor | None = None


def _hog() -> cv2.HOGDescriptor:
    global _HOG
    if _HOG is None:
        _HOG = cv2.HOGDescriptor()
        _HOG.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return _HOG


class CameraAnalytics:
    """Per-camera state: the background model and the stopped-vehicle regions."""

    def __init__(self, width: int, height: int, *, stay_iou: float = 0.6,
                 edge_density_min: float = 0.04, warmup_frames: int = 3,
                 learning_rate: float = 0.02, var_threshold: float = 16.0,
                 merge_px: int = 9) -> None:
        self.width, self.height = width, height
        # An explicit learning rate: MOG2's own (1/history, faster while it warms up) folds a
        # stopped vehicle into the background within a few frames at keyframe rate.
        self.mog = cv2.createBackgroundSubtractorMOG2(history=100, varThreshold=var_threshold,
                                                      detectShadows=False)
        self.learning_rate = learning_rate
        self.min_area = (width * height) * 0.0015
        self.vehicle_area = (width * height) * 0.01
        self.stay_iou = stay_iou
        self.edge_density_min = edge_density_min
        self.warmup_frames = warmup_frames
        self.frames = 0
        self._prev_vehicles: list[Box] = []
        self._alerted: list[tuple[Box, int]] = []  # (region, last frame seen)
        self._k3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self._k9 = cv2.getStructuringElement(cv2.MORPH_RECT, (merge_px, merge_px))

    @property
    def warm(self) -> bool:
        return self.frames > self.warmup_frames

    def process(self, frame: np.ndarray, t_s: float) -> tuple[list[Detection], list[Alert]]:
        """Analyse one frame (BGR, width x height) taken at `t_s`."""
        self.frames += 1
        gray = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        fg = self.mog.apply(gray, learningRate=1.0 if self.frames == 1 else self.learning_rate)
        _, fg = cv2.threshold(fg, 200, 255, cv2.THRESH_BINARY)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._k3)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._k9)
        if not self.warm:
            return [], []
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        dets: list[Detection] = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w * h < self.min_area:
                continue
            box = (x, y, x + w, y + h)
            if h > 1.2 * w:
                if self._is_person(gray, box):
                    dets.append(Detection("person", box))
            elif w > 1.3 * h and w * h >= self.vehicle_area:
                dets.append(Detection("vehicle", box))
        alerts = self._incidents(gray, [d.box for d in dets if d.cls == "vehicle"], t_s)
        return dets, alerts

    def _is_person(self, gray: np.ndarray, box: Box) -> bool:
        x0, y0, x1, y1 = box
        pad_x, pad_y = max(16, (x1 - x0) // 2), max(16, (y1 - y0) // 6)
        crop = gray[max(0, y0 - pad_y):min(self.height, y1 + pad_y),
                    max(0, x0 - pad_x):min(self.width, x1 + pad_x)]
        if crop.shape[0] < 64:
            return False
        scale = 160.0 / crop.shape[0]  # a figure of ~130 px in a 64x128 window, as trained
        crop = cv2.resize(crop, (max(64, int(crop.shape[1] * scale)), 160))
        rects, _ = _hog().detectMultiScale(crop, winStride=(8, 8), padding=(8, 8), scale=1.1)
        return len(rects) > 0

    def _incidents(self, gray: np.ndarray, vehicles: list[Box], t_s: float) -> list[Alert]:
        alerts: list[Alert] = []
        for v in vehicles:
            if not any(iou(v, p) >= self.stay_iou for p in self._prev_vehicles):
                continue
            x0, y0, x1, y1 = v
            edges = cv2.Canny(gray[y0:y1, x0:x1], 50, 150)
            if edges.size == 0 or np.count_nonzero(edges) / edges.size < self.edge_density_min:
                continue
            known = [k for k, (r, _) in enumerate(self._alerted) if iou(v, r) >= 0.3]
            for k in known:
                self._alerted[k] = (v, self.frames)
            if not known:
                self._alerted.append((v, self.frames))
                alerts.append(Alert(t_s, v))
        # A region not seen stopped for two frames is over; a new stop there alerts again.
        self._alerted = [(r, f) for r, f in self._alerted if self.frames - f <= 2]
        self._prev_vehicles = vehicles
        return alerts
