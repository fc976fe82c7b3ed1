"""A live run's figures cover its window [t0, t_end], not what its recorders wrote while it
stopped: bytes of a segment straddling an end count for their share inside, and segments begun
after the end are left out of the fidelity's `segments_written` (numbers worked by hand)."""

from __future__ import annotations

from twin.compare.fidelity import engine_values
from twin.live.measure import bytes_in_window
from twin.model.results import Results, RunInfo, ScenarioInfo
from twin.storage.live_catalog import SegmentRow


def _row(i: int, start: float, end: float, size: int) -> SegmentRow:
    return SegmentRow(
        i, "cam", "r01", start, end, size, 90, f"cam/{i}.mp4", "", "stored", end, None
    )


def test_bytes_in_window_prorates_the_segments_across_each_end() -> None:
    rows = [
        _row(1, 0.5, 6.5, 600),
        _row(2, 6.5, 12.5, 600),  # inside
        _row(3, 57.0, 63.0, 600),  # half inside: 3 of its 6 s
        _row(4, 60.2, 60.4, 20),  # begun after the end
        _row(5, -2.0, 4.0, 600),
    ]  # begun before t0: 4 of 6 s inside
    assert bytes_in_window(rows, 0.0, 60.0) == 600 + 600 + 300 + 0 + 400
    assert bytes_in_window([], 0.0, 60.0) == 0.0


def test_the_fidelity_counts_the_segments_begun_within_the_run() -> None:
    def res(engine: str, metrics: dict[str, float]) -> Results:
        return Results(
            engine=engine,
            horizon_s=60.0,
            metrics=metrics,
            passed=True,
            scenario=ScenarioInfo(name="x", source="x.yaml", sha256="0" * 64, seed=1),
            targets=[],
            per_district=[],
            per_recorder=[],
            per_pool=[],
            run=RunInfo(started_at="t", wall_s=1.0, twin_version="0", python="3.11", host_cpus=2),
        )

    live = res("live", {"segments_written": 357.0, "live_segments_after_end": 7.0})
    assert engine_values(live)["segments_written"] == 350.0
    sim = res("simulate", {"segments_written": 338.0})
    assert engine_values(sim)["segments_written"] == 338.0
