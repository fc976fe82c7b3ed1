"""Daily bitrate curves: piecewise-constant factors over the hours of a day, integrated exactly.

Theory of operation
-------------------
A curve is a step function of the time of day: a factor holds from each of its hours (0-23,
on the scenario clock, t = 0 being midnight of the start date) to the next one given, and the
last wraps round to the first the next day. Footage written between t0 and t1 by a camera of
nominal rate `b` bytes/s is `b * (F(t1) - F(t0))`, with `F` the curve's cumulative integral:
`F(t) = floor(t / day) * F(day) + f(t mod day)`, `f` piecewise linear through the hour marks.
So a run of segments, a tick of the writer or a sweep's deletions cost the same few numpy
operations whatever their length: the cost follows the state changes, never camera-seconds.

Curve 0 of a `CurveSet` is the flat curve (factor 1 around the clock, `F(t) = t`); an engine
whose cameras are all on it runs exactly as it did before curves existed (it never calls
this module). The module is sans-IO: no clock, no files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DAY_S", "DailyCurve", "CurveSet"]

DAY_S = 86_400.0
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class DailyCurve:
    """Hourly factors of one day (24 values, hour h holding from h:00 to h+1:00)."""

    hourly: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.hourly) != 24:
            raise ValueError(f"a daily curve has 24 hourly factors, got {len(self.hourly)}")
        if min(self.hourly) < 0:
            raise ValueError(f"curve factors must be >= 0, got {min(self.hourly)}")

    @classmethod
    def from_steps(cls, steps: Mapping[int, float] | None) -> DailyCurve:
        """From `{hour: factor}`: each factor holds until the next hour given, wrapping round.
        None or an empty mapping is the flat curve."""
        if not steps:
            return cls((1.0,) * 24)
        hours = sorted(steps)
        if hours[0] < 0 or hours[-1] > 23:
            raise ValueError(f"curve hours must be 0-23, got {hours}")
        out = []
        for h in range(24):
            at = [x for x in hours if x <= h]
            out.append(float(steps[at[-1] if at else hours[-1]]))
        return cls(tuple(out))

    def times(self, other: DailyCurve) -> DailyCurve:
        return DailyCurve(tuple(a * b for a, b in zip(self.hourly, other.hourly)))

    @property
    def mean(self) -> float:
        return float(np.mean(self.hourly))

    @property
    def peak(self) -> float:
        return float(max(self.hourly))

    @property
    def flat(self) -> bool:
        return all(x == 1.0 for x in self.hourly)


class CurveSet:
    """Curves by index (0: flat), with vectorised cumulative integrals."""

    def __init__(self, curves: Sequence[DailyCurve]) -> None:
        self.curves: tuple[DailyCurve, ...] = (DailyCurve.from_steps(None), *curves)
        h = np.array([c.hourly for c in self.curves], dtype=np.float64)  # [curve, hour]
        self.hourly = h
        self.knots = np.concatenate(
            [np.zeros((h.shape[0], 1)), np.cumsum(h * 3600.0, axis=1)], axis=1
        )  # [curve, 25]: F at each hour mark of a day
        self.per_day = self.knots[:, -1]
        # F(t) within a day = offset[hour] + factor[hour] * seconds into the day; a 25th
        # hour (the next day's first) absorbs float noise at midnight without a clip.
        h25 = np.concatenate([h, h[:, :1]], axis=1)
        self._hourly25 = h25
        self._offset = self.knots[:, :25] - h25 * (3600.0 * np.arange(25))[None, :]
        self._offset[:, 24] = self.per_day - h[:, 0] * DAY_S
        self.mean = h.mean(axis=1)
        self.peak = h.max(axis=1)

    def __len__(self) -> int:
        return len(self.curves)

    def cumulative(
        self, curve: IntArray | int, t: FloatArray | float, single: int | None = None
    ) -> FloatArray:
        """F(t) of each curve (broadcast): factor-seconds from t = 0 to t. `single` says
        every element is on that one curve (the caller knows; saves the lookups)."""
        tt = np.asarray(t, dtype=np.float64)
        if tt.ndim and tt.size > 64:
            # All within one hour (a catalog's runs at their last segment boundary, mostly):
            # F is linear there, so F(t0) and the hour's factor give every value.
            t0 = float(tt.min())
            if np.floor(t0 / 3600.0) == np.floor(float(tt.max()) / 3600.0):
                h = int(np.floor((t0 % DAY_S) / 3600.0)) % 24
                if single is None:
                    c = np.asarray(curve, dtype=np.int64)
                    if c.ndim and int(c.min()) == int(c.max()):
                        single = int(c.flat[0])
                if single is not None:
                    f0 = float(self.cumulative(single, t0, single))
                    out0: FloatArray = f0 + self.hourly[single, h] * (tt - t0)
                    return out0
                every = np.arange(len(self.curves))
                f0s = self.cumulative(every, np.full(every.size, t0))
                out1: FloatArray = f0s[c] + self.hourly[:, h][c] * (tt - t0)
                return out1
        days = np.floor(tt * (1.0 / DAY_S))
        rest = tt - days * DAY_S  # seconds into the day (float noise may reach 86,400)
        k = (rest * (1.0 / 3600.0)).astype(np.int64)  # 0..24: hour 24 is the next day's 0
        if single is None:
            c = np.asarray(curve, dtype=np.int64)
            if c.ndim and c.size and int(c.min()) == int(c.max()):
                single = int(c.flat[0])
            elif c.ndim == 0:
                single = int(c)
        if single is not None:
            out: FloatArray = (
                days * self.per_day[single]
                + self._offset[single][k]
                + self._hourly25[single][k] * rest
            )
            return out
        j = c * 25 + k  # broadcasts as the sums below do: no broadcast_arrays copies needed
        out = days * self.per_day[c] + self._offset.ravel()[j] + self._hourly25.ravel()[j] * rest
        return out

    def integral(
        self, curve: IntArray | int, t0: FloatArray | float, t1: FloatArray | float
    ) -> FloatArray:
        """Factor-seconds of each curve over [t0, t1] (= t1 - t0 on the flat curve)."""
        out: FloatArray = self.cumulative(curve, t1) - self.cumulative(curve, t0)
        return out

    def integral_every(self, t0: float, t1: FloatArray) -> FloatArray:
        """Factor-seconds of every curve over [t0, t1[i]] (rows: t1; columns: curves): to the
        bit `integral(arange(curves)[None, :], t0, t1[:, None])`, with fewer steps where that
        takes its per-element method (64 times or fewer, twin.core.curves.cumulative)."""
        tt = np.asarray(t1, dtype=np.float64)[:, None]
        a = np.full((1, 1), t0, dtype=np.float64)
        if tt.size > 64:
            every = np.arange(len(self.curves))[None, :]
            out: FloatArray = self.cumulative(every, tt) - self.cumulative(every, a)
            return out
        return self._every_curve(tt) - self._every_curve(a)

    def _every_curve(self, tt: FloatArray) -> FloatArray:
        """cumulative()'s per-element method for a column of times and every curve."""
        days = np.floor(tt * (1.0 / DAY_S))
        rest = tt - days * DAY_S
        k = (rest * (1.0 / 3600.0)).astype(np.int64)[:, 0]
        out: FloatArray = (
            days * self.per_day[None, :] + self._offset.T[k] + self._hourly25.T[k] * rest
        )
        return out

    def factor_at(self, curve: IntArray | int, t: FloatArray | float) -> FloatArray:
        """The factor in force at t."""
        tt = np.asarray(t, dtype=np.float64)
        hour = np.floor((tt % DAY_S) / 3600.0).astype(np.int64).clip(0, 23)
        out: FloatArray = self.hourly[np.asarray(curve, dtype=np.int64), hour]
        return out
