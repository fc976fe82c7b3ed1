"""The compute a city needs, extrapolated from what a calibration measured on one machine.

A calibration (twin.scenario.calibration, `twin calibrate`) says how much of a core one
recorder stream (`recorder_cpu_pct_per_stream`), one Mbps a recorder writes
(`recorder_cpu_pct_per_mbps`) and one stream through the relay (`relay_cpu_pct_per_stream`)
cost on the machine that ran the live trial. A simulated run says how many cameras the city
records, at how many Mbps, on which recorders. Together:

- recording cores = cameras x recorder_cpu_pct_per_stream / 100, and by Mbps = the streams'
  Mbps x recorder_cpu_pct_per_mbps / 100 (the larger is the one to provision);
- relay cores = cameras x relay_cpu_pct_per_stream / 100 (each camera relayed once);
- recorder processes = the scenario's recorders, one process each; per pool, the cores one
  process needs at its busiest recorder's peak (streams and Mbps) and filled to the vendor's
  limit that binds first (`max_streams`, or `ingest_mbps` at the city's mean Mbps a stream),
  and the pool's cores; each the larger of the figure by streams and by Mbps.

These are straight-line extrapolations of one machine's measurement (its CPU, its encoder
settings, MediaMTX's build, stream copy without transcoding): no contention, no scheduling
loss, no headroom. The simulator has no CPU model; nothing here changes a metric. The
Mbps are the streams' as the simulation carries them (each profile's bitrate), while the
calibration measured per Mbps the streams really carried: the same within the calibration's
bytes_per_nominal_mbps.
"""

from __future__ import annotations

from typing import Any

from twin.model.results import Results
from twin.scenario.calibration import Calibration

__all__ = ["SIZING_TITLE", "SIZING_CAVEAT", "POOL_COLUMNS", "city_needs", "needs_rows", "pool_rows"]

SIZING_TITLE = "Compute the city needs (from the calibration)"
SIZING_CAVEAT = (
    "Extrapolated in a straight line from CPU measured by live runs on one machine "
    "(its cores, encoder settings and MediaMTX, stream copy): no contention, no headroom. "
    "Plan for more, and measure a recorder at its limit (bench/bench_recorder.py) before "
    "buying."
)


def _r(x: float) -> float:
    return float(round(x, 6))


def city_needs(res: Results, cal: Calibration, path: str) -> dict[str, Any] | None:
    """What the city of `res` needs by the calibration `cal` (named `path`); None when the
    calibration measured no recorder CPU (nothing to extrapolate from)."""
    rec = cal.recorder_cpu_pct_per_stream
    if rec is None:
        return None
    per_mbps = cal.recorder_cpu_pct_per_mbps
    relay = cal.relay_cpu_pct_per_stream
    cameras = res.metrics.get("cameras", 0.0)
    mbps = res.metrics.get("ingest_total_mbps", 0.0)
    out: dict[str, Any] = {
        "calibration": path,
        "caveat": SIZING_CAVEAT,
        "cameras": int(cameras),
        "streams_mbps": _r(mbps),
        "recorder_cpu_pct_per_stream": rec.value,
        "recording_cores_by_streams": _r(cameras * rec.value / 100),
        "recorder_streams_per_core": _r(100 / rec.value),
        "recorder_processes": len(res.per_recorder),
    }
    need = out["recording_cores_by_streams"]
    if per_mbps is not None:
        out["recorder_cpu_pct_per_mbps"] = per_mbps.value
        out["recording_cores_by_mbps"] = _r(mbps * per_mbps.value / 100)
        need = max(need, out["recording_cores_by_mbps"])
    out["recording_cores"] = need
    if relay is not None:
        out["relay_cpu_pct_per_stream"] = relay.value
        out["relay_cores"] = _r(cameras * relay.value / 100)
        need += out["relay_cores"]
    out["cores"] = _r(need)
    pm = 0.0 if per_mbps is None else per_mbps.value

    def cores(streams: float, stream_mbps: float) -> float:  # the larger of the two
        return max(streams * rec.value, stream_mbps * pm) / 100

    def peak_mbps(r: dict[str, Any]) -> float:  # its highest ingest, else at the end
        if "ingest_util_pct_max" in r and "ingest_limit_mbps" in r:
            return float(r["ingest_util_pct_max"]) * float(r["ingest_limit_mbps"]) / 100
        return float(r.get("ingest_mbps", 0.0))

    pools: dict[str, list[dict[str, Any]]] = {}
    for row in res.per_recorder:
        pools.setdefault(str(row.get("pool", "")), []).append(row)
    out["pools"] = []
    for name, rows in pools.items():
        limit = max(int(r.get("stream_limit", 0)) for r in rows)
        ingest = max(float(r.get("ingest_limit_mbps", 0.0)) for r in rows)
        # A recorder at its peak: its most streams, its highest ingest.
        peaks = [(int(r.get("streams_max", r.get("cameras", 0))), peak_mbps(r)) for r in rows]
        busiest = max(cores(st, mb) for st, mb in peaks)
        # Filled to whichever vendor limit binds first: its streams, or its Mbps at the
        # city's mean Mbps a stream.
        per_stream = mbps / cameras if cameras > 0 else 0.0
        at_limit = cores(limit, min(ingest, limit * per_stream))
        out["pools"].append(
            {
                "pool": name,
                "recorder_processes": len(rows),
                "max_streams": limit,
                "ingest_mbps": _r(ingest),
                "cameras": sum(int(r.get("cameras", 0)) for r in rows),
                "streams_busiest": max(st for st, _ in peaks),
                "cores": _r(
                    sum(
                        cores(int(r.get("cameras", 0)), float(r.get("ingest_mbps", 0.0)))
                        for r in rows
                    )
                ),
                "cores_per_process_busiest": _r(busiest),
                "cores_per_process_at_limit": _r(at_limit),
            }
        )
    return out


