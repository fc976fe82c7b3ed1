"""Analytics on synthetic frames (no Ray, no server): motion -> people/vehicles -> incidents,
scored against the generator's truth, keyframes only, as the live analyser sees them."""

from __future__ import annotations


import av
import pytest

from synthetic_streams.encode import EncodeProfile, encode_clip
from synthetic_streams.scene import SceneConfig
from twin.live.analytics import CameraAnalytics, iou, match


@pytest.fixture(scope="module")
def keyframes(tmp_path_factory: pytest.TempPathFactory):
    profile = EncodeProfile(width=640, height=360, fps=15, bitrate_mbps=0.5, gop_frames=15)
    scene = SceneConfig("an-test", width=640, height=360, fps=15, duration_s=12.0, seed=21,
                        people=5, vehicles=4, collision_at_s=5.0, night_depth=0.15)
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
                people = [(o.bbox.x0, o.bbox.y0, o.bbox.x1, o.bbox.y1)
                          for o in truth.frames[i].objects if o.cls == "person"]
                found = [d.box for d in dets if d.cls == "person"]
                tp += match(found, people)
                det += len(found)
    incidents = [loop * clip_s + truth.incidents[0].start_s for loop in range(loops)]
    latencies = [min((a - t for a in alerts if 0 <= a - t <= 10), default=None)
                 for t in incidents]
    assert sum(x is not None for x in latencies) >= loops - 1, (alerts, incidents)
    assert all(x <= 2.0 + 1e-9 for x in latencies if x is not None)
    # One alert per collision; at most one spurious one (a ghost of the departed cars) in 4 loops.
    assert len(alerts) <= loops + 1
    assert det and tp / det >= 0.8
