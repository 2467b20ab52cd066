"""The report: one self-contained HTML page per run or set of runs (``untwine report``)."""

from untwine.explain.run_classifier import find_classifier, load_classifier
from untwine.report.html import read_run, render_report, write_report

__all__ = ["find_classifier", "load_classifier", "read_run", "render_report", "write_report"]
