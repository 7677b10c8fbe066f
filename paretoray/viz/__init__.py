"""See the front: the view model of a run directory, its plotly figures, a self-contained HTML
report and a live, read-only dashboard.

Example:
    >>> from paretoray.viz import build_view, write_report  # doctest: +SKIP
    >>> view = build_view("runs/zdt1")                     # doctest: +SKIP
    >>> write_report(["runs/zdt1"], "report.html")          # doctest: +SKIP

``paretoray dashboard RUN_DIR`` serves the live page; ``paretoray report RUN_DIR -o FILE``
writes the report. Plotly (and, for the dashboard, aiohttp) are imported only here.
"""

from paretoray.viz.data import build_view

__all__ = ["build_view", "write_report"]


def __getattr__(name: str):  # write_report imports plotly: load it only when asked for
    if name == "write_report":
        from paretoray.viz.report import write_report

        return write_report
    raise AttributeError(f"module 'paretoray.viz' has no attribute {name!r}")
