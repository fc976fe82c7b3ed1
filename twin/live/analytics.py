"""Analytics on numpy frames: motion -> people / vehicles -> incidents, and scoring against truth.

Theory of operation. Sans-IO: frames (BGR uint8) and their times come in, detections and
alerts go out; no clock, no files. One :class:`CameraAnalytics` per camera:

1. Motion: OpenCV MOG2 background subtraction on a grey, blurred, gain-compensated frame (a
   change of light moves every pixel at once); the foreground mask is cleaned (open, close),
   split into blobs and blobs a few pixels apart are merged (a figure's head, body and legs).
   MOG2 learns at an explicit rate and only its dominant mode is background
   (`background_ratio` 0.5): with its defaults, at keyframe rate, a vehicle that stops is
   folded into the background within a few frames, and a scene seen before (the synthetic
   clips loop) is learnt as a second background mode and never seen again.
2. People and vehicles: a tall blob is a person if OpenCV's default HOG people detector fires
   on the blob's neighbourhood, scaled so the figure fills its window; a wide blob of vehicle
   size is a vehicle (OpenCV ships no vehicle model; on these synthetic streets the shape is
   a fair test, and the scoring says how fair).
3. Incidents: a vehicle blob that stays put (IoU >= `stay_iou` with a vehicle blob of the
   previous analysed frame) and adds detail to the background (edge density above the
   model's background image there: the road a departed vehicle uncovered, a "ghost", is
   flatter than what the model remembers) is a stopped vehicle; the first time a region is
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


def _merge(boxes: list[Box], gap: int) -> list[Box]:
    """Union boxes closer than `gap` pixels (a figure's head, body and legs; a car's wheels)."""
    boxes = sorted(boxes)
    merged = True
    while merged:
        merged = False
        out: list[Box] = []
        for b in boxes:
            for k, a in enumerate(out):
                if (b[0] <= a[2] + gap and a[0] <= b[2] + gap and b[1] <= a[3] + gap
                        and a[1] <= b[3] + gap):
                    out[k] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    merged = True
                    break
            else:
                out.append(b)
        boxes = out
    return boxes


_HOG: cv2.HOGDescriptor | None = None


def _hog() -> cv2.HOGDescriptor:
    global _HOG
    if _HOG is None:
        _HOG = cv2.HOGDescriptor()
        # np.asarray: OpenCV's stubs call the detector a Sequence[float]; it is a float32 array.
        _HOG.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))
    return _HOG


class CameraAnalytics:
    """Per-camera state: the background model and the stopped-vehicle regions."""

    def __init__(self, width: int, height: int, *, stay_iou: float = 0.6,
                 edge_density_min: float = 0.04, warmup_frames: int = 3,
                 learning_rate: float = 0.03, var_threshold: float = 16.0,
                 merge_px: int = 9, merge_gap: int = 6, use_hog: bool = True,
                 mixtures: int = 5, background_ratio: float = 0.5,
                 hog_threshold: float = 0.0) -> None:
        self.width, self.height = width, height
        # An explicit learning rate: MOG2's own (1/history, faster while it warms up) folds a
        # stopped vehicle into the background within a few frames at keyframe rate.
        self.mog = cv2.createBackgroundSubtractorMOG2(history=100, varThreshold=var_threshold,
                                                      detectShadows=False)
        self.mog.setNMixtures(mixtures)
        self.mog.setBackgroundRatio(background_ratio)
        self._ref_mean: float | None = None
        self.learning_rate = learning_rate
        self.merge_gap = merge_gap
        self.use_hog = use_hog
        self.hog_threshold = hog_threshold
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
        # Gain compensation: dusk and dawn (or a camera's auto-exposure) move every pixel at
        # once, which a background model would take for motion everywhere.
        mean = float(gray.mean())
        if self._ref_mean is None:
            self._ref_mean = mean
        elif mean > 1.0:
            gray = cv2.convertScaleAbs(gray, alpha=self._ref_mean / mean)
        fg = self.mog.apply(gray, learningRate=1.0 if self.frames == 1 else self.learning_rate)
        _, fg = cv2.threshold(fg, 200, 255, cv2.THRESH_BINARY)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._k3)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._k9)
        if not self.warm:
            return [], []
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = _merge([(x, y, x + w, y + h) for x, y, w, h in map(cv2.boundingRect, contours)
                        if w * h >= self.min_area / 8], self.merge_gap)
        dets: list[Detection] = []
        for box in boxes:
            w, h = box[2] - box[0], box[3] - box[1]
            if w * h < self.min_area:
                continue
            if h > 1.2 * w:
                if not self.use_hog or self._is_person(gray, box):
                    dets.append(Detection("person", box))
            elif w > 1.3 * h and w * h >= self.vehicle_area:
                dets.append(Detection("vehicle", box))
        alerts = self._incidents(gray, [d.box for d in dets if d.cls == "vehicle"], t_s)
        return dets, alerts

    def _is_person(self, gray: np.ndarray, box: Box) -> bool:
        x0, y0, x1, y1 = box
        h = y1 - y0
        pad = max(16, h // 4)
        crop = gray[max(0, y0 - pad):min(self.height, y1 + pad),
                    max(0, x0 - pad):min(self.width, x1 + pad)]
        # The default people detector sees a ~96 px figure in its 64x128 window: scale the
        # figure to that, whatever its size in the frame.
        scale = 100.0 / max(h, 1)
        crop = cv2.resize(crop, (max(72, int(crop.shape[1] * scale)),
                                 max(136, int(crop.shape[0] * scale))))
        rects, _ = _hog().detectMultiScale(crop, hitThreshold=self.hog_threshold,
                                           winStride=(8, 8), padding=(8, 8), scale=1.1)
        return len(rects) > 0

    def _more_detail_than_background(self, gray: np.ndarray, bg: np.ndarray, v: Box) -> bool:
        """A stopped vehicle adds edges to the road; a 'ghost' (the road a stopped vehicle
        uncovered, still foreground because the model learnt the vehicle) removes them."""
        x0, y0, x1, y1 = v
        now = cv2.Canny(gray[y0:y1, x0:x1], 50, 150)
        was = cv2.Canny(bg[y0:y1, x0:x1], 50, 150)
        if now.size == 0:
            return False
        d_now, d_was = np.count_nonzero(now) / now.size, np.count_nonzero(was) / was.size
        return bool(d_now >= self.edge_density_min and d_now > 1.3 * d_was)

    def _incidents(self, gray: np.ndarray, vehicles: list[Box], t_s: float) -> list[Alert]:
        alerts: list[Alert] = []
        bg = self.mog.getBackgroundImage() if vehicles else gray
        for v in vehicles:
            if not any(iou(v, p) >= self.stay_iou for p in self._prev_vehicles):
                continue
            x0, y0, x1, y1 = v
            if not self._more_detail_than_background(gray, bg, v):
                continue
            known = [k for k, (r, _) in enumerate(self._alerted) if iou(v, r) >= 0.3]
            for k in known:
                self._alerted[k] = (v, self.frames)
            if not known:
                self._alerted.append((v, self.frames))
                alerts.append(Alert(t_s, v))
        # A region not seen stopped for five frames is over; a new stop there alerts again.
        self._alerted = [(r, f) for r, f in self._alerted if self.frames - f <= 5]
        self._prev_vehicles = vehicles
        return alerts
