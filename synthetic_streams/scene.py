"""Deterministic synthetic street scenes with ground truth.

Theory of operation. A :class:`Scene` draws every random choice once, at construction, from a
``numpy.random.Generator`` seeded by ``SceneConfig.seed``: the background, and a schedule of
walkers and vehicles, each with a start time, a speed and a look. After that, frame ``i`` is a
pure function of ``i``: objects move on straight lines at constant speed, so their position at
``t = i / fps`` is computed, never integrated, and any frame can be drawn (or its truth asked
for) on its own, in any order, with the same result. Per-frame sensor noise comes from a
generator seeded by ``(seed, i)``.

The scene knows its ground truth: the objects in each frame (class and clipped bounding box)
and the incidents (a rear-end collision of two vehicles that then stay stopped, from
``collision_at_s``), as frozen dataclasses that serialise to JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Literal

import cv2
import numpy as np

from .figures import Color, draw_background, draw_person, draw_vehicle

__all__ = ["SceneConfig", "BBox", "ObjectTruth", "FrameTruth", "Incident", "SceneTruth", "Scene"]

ObjectClass = Literal["person", "vehicle"]


@dataclass(frozen=True, slots=True)
class SceneConfig:
    """What to draw. Sizes in pixels, times in seconds from the start of the clip."""

    camera_id: str
    width: int = 1280
    height: int = 720
    fps: int = 15
    duration_s: float = 10.0
    seed: int = 0
    people: int = 6
    vehicles: int = 6
    collision_at_s: float | None = None
    night_depth: float = 0.6  # darkest brightness is 1 - night_depth
    day_night_cycle_s: float | None = None  # None: one full day -> night -> day per clip
    start_epoch_s: int = 1_767_225_600  # 2026-01-01T00:00:00Z, for the burned-in timestamp
    noise_level: int = 2

    def __post_init__(self) -> None:
        checks = [
            (self.width >= 64 and self.width % 2 == 0, "width", "an even number >= 64"),
            (self.height >= 64 and self.height % 2 == 0, "height", "an even number >= 64"),
            (1 <= self.fps <= 120, "fps", "1..120"),
            (self.duration_s > 0, "duration_s", "> 0"),
            (self.people >= 0 and self.vehicles >= 0, "people/vehicles", ">= 0"),
            (0.0 <= self.night_depth < 1.0, "night_depth", "in [0, 1)"),
            (self.noise_level >= 0, "noise_level", ">= 0"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ValueError(
                    f"SceneConfig.{name} = {getattr(self, name, None)!r}; expected {expected}"
                )
        if self.collision_at_s is not None and not 0 < self.collision_at_s < self.duration_s:
            raise ValueError(
                f"SceneConfig.collision_at_s = {self.collision_at_s!r}; expected inside the clip "
                f"(0, {self.duration_s}): lengthen duration_s or move the collision"
            )

    @property
    def frame_count(self) -> int:
        """Number of frames in the clip."""
        return max(1, round(self.duration_s * self.fps))


@dataclass(frozen=True, slots=True)
class BBox:
    """An axis-aligned box in pixels, ``x1``/``y1`` exclusive, inside the frame."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass(frozen=True, slots=True)
class ObjectTruth:
    """One visible object in one frame. ``visible`` is the share of the object's pixels that
    the frame shows: not cut off by its edge, not hidden behind an object in front (pedestrian
    benchmarks, Caltech and CityPersons, score only people >= 65 % visible)."""

    object_id: int
    cls: ObjectClass
    bbox: BBox
    visible: float = 1.0


@dataclass(frozen=True, slots=True)
class Incident:
    """Something an analyser should report: two vehicles colliding and stopping."""

    kind: Literal["collision"]
    start_s: float
    object_ids: tuple[int, ...]
    bbox: BBox


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """Ground truth of frame ``index`` (at ``t_s`` seconds into the clip)."""

    index: int
    t_s: float
    brightness: float
    objects: tuple[ObjectTruth, ...]
    active_incidents: tuple[int, ...]  # indexes into SceneTruth.incidents