def needs_rows(s: dict[str, Any]) -> list[tuple[str, float, str, str]]:
    """The city's needs as (what, value, unit, how) rows, in reading order."""
    cams, mbps = s["cameras"], s["streams_mbps"]
    rows = [
        (
            "recorder processes",
            float(s["recorder_processes"]),
            "",
            "one per recorder of the scenario's pools",
        ),
        (
            "recording cores, by streams",
            s["recording_cores_by_streams"],
            "cores",
            f"{cams:,} cameras x {s['recorder_cpu_pct_per_stream']:.3g} % of a core each",
        ),
    ]
    limits = sorted({p["max_streams"] for p in s["pools"]})
    rows.append(
        (
            "streams one recording core carries",
            s["recorder_streams_per_core"],
            "streams",
            f"100 / {s['recorder_cpu_pct_per_stream']:.3g}; the vendor's limit a recorder: "
            + ", ".join(f"{x:,}" for x in limits)
            + " streams",
        )
    )
    if "recording_cores_by_mbps" in s:
        rows.append(
            (
                "recording cores, by Mbps",
                s["recording_cores_by_mbps"],
                "cores",
                f"{mbps:,.0f} Mbps x {s['recorder_cpu_pct_per_mbps']:.3g} % of a core per Mbps",
            )
        )
    if "relay_cores" in s:
        rows.append(
            (
                "relay cores",
                s["relay_cores"],
                "cores",
                f"{cams:,} cameras x {s['relay_cpu_pct_per_stream']:.3g} % of a core each",
            )
        )
    rows.append(
        (
            "cores in all",
            s["cores"],
            "cores",
            "the larger recording figure"
            + (" + the relay" if "relay_cores" in s else " (the relay not measured)"),
        )
    )
    return rows


POOL_COLUMNS = (
    "pool",
    "recorder processes",
    "vendor max_streams",
    "vendor ingest Mbps",
    "streams at the busiest",
    "cores per process (busiest)",
    "cores per process at the vendor limit",
    "cores of the pool",
)


def pool_rows(s: dict[str, Any]) -> list[tuple[str, int, int, float, int, float, float, float]]:
    """Each pool's processes and cores beside the vendor limits the scenario assumes."""
    return [
        (
            p["pool"],
            p["recorder_processes"],
            p["max_streams"],
            p["ingest_mbps"],
            p["streams_busiest"],
            p["cores_per_process_busiest"],
            p["cores_per_process_at_limit"],
            p["cores"],
        )
        for p in s["pools"]
    ]
