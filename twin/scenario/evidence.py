"""The `evidence:` section of a scenario: preservation requests and rank-approved access.

Kept apart from twin/scenario/model.py (which only adds one optional field of this type, and
imports this module). Every figure here is an assumption
of the scenario, never a constant in code; the core rules they drive (plans, holds, the access
state machine, the audit trail) live in twin/core/evidence.py and twin/core/access.py.

Delays are in hours and are drawn from one of two distributions, chosen by `type:`:

- `lognormal`: given by its median and 90th percentile (`median_h`, `p90_h`), the usual way
  a "most within a day, a long tail of weeks" delay is described;
- `choice`: a list of delays (`hours`) with relative `weights`, for an empirical table.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from twin.scenario.numbers import ScenarioModel

__all__ = [
    "LognormalDelay",
    "ChoiceDelay",
    "Delay",
    "PreservationSettings",
    "AccessSettings",
    "EvidenceSettings",
]

_Z90 = 1.2815515655446004  # standard normal 90th percentile
MAX_DELAY_H = 87_600.0  # ten years: no request, approval or case outlives the longest run
# A camera with more than 100 incidents or requests a day would be watched, not sampled; and
# the simulation draws one event each.
MAX_PER_CAMERA_DAY = 100.0


_Model = ScenarioModel


class LognormalDelay(_Model):
    """A lognormal delay with the given median and 90th percentile, hours."""

    type: Literal["lognormal"] = "lognormal"
    median_h: float = Field(
        gt=0, le=MAX_DELAY_H, description="Median delay, hours (at most ten years)."
    )
    p90_h: float = Field(
        gt=0,
        le=MAX_DELAY_H,
        description="90th percentile of the delay, hours (> median_h; at most ten years).",
    )

    @model_validator(mode="after")
    def _p90_above_median(self) -> LognormalDelay:
        if not self.p90_h > self.median_h:
            raise ValueError(
                f"p90_h ({self.p90_h}) must be greater than median_h ({self.median_h}); for a "
                "fixed delay use type: choice with one value"
            )
        return self

    @property
    def mu_sigma(self) -> tuple[float, float]:
        """Parameters of the underlying normal distribution (of ln hours)."""
        mu = math.log(self.median_h)
        return mu, (math.log(self.p90_h) - mu) / _Z90


class ChoiceDelay(_Model):
    """Delays from a table: `hours[i]` with relative weight `weights[i]`."""

    type: Literal["choice"] = "choice"
    hours: list[Annotated[float, Field(ge=0, le=MAX_DELAY_H)]] = Field(
        min_length=1, description="Delays, hours (at most ten years)."
    )
    weights: list[Annotated[float, Field(ge=0, le=1e6)]] | None = Field(
        default=None, description="Relative weights of `hours` (default: all equal; 0 to 10^6)."
    )

    @model_validator(mode="after")
    def _weights_match(self) -> ChoiceDelay:
        if self.weights is not None:
            if len(self.weights) != len(self.hours):
                raise ValueError(
                    f"weights has {len(self.weights)} values but hours has {len(self.hours)}: "
                    "give one weight per delay"
                )
            if sum(self.weights) <= 0:
                raise ValueError("at least one weight must be > 0")
        return self


Delay = Annotated[Union[LognormalDelay, ChoiceDelay], Field(discriminator="type")]


class PreservationSettings(_Model):
    """Incidents whose footage an investigation asks to preserve, and how that goes."""

    incidents_per_camera_day: float = Field(
        ge=0,
        le=MAX_PER_CAMERA_DAY,
        description="Incidents that lead to a preservation request, per camera per day (at "
        "most 100).",
    )
    cameras: Literal["camera", "set"] = Field(
        default="set",
        description="What a request names: the incident's camera, or every camera of its set.",
    )
    window_before_s: float = Field(
        default=900,
        ge=0,
        le=31 * 86_400,
        description="Footage asked for before the incident, seconds (at most a month).",
    )
    window_after_s: float = Field(
        default=900,
        ge=0,
        le=31 * 86_400,
        description="Footage asked for after the incident, seconds (at most a month).",
    )
    request_delay: Delay = Field(
        description="Time from the end of the window to the preservation request."
    )
    copy_time_s: float = Field(
        default=3600,
        ge=0,
        le=31 * 86_400,
        description="Time from the request to the evidence copy being complete, s (at most a "
        "month).",
    )
    case_days: float = Field(
        default=180,
        gt=0,
        le=3650,
        description="Time from the request until the case closes and its copy is deleted, days "
        "(at most ten years).",
    )

    @model_validator(mode="after")
    def _window(self) -> PreservationSettings:
        if self.window_before_s + self.window_after_s <= 0:
            raise ValueError(
                "window_before_s + window_after_s must be > 0: a request needs footage"
            )
        return self


class AccessSettings(_Model):
    """Requests to view or export recorded footage, approved by rank (core/access.py)."""

    requests_per_camera_day: float = Field(
        ge=0,
        le=MAX_PER_CAMERA_DAY,
        description="Access requests (view or export) per camera per day (at most 100).",
    )
    export_share: float = Field(default=0.3, ge=0, le=1, description="Share that are exports.")
    window_s: float = Field(
        default=1800,
        gt=0,
        le=31 * 86_400,
        description="Footage window a request names, s (at most a month).",
    )
    lookback_days: float = Field(
        default=7,
        gt=0,
        le=3650,
        description="The window ends at most this long before the request, days (at most ten "
        "years).",
    )
    ranks: list[str] = Field(
        min_length=1, description="Every rank, lowest first (AccessPolicy.ranks)."
    )
    view_min_rank: str = Field(description="Lowest rank that may approve a view.")
    export_min_rank: str = Field(description="Lowest rank that may approve an export.")
    expire_after_h: float = Field(
        default=72,
        gt=0,
        le=MAX_DELAY_H,
        description="A pending request expires after this, h (at most ten years).",
    )
    valid_for_h: float = Field(
        default=24,
        gt=0,
        le=MAX_DELAY_H,
        description="An approval is good for this long, h (at most ten years).",
    )
    requester_ranks: dict[str, Annotated[float, Field(ge=0, le=1e6)]] = Field(
        description="Relative weights of the requesting officer's rank."
    )
    view_approver_ranks: dict[str, Annotated[float, Field(ge=0, le=1e6)]] = Field(
        description="Relative weights of the rank of the officer who decides on a view request "
        "(ranks below view_min_rank are too junior: their attempt is denied)."
    )
    export_approver_ranks: dict[str, Annotated[float, Field(ge=0, le=1e6)]] = Field(
        description="Relative weights of the rank of the officer who decides on an export request."
    )
    approval_delay: Delay = Field(description="Time from a request to its decision.")
    refer_up: bool = Field(
        default=True,
        description="A request a too-junior officer tried to decide is referred to an officer of "
        "the minimum rank, who decides after another approval_delay (else it just expires).",
    )
    refuse_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of decisions by a senior enough officer that refuse.",
    )
    use_delay_h: float = Field(
        default=0.5,
        ge=0,
        le=MAX_DELAY_H,
        description="Time from approval to the use, h (at most ten years).",
    )
    attempt_without_approval: bool = Field(
        default=True,
        description="A requester whose request was not approved tries to use the footage anyway "
        "(the attempt must be refused and audited).",
    )

    @model_validator(mode="after")
    def _ranks_known(self) -> AccessSettings:
        if len(set(self.ranks)) != len(self.ranks):
            raise ValueError(f"ranks {self.ranks} must be distinct")
        for name in ("view_min_rank", "export_min_rank"):
            if getattr(self, name) not in self.ranks:
                raise ValueError(
                    f"{name} {getattr(self, name)!r} is not one of the ranks {self.ranks}"
                )
        for name in ("requester_ranks", "view_approver_ranks", "export_approver_ranks"):
            weights = getattr(self, name)
            unknown = sorted(set(weights) - set(self.ranks))
            if unknown:
                raise ValueError(
                    f"{name} names unknown ranks {unknown}; expected some of {self.ranks}"
                )
            if sum(weights.values()) <= 0:
                raise ValueError(f"{name}: at least one weight must be > 0")
        return self


class EvidenceSettings(_Model):
    """Evidence handling simulated beside the recording (twin/sim/evidence.py)."""

    preservation: PreservationSettings
    access: AccessSettings
    expiry_check_s: int = Field(
        default=3600,
        ge=1,
        le=86_400,
        description="How often pending requests and approvals are expired, s (at most a day).",
    )
