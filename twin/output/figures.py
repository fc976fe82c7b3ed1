"""Saving matplotlib figures the one way every plot of the twin does (Agg, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["save_figure"]


def save_figure(fig: Any, path: Path, dpi: int = 110) -> str:
    """Lay out, write as PNG and close `fig`; returns the file's name (for reports)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path.name
