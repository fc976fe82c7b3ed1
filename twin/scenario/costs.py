"""Unit prices of a deployment: the optional `costs:` section of a scenario.

Every price here is an ASSUMPTION supplied by whoever writes the scenario (no public
tender figures are known to the twin); the twin only multiplies them by the quantities a
deployment provisions. Prices are in Hong Kong dollars (HKD), capital cost, no
amortisation, no operating cost. What a deployment costs is computed in twin/model/provisioning.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.scenario.numbers import refuse_non_numbers

__all__ = ["Costs"]


class Costs(BaseModel):
    """Unit prices (HKD, assumptions) and the drive size used to count disks."""

    # No `.inf` / `.nan`: a price is a finite number (and results.json must stay JSON).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        return refuse_non_numbers(cls, data)

    recorder_hkd: float = Field(
        ge=0,
        le=1e9,
        description="One recorder server without its disks, HKD (assumption; at most 10^9, "
        "past any server's price).",
    )
    disk_hkd_per_tb: float = Field(
        ge=0,
        le=1e7,
        description="Usable disk, HKD per TB (10^12 bytes) (assumption; at most 10^7).",
    )
    backhaul_hkd_per_gbps: float = Field(
        ge=0,
        le=1e9,
        description="Provisioned district backhaul capacity, HKD per Gbps (assumption; at most "
        "10^9).",
    )
    drive_tb: float = Field(
        default=20.0,
        gt=0,
        le=1000,
        description="Usable TB per drive, to count the drives provisioned and needed (assumption; "
        "at most 1,000 TB, past any drive made).",
    )
