"""Synthetic scenes and their encoding: deterministic, truthful, detectable, cached (no server)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from synthetic_streams.encode import EncodeProfile, clip_key, encode_clip, keyframe_indices
from synthetic_streams.scene import BBox, Scene, SceneConfig, SceneTruth

SMALL: dict = {"width": 640, "height": 360, "fps": 10, "duration_s": 6.0}


def test_same_seed_gives_identical_frames_and_truth() -> None:
    a, b = (
        Scene(SceneConfig("cam-1", seed=5, **SMALL)),
        Scene(SceneConfig("cam-1", seed=5, **SMALL)),
    )
    for i in (0, 17, 33, 59):
        assert np.array_equal(a.frame(i), b.frame(i))
    assert a.ground_truth == b.ground_truth
    assert a.ground_truth.to_json() == b.ground_truth.to_json()
    other = Scene(SceneConfig("cam-1", seed=6, **SMALL))
    assert not np.array_equal(a.frame(17), other.frame(17))
    assert a.ground_truth != other.ground_truth


def test_frames_can_be_drawn_in_any_order() -> None:
    scene = Scene(SceneConfig("cam-1", seed=2, **SMALL))
    late_first = scene.frame(40)
    for i in range(40):
        scene.frame(i)
    assert np.array_equal(late_first, scene.frame(40))


def test_ground_truth_boxes_are_inside_the_frame_and_both_classes_appear() -> None:
    config = SceneConfig("cam-1", seed=1, people=8, vehicles=8, collision_at_s=3.0, **SMALL)
    truth = Scene(config).ground_truth
    classes = set()
    for frame in truth.frames:
        for obj in frame.objects:
            b = obj.bbox
            assert 0 <= b.x0 < b.x1 <= config.width and 0 <= b.y0 < b.y1 <= config.height, obj
            classes.add(obj.cls)
    assert classes == {"person", "vehicle"}
    assert len(truth.frames) == config.frame_count == 60


def test_collision_is_in_the_truth_when_requested_and_the_cars_stay_stopped() -> None:
    config = SceneConfig("cam-1", seed=4, collision_at_s=2.5, **SMALL)
    scene = Scene(config)
    (incident,) = scene.incidents
    assert (incident.kind, incident.start_s) == ("collision", 2.5)
    boxes = {
        i: {
            o.object_id: o.bbox
            for o in scene.truth(i).objects
            if o.object_id in incident.object_ids
        }
        for i in (25, 40, 59)
    }
    assert boxes[25] == boxes[40] == boxes[59] and len(boxes[25]) == 2
    a, b = boxes[25].values()
    assert a.x0 <= b.x1 and b.x0 <= a.x1  # touching: a rear-end collision
    assert [f.active_incidents for f in scene.ground_truth.frames[24:26]] == [(), (0,)]
    assert Scene(SceneConfig("cam-1", seed=4, **SMALL)).incidents == ()


def test_truth_survives_a_json_round_trip() -> None:
    truth = Scene(SceneConfig("cam-1", seed=3, collision_at_s=1.0, **SMALL)).ground_truth
    assert SceneTruth.from_json(truth.to_json()) == truth


def test_night_is_darker_than_day_and_the_stamp_stays_readable() -> None:
    scene = Scene(SceneConfig("cam-1", seed=3, people=0, vehicles=0, **SMALL))
    noon, midnight = scene.frame(0), scene.frame(30)  # cycle = clip: darkest at half-way
    assert midnight[60:].mean() < 0.55 * noon[60:].mean()
    assert scene.brightness(3.0) == pytest.approx(0.4)
    banner = midnight[:20, :200]
    assert (banner > 200).any() and (banner < 10).mean() > 0.5  # white text on black


def test_hog_people_detector_finds_the_figures() -> None:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    scene = Scene(SceneConfig("cam-1", seed=0, people=6, vehicles=4, **SMALL))
    checked = found = 0
    for i in range(0, 60, 6):
        people = [
            o.bbox
            for o in scene.truth(i).objects
            if o.cls == "person" and 0 < o.bbox.x0 and o.bbox.x1 < SMALL["width"]
        ]
        if not people:
            continue
        checked += 1
        rects, _ = hog.detectMultiScale(
            scene.frame(i), winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        found += any(
            _iou(BBox(x, y, x + w, y + h), p) > 0.3 for x, y, w, h in rects for p in people
        )
    assert checked >= 5 and found / checked >= 0.6, (found, checked)


def _iou(a: BBox, b: BBox) -> float:
    w = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    h = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


def test_bad_config_values_are_named() -> None:
    with pytest.raises(ValueError, match=r"collision_at_s = 9.0; expected inside the clip"):
        SceneConfig("cam-1", collision_at_s=9.0, **SMALL)
    with pytest.raises(ValueError, match=r"width = 641; expected an even number"):
        SceneConfig("cam-1", width=641, height=360)
    profile = EncodeProfile(width=640, height=360, fps=15)
    with pytest.raises(ValueError, match=r"EncodeProfile.fps=15 but SceneConfig.fps=10"):
        encode_clip(profile, SceneConfig("cam-1", **SMALL))


def test_encoded_clip_opens_with_keyframes_at_the_interval_and_is_reused(tmp_path) -> None:
    profile = EncodeProfile(width=640, height=360, fps=10, bitrate_mbps=0.4, gop_frames=12)
    scene = SceneConfig("cam-1", seed=9, collision_at_s=3.0, **SMALL)
    clip = encode_clip(profile, scene, cache_dir=tmp_path)
    with av.open(str(clip.path)) as f:
        v = f.streams.video[0]
        assert (v.codec_context.name, v.codec_context.width, v.codec_context.height) == (
            "h264",
            640,
            360,
        )
        frames = sum(1 for _ in f.decode(v))
    assert frames == 60
    assert keyframe_indices(clip.path) == [0, 12, 24, 36, 48]
    assert clip.truth() == Scene(scene).ground_truth
    mtime = clip.path.stat().st_mtime_ns
    again = encode_clip(profile, scene, cache_dir=tmp_path)
    assert again == clip and clip.path.stat().st_mtime_ns == mtime
    other = EncodeProfile(width=640, height=360, fps=10, bitrate_mbps=0.4, gop_frames=20)
    assert clip_key(other, scene) != clip_key(profile, scene)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".mp4"]


def test_visibility_counts_what_the_frame_edge_and_objects_in_front_hide() -> None:
    cfg = SceneConfig("cam-v", seed=3, people=6, vehicles=4, collision_at_s=4.0, **SMALL)
    scene = Scene(cfg)
    seen = [o for i in range(cfg.frame_count) for o in scene.truth(i).objects]
    assert all(0.0 <= o.visible <= 1.0 for o in seen)
    inside = [o for o in seen if o.bbox.x0 > 0 and o.bbox.x1 < cfg.width and o.cls == "person"]
    cut = [o for o in seen if o.bbox.x0 == 0 or o.bbox.x1 == cfg.width]
    assert inside and cut
    # A box cut by the frame edge to a sliver shows a small share of its object.
    slivers = [o for o in cut if o.bbox.width < 0.1 * o.bbox.height]
    assert slivers and all(o.visible < 0.5 for o in slivers)
    # Alone in the middle of the frame, nothing hides a figure (counted at quarter size, a
    # figure touching a box below it may lose a few per cent to rounding).
    lone = [
        o
        for i in range(cfg.frame_count)
        for o in scene.truth(i).objects
        if o.cls == "person"
        and o.bbox.x0 > 0
        and o.bbox.x1 < cfg.width
        and not any(
            p is not o
            and _iou(o.bbox, p.bbox) > 0
            and (p.bbox.y1 > o.bbox.y1 or p.cls == "vehicle")
            for p in scene.truth(i).objects
        )
    ]
    assert lone and all(o.visible >= 0.95 for o in lone)
    assert sum(o.visible == 1.0 for o in lone) >= 0.8 * len(lone)


def test_a_figure_behind_another_is_partly_hidden() -> None:
    # Two walkers crossing: the one drawn first (further back) loses pixels where they overlap.
    cfg = SceneConfig("cam-o", seed=1, people=8, vehicles=0, **SMALL)
    scene = Scene(cfg)
    hidden = [
        o
        for i in range(cfg.frame_count)
        for o in scene.truth(i).objects
        if o.bbox.x0 > 0 and o.bbox.x1 < cfg.width and o.visible < 0.95
    ]
    assert hidden, "eight walkers in six seconds cross each other at least once"
    assert min(o.visible for o in hidden) < 0.9
