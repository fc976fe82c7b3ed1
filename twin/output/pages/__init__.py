"""report.html: the page a person opens in a browser, the answer first, then the evidence."""

from twin.output.pages.render import (
    HTML_NAME,
    write_check_html,
    write_compare_html,
    write_run_html,
    write_sweep_html,
)

__all__ = [
    "HTML_NAME",
    "write_run_html",
    "write_compare_html",
    "write_sweep_html",
    "write_check_html",
]
