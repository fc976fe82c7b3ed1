"""Analytics on synthetic frames (no Ray, no server): motion -> people/vehicles -> incidents,
scored against the generator's truth, keyframes only, as the live analyser sees them."""

from __future__ import annotations

import av
import pytest

from synthetic_streams.encode import EncodeProfile, encode_clip
from synthetic_streams.scene import SceneConfig, SceneTruth
from twin.live.analytics import CameraAnalytics, iou, match


@pytest.fixture(scope="module")
def keyframes(tmp_path_factory: pytest.TempPathFactory):
    profile = EncodeProfile(width=640, height=360, fps=15, bitrate_mbps=0.5, gop_frames=15)
    scene = SceneConfig(
        "an-test",
        width=640,
        height=360,
        fps=15,
        duration_s=12.0,
        seed=21,
        people=5,
        vehicles=4,
        collision_at_s=5.0,
        night_depth=0.15,
    )
    clip = encode_clip(profile, scene, cache_dir=tmp_path_factory.mktemp("clips"))
    frames = []
    with av.open(str(clip.path)) as f:
        for i, p in enumerate(q for q in f.demux(f.streams.video[0]) if q.size):
            if p.is_keyframe:
                frames += [(i, fr.to_ndarray(format="bgr24")) for fr in p.decode()]
    return clip.truth(), frames


def test_match_pairs_boxes_one_to_one() -> None:
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert match([(0, 0, 10, 10), (1, 1, 10, 10)], [(0, 0, 10, 10)]) == 1
    assert match([(0, 0, 10, 10)], [(50, 50, 60, 60)]) == 0


def test_collisions_are_alerted_within_two_keyframes_and_people_are_found(keyframes) -> None:
    truth, frames = keyframes
    clip_s = truth.config.frame_count / truth.config.fps
    ca = CameraAnalytics(640, 360)
    alerts: list[float] = []
    tp = det = 0
    loops = 4
    for loop in range(loops):
        for i, img in frames:
            dets, al = ca.process(img, loop * clip_s + i / 15)
            alerts += [a.t_s for a in al]
            if ca.warm:
                people = [
                    (o.bbox.x0, o.bbox.y0, o.bbox.x1, o.bbox.y1)
                    for o in truth.frames[i].objects
                    if o.cls == "person"
                ]
                found = [d.box for d in dets if d.cls == "person"]
                tp += match(found, people)
                det += len(found)
    incidents = [loop * clip_s + truth.incidents[0].start_s for loop in range(loops)]
    latencies = [min((a - t for a in alerts if 0 <= a - t <= 10), default=None) for t in incidents]
    assert sum(x is not None for x in latencies) >= loops - 1, (alerts, incidents)
    assert all(x <= 2.0 + 1e-9 for x in latencies if x is not None)
    # One alert per collision; at most one spurious one (a ghost of the departed cars) in 4 loops.
    assert len(alerts) <= loops + 1
    assert det and tp / det >= 0.8


def test_parts_of_a_figure_merge_but_a_person_above_a_car_stays_apart() -> None:
    from twin.live.analytics import merge_parts

    area = 640 * 360
    min_area, vehicle_area = area * 0.0015, area * 0.01
    head, body, legs = (100, 40, 118, 56), (86, 58, 132, 130), (92, 134, 126, 200)
    assert merge_parts([head, body, legs], 6, min_area, vehicle_area) == [(86, 40, 132, 200)]
    person, car = (372, 82, 442, 216), (432, 212, 562, 270)
    assert sorted(merge_parts([person, car], 6, min_area, vehicle_area)) == [person, car]
    # Two cars, one in each lane, are stacked but stay two cars.
    near, far = (208, 212, 344, 272), (226, 274, 494, 336)
    assert sorted(merge_parts([near, far], 6, min_area, vehicle_area)) == [near, far]
    # A shirt the colour of the wall: torso and legs 15 px apart, stacked, are one figure.
    torso, legs2 = (200, 60, 240, 120), (205, 135, 235, 210)
    assert merge_parts([torso, legs2], 6, min_area, vehicle_area) == [(200, 60, 240, 210)]


def test_scoring_ignores_objects_mostly_hidden_but_counts_a_hit_on_a_scored_one() -> None:
    from synthetic_streams.scene import BBox, FrameTruth, ObjectTruth
    from twin.live.analyser import CameraScore, score_frame
    from twin.live.analytics import Detection

    front = ObjectTruth(1, "person", BBox(123, 83, 184, 217), 1.0)
    back = ObjectTruth(2, "person", BBox(110, 45, 204, 205), 0.6)  # under 65 % visible
    before = FrameTruth(0, 0.0, 1.0, (), ())
    now = FrameTruth(1, 0.1, 1.0, (front, back), ())
    truth = SceneTruth(
        SceneConfig("s", width=640, height=360, fps=10, duration_s=0.2), (), (before, now)
    )
    s = CameraScore("c")
    # One box over both: a hit on the scored figure, not a miss because it also covers the other.
    score_frame(s, [Detection("person", (118, 44, 196, 216))], truth, 1, 1, 1.0, 100)
    assert (s.tp["person"], s.detections["person"], s.truths["person"]) == (1, 1, 1)
    s = CameraScore("c")
    # A second box on the mostly hidden one is neither right nor wrong; one elsewhere is wrong.
    dets = [
        Detection("person", (123, 83, 184, 217)),
        Detection("person", (110, 45, 204, 205)),
        Detection("person", (400, 50, 450, 200)),
    ]
    score_frame(s, dets, truth, 1, 1, 1.0, 100)
    assert (s.tp["person"], s.detections["person"], s.truths["person"]) == (1, 2, 1)


def test_people_recall_on_a_scored_clip(keyframes) -> None:
    """The analyser's chain and the live scoring on a clip of its own: the figures that are
    scored (moving, >= 65 % visible) are found, and little else is called a person."""
    from twin.live.analyser import CameraScore, score_frame

    truth, frames = keyframes
    ca = CameraAnalytics(640, 360)
    s = CameraScore("c")
    for loop in range(3):
        for i, img in frames:
            dets, _ = ca.process(img, loop * 12.0 + i / 15)
            if ca.warm:
                score_frame(s, dets, truth, i, 15, 1.0, 640 * 360 * 0.0015)
    assert s.truths["person"] >= 60
    assert s.tp["person"] / s.truths["person"] >= 0.9, (dict(s.tp), dict(s.truths))
    assert s.tp["person"] / s.detections["person"] >= 0.9, (dict(s.tp), dict(s.detections))


def test_a_stream_read_late_keeps_its_frames_on_air_times() -> None:
    """A reader that gets the connection's first packets 1.2 s late (a burst waiting in the
    socket) and then keeps up: on-air times settle on the true ones, not 1.2 s late."""
    from twin.live.analyser import StreamClock

    true_offset = 1000.0  # stream time 0 was on the air at wall time 1000
    clock = StreamClock()
    for k in range(10):  # the burst: 10 packets read at once, 1.2 s after the first aired
        clock.observe(true_offset + 1.2 + 0.001 * k, k / 15)
    assert clock.on_air(0.0) > true_offset + 0.5  # so far all it knows is late
    for k in range(10, 40):  # then read as they arrive, 20 ms of transport each
        clock.observe(true_offset + k / 15 + 0.02, k / 15)
    assert abs(clock.on_air(2.0) - (true_offset + 2.0)) <= 0.02 + 1e-9
