"""Drawing primitives for synthetic street scenes: background, walking figures, vehicles.

Every function draws in place on a BGR ``uint8`` image and returns the bounding box
``(x0, y0, x1, y1)`` (floats, end exclusive, not clipped) of what it drew, so the ground truth
comes from the same numbers as the pixels.

The figures are faceless on purpose (a skin-toned disc and a hair cap): the twin never makes
anything that could stand for a real person. Their proportions (head ~1/8 of the height,
shoulders wider than hips, swinging arms and legs) are what OpenCV's default HOG people
detector was trained on, so it does fire on them at 640x360 and above.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["Color", "draw_background", "draw_person", "draw_vehicle"]

Color = tuple[int, int, int]
Box = tuple[float, float, float, float]

_AA = cv2.LINE_AA


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def draw_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A street: sky, a row of buildings with windows, far sidewalk, two-lane road, kerb."""
    img = np.empty((height, width, 3), np.uint8)
    sky_h = int(height * 0.14)
    ramp = np.linspace(0.0, 1.0, max(sky_h, 1))[:, None]
    img[:sky_h] = (np.array([215, 190, 150]) * (1 - ramp) + np.array([230, 215, 195]) * ramp)[
        :, None, :
    ].astype(np.uint8)
    facade_bottom = int(height * 0.48)
    img[sky_h:facade_bottom] = (120, 125, 135)
    x = 0
    while x < width:
        bw = int(rng.uniform(0.12, 0.24) * width)
        top = int(rng.uniform(0.02, 0.14) * height)
        tone = rng.integers(90, 170, 3)
        cv2.rectangle(img, (x, top), (x + bw, facade_bottom), tuple(int(c) for c in tone), -1)
        win = max(4, int(height * 0.035))
        for wy in range(top + win, facade_bottom - 2 * win, 2 * win):
            for wx in range(x + win, x + bw - win, 2 * win):
                lit = rng.random() < 0.3
                col = (120, 200, 230) if lit else (70, 60, 55)
                cv2.rectangle(img, (wx, wy), (wx + win, wy + int(win * 1.3)), col, -1)
        x += bw
    walk_bottom = int(height * 0.62)
    img[facade_bottom:walk_bottom] = (165, 168, 170)
    for gx in range(0, width, max(8, width // 16)):
        cv2.line(img, (gx, facade_bottom), (gx, walk_bottom), (150, 152, 155), 1)
    img[walk_bottom:] = (78, 78, 82)
    cv2.line(img, (0, walk_bottom), (width, walk_bottom), (200, 200, 200), max(2, height // 120))
    mid = int(height * 0.79)
    dash = max(10, width // 20)
    for dx in range(0, width, 2 * dash):
        cv2.line(img, (dx, mid), (dx + dash, mid), (220, 220, 220), max(2, height // 150))
    cv2.rectangle(img, (0, int(height * 0.965)), (width, height), (160, 162, 165), -1)
    return img


def draw_person(
    img: np.ndarray,
    cx: float,
    foot_y: float,
    height: float,
    phase: float,
    shirt: Color,
    trousers: Color,
    skin: Color,
    hair: Color,
) -> Box:
    """An upright walking figure, ``height`` px tall, feet at ``foot_y``; ``phase`` swings limbs."""
    h = height
    head_r = h * 0.065
    head_y = foot_y - h + head_r
    neck_y = foot_y - h + 2 * head_r
    sh_y = neck_y + h * 0.03
    hip_y = foot_y - h * 0.48
    sw, hw = h * 0.13, h * 0.09
    s = math.sin(phase)
    leg_sw, arm_sw = h * 0.13 * s, h * 0.09 * s
    th = max(2, int(h * 0.07))
    for sign in (-1, 1):
        hip = _pt(cx + sign * hw * 0.5, hip_y)
        knee = _pt(cx + sign * (hw * 0.5 + leg_sw * 0.5), hip_y + (foot_y - hip_y) * 0.5)
        foot = _pt(cx + sign * (hw * 0.3 + leg_sw), foot_y - th / 2)
        cv2.line(img, hip, knee, trousers, th + 1, _AA)
        cv2.line(img, knee, foot, trousers, th, _AA)
    torso = np.array(
        [
            _pt(cx - sw, sh_y),
            _pt(cx + sw, sh_y),
            _pt(cx + hw, hip_y + h * 0.02),
            _pt(cx - hw, hip_y + h * 0.02),
        ],
        np.int32,
    )
    cv2.fillConvexPoly(img, torso, shirt, _AA)
    for sign in (-1, 1):
        shoulder = _pt(cx + sign * sw * 0.9, sh_y + th * 0.5)
        elbow = _pt(cx + sign * (sw + h * 0.02 + arm_sw * 0.4), sh_y + h * 0.17)
        hand = _pt(cx + sign * (sw + h * 0.015 + arm_sw), sh_y + h * 0.33)
        cv2.line(img, shoulder, elbow, shirt, max(1, int(th * 0.8)), _AA)
        cv2.line(img, elbow, hand, shirt, max(1, int(th * 0.7)), _AA)
        cv2.circle(img, hand, max(1, int(th * 0.4)), skin, -1, _AA)
    cv2.line(img, _pt(cx, neck_y - 2), _pt(cx, sh_y + 2), skin, max(2, int(th * 0.7)), _AA)
    cv2.circle(img, _pt(cx, head_y), max(1, int(head_r)), skin, -1, _AA)
    cv2.ellipse(
        img,
        _pt(cx, head_y - head_r * 0.3),
        (max(1, int(head_r)), max(1, int(head_r * 0.75))),
        0,
        180,
        360,
        hair,
        -1,
        _AA,
    )
    half_w = max(sw + h * 0.02 + abs(arm_sw) + th, hw * 0.5 + abs(leg_sw) + th)
    return cx - half_w, foot_y - h, cx + half_w, foot_y + 1


def draw_vehicle(
    img: np.ndarray,
    x0: float,
    bottom_y: float,
    length: float,
    facing: int,
    body: Color,
) -> Box:
    """A car seen from the side, left edge ``x0``, wheels on ``bottom_y``; ``facing`` is +1 / -1."""
    L = length
    body_h = L * 0.22
    wheel_r = L * 0.085
    top = bottom_y - wheel_r * 0.6 - body_h
    cv2.rectangle(img, _pt(x0, top), _pt(x0 + L, bottom_y - wheel_r * 0.6), body, -1, _AA)
    cab_h = L * 0.16
    c0, c1 = (0.22, 0.72) if facing > 0 else (0.28, 0.78)
    cabin = np.array(
        [
            _pt(x0 + L * c0, top),
            _pt(x0 + L * (c0 + 0.1), top - cab_h),
            _pt(x0 + L * (c1 - 0.08), top - cab_h),
            _pt(x0 + L * c1, top),
        ],
        np.int32,
    )
    cv2.fillConvexPoly(img, cabin, body, _AA)
    glass = (90, 70, 50)
    inset = L * 0.025
    win = np.array(
        [
            _pt(x0 + L * c0 + inset * 1.5, top - 1),
            _pt(x0 + L * (c0 + 0.1) + inset, top - cab_h + inset),
            _pt(x0 + L * (c1 - 0.08) - inset, top - cab_h + inset),
            _pt(x0 + L * c1 - inset * 1.5, top - 1),
        ],
        np.int32,
    )
    cv2.fillConvexPoly(img, win, glass, _AA)
    front = x0 + L if facing > 0 else x0
    lamp = (170, 235, 255)
    cv2.circle(
        img,
        _pt(front - facing * L * 0.03, top + body_h * 0.3),
        max(1, int(L * 0.025)),
        lamp,
        -1,
        _AA,
    )
    for wx in (x0 + L * 0.2, x0 + L * 0.8):
        cv2.circle(img, _pt(wx, bottom_y - wheel_r), max(1, int(wheel_r)), (25, 25, 25), -1, _AA)
        cv2.circle(
            img, _pt(wx, bottom_y - wheel_r), max(1, int(wheel_r * 0.45)), (140, 140, 140), -1, _AA
        )
    return x0, top - cab_h, x0 + L, bottom_y + 1
