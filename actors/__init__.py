"""Ray actors of the live twin: thin shells that give core objects a process and a clock.

Each actor holds one object from twin.live (or synthetic_streams) and forwards calls to it;
the logic is tested without Ray. I/O-bound actors ask for no CPU (num_cpus=0) so a 2-core
machine can place ~20 of them.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CameraSetActor", "RecorderActor", "SweeperActor", "AnalyserActor", "RelayActor"]


def __getattr__(name: str) -> Any:  # a Ray actor class (ray.remote)
    modules = {
        "CameraSetActor": "camera_set",
        "RecorderActor": "recorder",
        "SweeperActor": "sweeper",
        "AnalyserActor": "analyser",
        "RelayActor": "relay",
    }
    if name not in modules:
        raise AttributeError(f"module 'actors' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{modules[name]}", __name__), name)
