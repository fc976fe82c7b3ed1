"""One base error for the project, with specific subclasses.

Every message names the bad value, what was expected and how to fix it; scenario errors
also name the file and the field path.
"""

from __future__ import annotations

__all__ = [
    "TwinError",
    "ScenarioError",
    "CapacityError",
    "CatalogError",
    "AccessDenied",
    "AuditError",
    "MediaServerError",
    "EvidenceError",
]


class TwinError(Exception):
    """Base of every error the twin raises on purpose."""


class ScenarioError(TwinError):
    """A scenario file is missing, unreadable or invalid (the message names file and field)."""


class CapacityError(TwinError):
    """A request would put a recorder over one of its limits."""


class CatalogError(TwinError):
    """The segment catalog was asked for something inconsistent with its contents."""


class AccessDenied(TwinError):
    """Footage use was refused: no approval from an officer of a high enough rank."""


class AuditError(TwinError):
    """The audit trail is broken: an entry was edited, removed or reordered."""


class MediaServerError(TwinError):
    """The MediaMTX server could not be installed, started, reached or stopped."""


class EvidenceError(TwinError):
    """Evidence preservation was asked for something inconsistent with its cases: an unknown or
    closed case, a copy that is not in the plan, or a copy whose hash disagrees with the source."""
