"""One base error for the project, with specific subclasses.

Every message names the bad value, what was expected and how to fix it; scenario errors
also name the file and the field path. Each error carries the exit code `twin` ends with
when it reaches the command line (README, "Exit codes"): 2 for bad input (a scenario, a file,
an argument), 3 for a part of the twin that could not run, 4 for a live run whose harness
did not keep its plan (its figures are not the deployment's). (The MediaMTX server's error is
synthetic_streams.errors.MediaServerError, exit code 3: that package stands on its own.)
"""

from __future__ import annotations

__all__ = [
    "TwinError",
    "ScenarioError",
    "UsageError",
    "CapacityError",
    "CatalogError",
    "AccessDenied",
    "AuditError",
    "EvidenceError",
    "InvalidRun",
]


class TwinError(Exception):
    """Base of every error the twin raises on purpose."""

    exit_code: int = 3  # a part of the twin could not run


class ScenarioError(TwinError):
    """A scenario file is missing, unreadable or invalid (the message names file and field)."""

    exit_code = 2


class UsageError(TwinError):
    """A command-line argument is out of range or names a place the twin cannot use (the
    message names the argument, the bad value and the fix)."""

    exit_code = 2


class InvalidRun(TwinError):
    """A live run whose harness did not keep its plan (results.json `validity.valid` false):
    its figures are not the deployment's, so fidelity and calibration refuse it (exit 4)
    unless told `--accept-invalid`."""

    exit_code = 4


class CapacityError(TwinError):
    """A request would put a recorder over one of its limits."""


class CatalogError(TwinError):
    """The segment catalog was asked for something inconsistent with its contents."""


class AccessDenied(TwinError):
    """Footage use was refused: no approval from an officer of a high enough rank."""


class AuditError(TwinError):
    """The audit trail is broken: an entry was edited, removed or reordered."""


class EvidenceError(TwinError):
    """Evidence preservation was asked for something inconsistent with its cases: an unknown or
    closed case, a copy that is not in the plan, or a copy whose hash disagrees with the source."""
