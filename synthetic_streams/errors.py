"""The one error of this package: the MediaMTX server could not be installed, started,
reached or stopped.

synthetic_streams stands on its own (it imports nothing from the twin); the twin's command
line handles this error like its own (twin.cli.support.run_command: the message, exit 3).
"""

from __future__ import annotations

__all__ = ["MediaServerError"]


class MediaServerError(Exception):
    """The MediaMTX server could not be installed, started, reached or stopped."""

    exit_code: int = 3  # a part of the twin could not run (README, "Exit codes")
