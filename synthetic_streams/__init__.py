"""Synthetic CCTV streams and the MediaMTX server they are published to.

Only synthetic video: scenes are drawn with numpy + OpenCV, never taken from real footage.
"""

from __future__ import annotations

__all__: list[str] = []
