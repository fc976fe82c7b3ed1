"""Writing a run folder, the one way for both engines: results.json, report.md, report.html.

Each engine's own tables and plots are written first (twin.output.sim_plots.write_sim_run for
a simulated run, twin.output.live_run for a live one); `write_run_folder` names them in the results'
`files`, in the order given, and writes the three files every run folder has. The command
line runs an engine and then calls this: no engine writes its own presentation.
"""

from __future__ import annotations

from pathlib import Path

from twin.model.results import Results, write_results
from twin.output.pages.render import HTML_NAME, write_run_html
from twin.output.report import write_report

__all__ = ["write_run_folder"]


def write_run_folder(
    res: Results,
    tables: dict[str, str],
    plots: dict[str, str],
    out: Path,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """results.json (with every table, plot and page named in `files`), report.md and
    report.html into `out`; returns report.md's path (a live run appends its own section)."""
    res.files = {
        **tables,
        **{f"plot:{k}": v for k, v in plots.items()},
        "report": "report.md",
        "report_html": HTML_NAME,
        **(extra_files or {}),
    }
    write_results(res, out)
    path = write_report(res, plots, out)
    write_run_html(res, plots, out)
    return path