@dataclass(frozen=True, slots=True)
class SceneTruth:
    """The whole clip's ground truth."""

    config: SceneConfig
    incidents: tuple[Incident, ...]
    frames: tuple[FrameTruth, ...]

    def to_json(self) -> str:
        """JSON text; :meth:`from_json` reads it back to an equal object."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SceneTruth:
        """Read back the text :meth:`to_json` wrote."""
        d = json.loads(text)

        def box(b: dict[str, int]) -> BBox:
            return BBox(**b)

        return cls(
            config=SceneConfig(**d["config"]),
            incidents=tuple(
                Incident(i["kind"], i["start_s"], tuple(i["object_ids"]), box(i["bbox"]))
                for i in d["incidents"]
            ),
            frames=tuple(
                FrameTruth(
                    f["index"],
                    f["t_s"],
                    f["brightness"],
                    tuple(
                        ObjectTruth(o["object_id"], o["cls"], box(o["bbox"]), o.get("visible", 1.0))
                        for o in f["objects"]
                    ),
                    tuple(f["active_incidents"]),
                )
                for f in d["frames"]
            ),
        )


@dataclass(frozen=True, slots=True)
class _Walker:
    object_id: int
    t0: float
    x0: float
    speed: float  # px/s, signed
    foot_y: float
    height: float
    stride_hz: float
    shirt: Color
    trousers: Color
    skin: Color
    hair: Color


@dataclass(frozen=True, slots=True)
class _Car:
    object_id: int
    t0: float
    x0: float  # left edge at t0
    speed: float  # px/s, signed
    bottom_y: float
    length: float
    color: Color
    stop_s: float | None = None


_VIS_SCALE = 4  # visibility is counted on a label image this many times smaller

# Drawing on a 1x1 image yields a figure's box cheaply, from the very code that draws it.
_SCRATCH = np.zeros((1, 1, 3), np.uint8)


def _color(rng: np.random.Generator, lo: int, hi: int) -> Color:
    c = rng.integers(lo, hi, 3)
    return int(c[0]), int(c[1]), int(c[2])


class Scene:
    """A seeded street scene: ``frame(i)`` draws it, ``truth(i)`` says what is in it."""

    def __init__(self, config: SceneConfig) -> None:
        self.config = config
        c = config
        rng = np.random.default_rng(c.seed)
        self._background = draw_background(c.width, c.height, rng)
        W, H = c.width, c.height
        walkers: list[_Walker] = []
        for k in range(c.people):
            height = rng.uniform(0.36, 0.44) * H
            speed = rng.uniform(1.1, 1.6) * height / 1.7 * rng.choice([-1.0, 1.0])
            cross_s = (W + height) / abs(speed)
            t0 = rng.uniform(-cross_s, c.duration_s)
            x0 = -height * 0.4 if speed > 0 else W + height * 0.4
            walkers.append(
                _Walker(
                    k,
                    t0,
                    x0,
                    speed,
                    rng.uniform(0.55, 0.61) * H,
                    height,
                    rng.uniform(0.8, 1.0),
                    _color(rng, 20, 230),
                    _color(rng, 15, 90),
                    _color(rng, 90, 200),
                    _color(rng, 10, 60),
                )
            )
        self._walkers = tuple(sorted(walkers, key=lambda w: (w.foot_y, w.object_id)))
        # One speed per lane and a minimum headway, so cars in a lane never drive through
        # each other (the collision lane, if any, is left to the two colliding cars).
        lanes = {0: (0.75 * H, -1.0), 1: (0.93 * H, 1.0)}  # bottom y, direction
        free_lanes = [0] if c.collision_at_s is not None else [0, 1]
        lane_speed = {lane: lanes[lane][1] * rng.uniform(0.35, 0.6) * W for lane in lanes}
        drafts = sorted(
            (
                int(free_lanes[int(rng.integers(len(free_lanes)))]),
                float(rng.uniform(-2.0, c.duration_s)),
                float(rng.uniform(0.17, 0.22) * W),
                _color(rng, 30, 230),
            )
            for _ in range(c.vehicles)
        )
        cars: list[_Car] = []
        last: dict[int, tuple[float, float]] = {}  # lane -> (t0, length) of the car ahead
        for k, (lane, t0, length, color) in enumerate(drafts):
            bottom, direction = lanes[lane]
            speed = lane_speed[lane]
            if lane in last:
                t0 = max(t0, last[lane][0] + (last[lane][1] + 0.08 * W) / abs(speed))
            last[lane] = (t0, length)
            x0 = -length if direction > 0 else W
            cars.append(_Car(1000 + k, t0, x0, speed, bottom, length, color))
        incidents: list[Incident] = []
        if c.collision_at_s is not None:
            tc, xc = c.collision_at_s, 0.55 * W
            la, lb = rng.uniform(0.17, 0.22, 2) * W
            va, vb = 0.12 * W, 0.45 * W
            a = _Car(2000, tc, xc, va, lanes[1][0], la, _color(rng, 30, 230), stop_s=tc)
            b = _Car(2001, tc, xc - lb, vb, lanes[1][0], lb, _color(rng, 30, 230), stop_s=tc)
            cars += [a, b]
            boxes = [box for car in (a, b) if (box := self._car_box(car, tc)) is not None]
            assert len(boxes) == 2, "both colliding cars are on screen by construction"
            incidents.append(
                Incident(
                    "collision",
                    float(tc),
                    (a.object_id, b.object_id),
                    BBox(
                        min(bx.x0 for bx in boxes),
                        min(bx.y0 for bx in boxes),
                        max(bx.x1 for bx in boxes),
                        max(bx.y1 for bx in boxes),
                    ),
                )
            )
        self._cars = tuple(sorted(cars, key=lambda v: (v.bottom_y, v.object_id)))
        self.incidents: tuple[Incident, ...] = tuple(incidents)

    # -- geometry (shared by pixels and truth) ------------------------------------------------
    @staticmethod
    def _car_x(car: _Car, t: float) -> float:
        tt = t if car.stop_s is None else min(t, car.stop_s)
        return car.x0 + car.speed * (tt - car.t0)

    def _clip(self, box: tuple[float, float, float, float]) -> BBox | None:
        W, H = self.config.width, self.config.height
        x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
        x1, y1 = min(W, int(np.ceil(box[2]))), min(H, int(np.ceil(box[3])))
        return BBox(x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None

    def _car_box(self, car: _Car, t: float) -> BBox | None:
        facing = 1 if car.speed > 0 else -1
        return self._clip(
            draw_vehicle(_SCRATCH, self._car_x(car, t), car.bottom_y, car.length, facing, car.color)
        )

    # -- visibility: the share of each object's pixels seen (not cut off, not hidden) --------
    def _paint_walker(
        self, w: _Walker, cx: float, phase: float, img: np.ndarray, k: float, pad: float
    ) -> object:
        return draw_person(
            img,
            cx * k + pad,
            w.foot_y * k + pad,
            w.height * k,
            phase,
            w.shirt,
            w.trousers,
            w.skin,
            w.hair,
        )

    def _paint_car(self, car: _Car, t: float, img: np.ndarray, k: float, pad: float) -> object:
        return draw_vehicle(
            img,
            self._car_x(car, t) * k + pad,
            car.bottom_y * k + pad,
            car.length * k,
            1 if car.speed > 0 else -1,
            car.color,
        )

    def _visibility(
        self, painters: list[tuple[int, Callable[[np.ndarray, float, float], object]]]
    ) -> dict[int, float]:
        """Per object, the share of its silhouette inside the frame and not behind an object
        drawn after it (the painter's order of :meth:`frame`), counted on a label image at
        1/_VIS_SCALE size with room around the frame for what is cut off. Pedestrian benchmarks
        (Caltech, CityPersons) score only people >= 65 % visible."""
        c = self.config
        k = 1.0 / _VIS_SCALE
        w, h = int(np.ceil(c.width * k)), int(np.ceil(c.height * k))
        pad = int(np.ceil(0.25 * c.width * k)) + 2  # a car (<= 0.22 W) entering or leaving
        labels = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
        own: dict[int, int] = {}
        for label, (oid, paint) in enumerate(painters, start=1):
            alone = np.zeros_like(labels)
            paint(alone, k, float(pad))
            mask = alone > 0
            own[oid] = int(np.count_nonzero(mask))
            labels[mask] = label
        seen = np.bincount(
            labels[pad : pad + h, pad : pad + w].ravel(), minlength=len(painters) + 1
        )
        return {
            oid: round(float(seen[label]) / own[oid], 3) if own[oid] else 0.0
            for label, (oid, _) in enumerate(painters, start=1)
        }

    def _walker_state(self, w: _Walker, t: float) -> tuple[float, float]:
        return w.x0 + w.speed * (t - w.t0), 2 * np.pi * w.stride_hz * (t - w.t0)

    def brightness(self, t: float) -> float:
        """Scene brightness at ``t``: 1 at noon, ``1 - night_depth`` at midnight (cosine)."""
        cycle = self.config.day_night_cycle_s or self.config.duration_s
        return float(1.0 - self.config.night_depth * (1 - np.cos(2 * np.pi * t / cycle)) / 2)

    # -- public API ---------------------------------------------------------------------------
    def truth(self, index: int) -> FrameTruth:
        """Ground truth of frame ``index`` without drawing it."""
        t = index / self.config.fps
        objects: list[tuple[int, ObjectClass, BBox]] = []
        painters: list[tuple[int, Callable[[np.ndarray, float, float], object]]] = []
        for w in self._walkers:
            if t < w.t0:
                continue
            cx, phase = self._walker_state(w, t)
            box = self._clip(
                draw_person(
                    _SCRATCH, cx, w.foot_y, w.height, phase, w.shirt, w.trousers, w.skin, w.hair
                )
            )
            if box is not None:
                objects.append((w.object_id, "person", box))
                painters.append((w.object_id, partial(self._paint_walker, w, cx, phase)))
        for car in self._cars:
            if t < car.t0 and car.stop_s is None:
                continue
            box = self._car_box(car, t)
            if box is not None:
                objects.append((car.object_id, "vehicle", box))
                painters.append((car.object_id, partial(self._paint_car, car, t)))
        visible = self._visibility(painters)
        truths = [ObjectTruth(i, cls, box, visible[i]) for i, cls, box in objects]
        truths.sort(key=lambda o: o.object_id)
        active = tuple(k for k, inc in enumerate(self.incidents) if t >= inc.start_s)
        return FrameTruth(index, t, self.brightness(t), tuple(truths), active)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a BGR ``uint8`` array of shape (height, width, 3)."""
        c = self.config
        t = index / c.fps
        img = self._background.copy()
        for w in self._walkers:
            if t >= w.t0:
                cx, phase = self._walker_state(w, t)
                draw_person(img, cx, w.foot_y, w.height, phase, w.shirt, w.trousers, w.skin, w.hair)
        for car in self._cars:
            if t >= car.t0 or car.stop_s is not None:
                draw_vehicle(
                    img,
                    self._car_x(car, t),
                    car.bottom_y,
                    car.length,
                    1 if car.speed > 0 else -1,
                    car.color,
                )
        img = cv2.convertScaleAbs(img, alpha=self.brightness(t))
        if c.noise_level:
            rng = np.random.default_rng((c.seed, index))
            small = rng.integers(
                -c.noise_level, c.noise_level + 1, (c.height // 2, c.width // 2), dtype=np.int16
            )
            noise = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)[:, :, None]
            img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        self._burn_in(img, t)
        return img

    def _burn_in(self, img: np.ndarray, t: float) -> None:
        c = self.config
        stamp = datetime.fromtimestamp(c.start_epoch_s + t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        text = f"{c.camera_id}  {stamp}.{round((t % 1) * 1000) % 1000:03d}"
        scale = c.height / 720 * 0.8
        thick = max(1, round(c.height / 360))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        pad = max(2, c.height // 120)
        cv2.rectangle(img, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
        cv2.putText(
            img,
            text,
            (pad, th + pad),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )

    def frames(self) -> Iterator[tuple[np.ndarray, FrameTruth]]:
        """Iterate over ``(frame, truth)`` for the whole clip, in order."""
        for i in range(self.config.frame_count):
            yield self.frame(i), self.truth(i)

    @cached_property
    def ground_truth(self) -> SceneTruth:
        """Ground truth of the whole clip (computed once)."""
        return SceneTruth(
            self.config,
            self.incidents,
            tuple(self.truth(i) for i in range(self.config.frame_count)),
        )
