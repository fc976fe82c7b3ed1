"""A replications folder: replications.json, draws.csv, the distribution plots,
replications.md and report.html (the model and its markdown are twin.compare.replications)."""

from __future__ import annotations

import json
from pathlib import Path

from twin.compare.replications import (
    Draws,
    ReplicationResults,
    write_draws_csv,
    write_replications_markdown,
)
from twin.output.distribution_plots import plot_distributions
from twin.output.pages.answers import write_replications_html

__all__ = ["write_replications"]


def write_replications(res: ReplicationResults, draws: Draws, out: Path) -> Path:
    """replications.json, draws.csv, distribution plots and replications.md into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    write_draws_csv(draws, out / "draws.csv")
    png = plot_distributions(res, draws, out)
    res.files = {
        "draws": "draws.csv",
        "plot:distributions": png,
        "report": "replications.md",
        "report_html": "report.html",
    }
    path = out / "replications.json"
    path.write_text(json.dumps(res.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    write_replications_markdown(res, out, png)
    write_replications_html(res, {"distributions": png}, out)
    return path
