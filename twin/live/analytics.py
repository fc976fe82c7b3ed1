"""Analytics on numpy frames: motion -> people / vehicles -> incidents, and scoring against truth.

Theory of operation. Sans-IO: frames (BGR uint8) and their times come in, detections and
alerts go out; no clock, no files. One :class:`CameraAnalytics` per camera, built for
keyframe rate (~1 frame/s per camera):

1. Motion: the background is the per-pixel median of the last `history` analysed frames, in
   colour at half size, recomputed every `refresh_every` frames. A median needs no clean
   start (a learnt model would take the people in its first frame for background and see
   their "ghosts" for half a minute at 1 frame/s), forgets what moved on within a few frames,
   and keeps a stopped vehicle as foreground for half its history. Frames are gain-compensated
   first (dusk and dawn, or a camera's auto-exposure, move every pixel at once). Foreground is
   any colour channel differing by more than `diff_threshold` (a green shirt on a green
   facade differs in colour, not in grey), cleaned (open, close) and split into blobs.
2. Blobs to objects (:func:`merge_parts`): blobs a few pixels apart are merged into one object
   (a figure's head, body and legs; a car's wheels) unless both are already whole objects by
   shape, so a person standing above a passing car, or two cars bumper to bumper, stay apart;
   pieces stacked one above the other (a shirt the colour of the wall splits a figure) merge
   across a larger gap.
3. People and vehicles: a tall blob is a person if OpenCV's default HOG people detector fires
   on it (the crop edge-padded so a figure cut by the frame edge still fills its window); a
   wide blob of vehicle size is a vehicle (OpenCV ships no vehicle model: on these synthetic
   streets the shape is a fair test, and the scoring says how fair). A large blob of neither
   shape (a group, someone behind a car) is scanned with the HOG detector for the people in
   it, and what is left of it may be a vehicle.
4. Incidents: a vehicle blob that stays put (IoU >= `stay_iou` with a vehicle of the previous
   analysed frame), looks the same as a frame ago (at 1 frame/s the next car of a queue can
   stand where the last one was) and adds detail to the background (edge density above the
   background's there: the road a departed vehicle uncovered, a "ghost", is flatter) is a
   stopped vehicle; the first time a region is seen stopped it raises one alert, and the region
   stays alerted while it is seen.

Scoring (:func:`matched`): detections against the generator's truth boxes of the same class,
greedy by IoU >= 0.3 (twin.live.analyser.score_frame says which truths are scored).
Cost: ~10 ms of a core per 640x360 frame, half of it the median (bench/bench_accuracy.py).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Box", "Detection", "Alert", "CameraAnalytics", "iou", "match", "matched", "merge_parts"]

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


def matched(dets: list[Box], truth: list[Box], min_iou: float = 0.3) -> set[int]:
    """Indexes of `dets` matched one-to-one to `truth`, greedy by IoU (best pairs first)."""
    pairs = sorted(
        ((iou(d, t), i, j) for i, d in enumerate(dets) for j, t in enumerate(truth)), reverse=True
    )
    used_d: set[int] = set()
    used_t: set[int] = set()
    for v, i, j in pairs:
        if v < min_iou:
            break
        if i in used_d or j in used_t:
            continue
        used_d.add(i)
        used_t.add(j)
    return used_d


def match(dets: list[Box], truth: list[Box], min_iou: float = 0.3) -> int:
    """True positives: greedy one-to-one matching by IoU (best pairs first)."""
    return len(matched(dets, truth, min_iou))


def _shape(b: Box, min_area: float, vehicle_area: float) -> str | None:
    """What a box is by its shape alone: 'person' (tall), 'vehicle' (wide, car-sized), None."""
    w, h = b[2] - b[0], b[3] - b[1]
    if w * h < min_area:
        return None
    if h > 1.2 * w:
        return "person"
    if w > 1.3 * h and w * h >= vehicle_area:
        return "vehicle"
    return None


def merge_parts(
    boxes: list[Box], gap: int, min_area: float, vehicle_area: float, stack_gap: float = 0.25
) -> list[Box]:
    """Union the blobs that are parts of one object (module docstring, step 2): boxes closer
    than `gap` pixels, or stacked (x ranges mostly shared) less than `stack_gap` of the taller
    one's height apart; but two boxes that are each a whole object by shape only if they are
    pieces of one figure (person-shaped, stacked into a person-shaped whole): two cars, one in
    each lane, are stacked too."""
    boxes = sorted(boxes)
    merged = True
    while merged:
        merged = False
        out: list[Box] = []
        for b in boxes:
            for k, a in enumerate(out):
                shared_x = min(a[2], b[2]) - max(a[0], b[0])
                stacked = shared_x >= 0.5 * min(a[2] - a[0], b[2] - b[0])
                near = (
                    b[0] <= a[2] + gap
                    and a[0] <= b[2] + gap
                    and b[1] <= a[3] + gap
                    and a[1] <= b[3] + gap
                )
                if not near and stacked:
                    dy = max(a[1], b[1]) - min(a[3], b[3])
                    near = dy <= stack_gap * max(a[3] - a[1], b[3] - b[1])
                if not near:
                    continue
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                sa, sb = _shape(a, min_area, vehicle_area), _shape(b, min_area, vehicle_area)
                if (
                    sa is not None
                    and sb is not None
                    and not (stacked and sa == sb == _shape(u, min_area, vehicle_area) == "person")
                ):
                    continue
                out[k] = u
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
    """Per-camera state: the recent frames, the stopped-vehicle regions (module docstring)."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        history: int = 15,
        refresh_every: int = 5,
        diff_threshold: int = 16,
        downscale: int = 2,
        stay_iou: float = 0.6,
        same_vehicle_diff: float = 12.0,
        edge_density_min: float = 0.04,
        warmup_frames: int = 4,
        merge_gap: int = 6,
        stack_gap: float = 0.25,
        use_hog: bool = True,
        hog_threshold: float = -1.5,
        scan_threshold: float = -0.5,
    ) -> None:
        self.width, self.height = width, height
        self.history, self.refresh_every = history, refresh_every
        self.diff_threshold, self.down = diff_threshold, downscale
        self.small_size = (width // downscale, height // downscale)
        self._recent: deque[np.ndarray] = deque(maxlen=history)
        self._background: np.ndarray | None = None  # small, BGR
        self._background_gray: np.ndarray | None = None  # full size, grey, blurred like `gray`
        self._ref_mean: float | None = None
        self.merge_gap, self.stack_gap = merge_gap, stack_gap
        self.use_hog = use_hog
        self.hog_threshold, self.scan_threshold = hog_threshold, scan_threshold
        self.min_area = (width * height) * 0.0015
        self.vehicle_area = (width * height) * 0.01
        self.stay_iou = stay_iou
        self.same_vehicle_diff = same_vehicle_diff
        self.edge_density_min = edge_density_min
        self.warmup_frames = warmup_frames
        self.frames = 0
        self._prev_vehicles: list[Box] = []
        self._prev_small: np.ndarray | None = None
        self._alerted: list[tuple[Box, int]] = []  # (region, last frame seen)
        self._k3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self._k5 = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))

    @property
    def warm(self) -> bool:
        return self.frames > self.warmup_frames

    def process(self, frame: np.ndarray, t_s: float) -> tuple[list[Detection], list[Alert]]:
        """Analyse one frame (BGR, width x height) taken at `t_s`."""
        self.frames += 1
        gray = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        small = cv2.resize(frame, self.small_size, interpolation=cv2.INTER_AREA)
        mean = float(gray.mean())
        if self._ref_mean is None:
            self._ref_mean = mean
        elif mean > 1.0:
            gain = self._ref_mean / mean
            gray = cv2.convertScaleAbs(gray, alpha=gain)
            small = cv2.convertScaleAbs(small, alpha=gain)
        self._recent.append(small)
        if (
            self._background is None
            or len(self._recent) < self.history
            or self.frames % self.refresh_every == 0
        ):
            self._background = np.median(np.stack(self._recent), axis=0).astype(np.uint8)
            self._background_gray = None  # made again from this one when it is first needed
        if not self.warm:
            self._prev_small = small
            return [], []
        diff = cv2.absdiff(small, self._background).max(axis=2)
        _, fg = cv2.threshold(diff, self.diff_threshold, 255, cv2.THRESH_BINARY)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._k3)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._k5)
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        k = self.down
        blobs = [
            (x * k, y * k, (x + w) * k, (y + h) * k)
            for x, y, w, h in map(cv2.boundingRect, contours)
            if w * h * k * k >= self.min_area / 8
        ]
        dets: list[Detection] = []
        for box in merge_parts(
            blobs, self.merge_gap, self.min_area, self.vehicle_area, self.stack_gap
        ):
            w, h = box[2] - box[0], box[3] - box[1]
            if w * h < self.min_area:
                continue
            shape = _shape(box, self.min_area, self.vehicle_area)
            if shape == "person":
                if not self.use_hog or self._people(gray, box, self.hog_threshold):
                    dets.append(Detection("person", box))
            elif shape == "vehicle":
                dets.append(Detection("vehicle", box))
            elif self.use_hog and w * h >= 2 * self.min_area:
                dets += self._scan(gray, fg, box)
        alerts = self._incidents(gray, small, [d.box for d in dets if d.cls == "vehicle"], t_s)
        return dets, alerts

    def _people(
        self, gray: np.ndarray, box: Box, threshold: float, fill: float = 100.0
    ) -> list[Box]:
        """HOG people-detector windows on `box`'s neighbourhood, in frame pixels. The default
        detector sees a ~96 px figure in its 64x128 window: the crop is scaled so that a box
        `fill` px tall becomes one, and edge-padded so a figure at the frame edge fits."""
        x0, y0, x1, y1 = box
        h = y1 - y0
        pad = max(16, h // 4)
        # The box and `pad` around it, edge-replicated where that runs off the frame.
        cy0, cy1 = max(0, y0 - pad), min(self.height, y1 + pad)
        cx0, cx1 = max(0, x0 - pad), min(self.width, x1 + pad)
        crop = cv2.copyMakeBorder(
            gray[cy0:cy1, cx0:cx1],
            cy0 - (y0 - pad),
            y1 + pad - cy1,
            cx0 - (x0 - pad),
            x1 + pad - cx1,
            cv2.BORDER_REPLICATE,
        )
        scale = fill / max(h, 1)
        size = (max(72, int(crop.shape[1] * scale)), max(136, int(crop.shape[0] * scale)))
        sx, sy = size[0] / crop.shape[1], size[1] / crop.shape[0]
        rects, _ = _hog().detectMultiScale(
            cv2.resize(crop, size),
            hitThreshold=threshold,
            winStride=(8, 8),
            padding=(8, 8),
            scale=1.1,
        )
        return [
            (
                int(rx / sx) + x0 - pad,
                int(ry / sy) + y0 - pad,
                int((rx + rw) / sx) + x0 - pad,
                int((ry + rh) / sy) + y0 - pad,
            )
            for rx, ry, rw, rh in rects
        ]

    def _scan(self, gray: np.ndarray, fg: np.ndarray, box: Box) -> list[Detection]:
        """The people in a blob of no single shape, each boxed to the foreground inside its
        detector window; then what is left of the blob, if it is vehicle-shaped."""
        x0, y0, x1, y1 = box
        k = self.down
        out: list[Detection] = []
        # Scaled so that people from ~60 % of the blob's height up fill a window.
        for rx0, ry0, rx1, ry1 in self._people(gray, box, self.scan_threshold, fill=170.0):
            bx0, by0, bx1, by1 = max(rx0, x0), max(ry0, y0), min(rx1, x1), min(ry1, y1)
            ys, xs = np.nonzero(fg[by0 // k : by1 // k, bx0 // k : bx1 // k])
            if len(xs) == 0:
                continue
            tight = (
                bx0 + int(xs.min()) * k,
                by0 + int(ys.min()) * k,
                bx0 + (int(xs.max()) + 1) * k,
                by0 + (int(ys.max()) + 1) * k,
            )
            if _shape(tight, self.min_area, self.vehicle_area) == "person":
                out.append(Detection("person", tight))
        rest = fg[y0 // k : y1 // k, x0 // k : x1 // k].copy()
        for d in out:
            b = d.box
            rest[
                max(0, (b[1] - y0) // k) : (b[3] - y0) // k,
                max(0, (b[0] - x0) // k) : (b[2] - x0) // k,
            ] = 0
        contours, _ = cv2.findContours(rest, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for x, y, w, h in map(cv2.boundingRect, contours):
            part = (x0 + x * k, y0 + y * k, x0 + (x + w) * k, y0 + (y + h) * k)
            if _shape(part, self.min_area, self.vehicle_area) == "vehicle":
                out.append(Detection("vehicle", part))
        return out

    def _more_detail_than_background(self, gray: np.ndarray, bg: np.ndarray, v: Box) -> bool:
        """A stopped vehicle adds edges to the road; a 'ghost' (the road a stopped vehicle
        uncovered, still foreground while the background remembers the vehicle) removes them."""
        x0, y0, x1, y1 = v
        now = cv2.Canny(gray[y0:y1, x0:x1], 50, 150)
        was = cv2.Canny(bg[y0:y1, x0:x1], 50, 150)
        if now.size == 0:
            return False
        d_now, d_was = np.count_nonzero(now) / now.size, np.count_nonzero(was) / was.size
        return bool(d_now >= self.edge_density_min and d_now > 1.3 * d_was)

    def _incidents(
        self, gray: np.ndarray, small: np.ndarray, vehicles: list[Box], t_s: float
    ) -> list[Alert]:
        alerts: list[Alert] = []
        bg = gray
        if vehicles and self._background is not None:
            if self._background_gray is None:
                self._background_gray = cv2.GaussianBlur(
                    cv2.resize(
                        cv2.cvtColor(self._background, cv2.COLOR_BGR2GRAY),
                        (self.width, self.height),
                    ),
                    (5, 5),
                    0,
                )
            bg = self._background_gray
        prev, k = self._prev_small, self.down
        for v in vehicles:
            if not any(iou(v, p) >= self.stay_iou for p in self._prev_vehicles):
                continue
            if prev is not None:
                a = small[v[1] // k : v[3] // k, v[0] // k : v[2] // k]
                b = prev[v[1] // k : v[3] // k, v[0] // k : v[2] // k]
                if a.size and float(cv2.absdiff(a, b).mean()) > self.same_vehicle_diff:
                    continue  # another vehicle where one was a frame ago: not a stop
            if not self._more_detail_than_background(gray, bg, v):
                continue
            known = [j for j, (r, _) in enumerate(self._alerted) if iou(v, r) >= 0.3]
            for j in known:
                self._alerted[j] = (v, self.frames)
            if not known:
                self._alerted.append((v, self.frames))
                alerts.append(Alert(t_s, v))
        # A region not seen stopped for five frames is over; a new stop there alerts again.
        self._alerted = [(r, f) for r, f in self._alerted if self.frames - f <= 5]
        self._prev_vehicles = vehicles
        self._prev_small = small
        return alerts
