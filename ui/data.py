"""The data set from the page: `make data` behind a button, for a checkout (or a Community Cloud app) that
has no data yet. The same sources, SHA-256 checks and atomic install as `make data`; what happened comes back
as one result with a message, never an exception.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from model.dataset import DIR_ENV, FILES, DatasetError, fetch_catvnoncat
from ui.resources import DATA_ENV
from ui.text import escape_markdown_keep_code

FETCH_LABEL = "Download the data set (3 MB)"  # the two course files, 2.6 MB and 0.6 MB
MB = 1e6
log = logging.getLogger(__name__)

Report = Callable[[float, str], None]  # (fraction done in [0, 1], a line of text for the progress bar)


@dataclass(frozen=True)
class Fetched:
    """How fetching the data set went: `message` is Markdown for the page (empty on success)."""

    ok: bool
    message: str = ""


class FetchProgress:
    """Turns fetch_catvnoncat's per-file progress(done, total, name) into one bar for both files: each file
    fills its share of the bar. Reports only when the bar moves by a whole percent (each report is a message
    to the browser)."""

    def __init__(self, report: Report, files=FILES):
        self.report, self.files = report, tuple(files)
        self.last: tuple | None = None

    def __call__(self, done: int, total: int | None, name: str) -> None:
        index = self.files.index(name) if name in self.files else 0
        share = min(done / total, 1.0) if total else 0.0
        fraction = (index + share) / len(self.files)
        size = f"{done / MB:.1f} of {total / MB:.1f} MB" if total else f"{done / MB:.1f} MB"
        mark = (name, int(fraction * 100) if total else int(done / MB * 10))
        if mark != self.last:
            self.last = mark
            self.report(fraction, f"{name} (file {index + 1} of {len(self.files)}): {size}")


def fetch_data(data_dir: str | os.PathLike, report: Report | None = None, **fetch_options) -> Fetched:
    """Put the data set into `data_dir` (the page's data folder), reporting progress to `report`.

    `fetch_options` go to model.dataset.fetch_catvnoncat (source_dirs, urls, timeout: tests point them at a
    local server). Visitors who press the button at once share one download: fetch_catvnoncat lets one
    thread fetch into a folder at a time, and the next finds the files in place.
    """
    progress = FetchProgress(report) if report is not None else None
    try:
        fetch_catvnoncat(data_dir, quiet=True, progress=progress, **fetch_options)
    except DatasetError as e:
        return Fetched(False, failure_markdown(str(e), data_dir))
    except Exception as e:  # a bug or a surprise: the page still says what to do, and the log has the details
        log.exception("fetching the data set into %s", data_dir)
        return Fetched(False, failure_markdown(f"unexpected {type(e).__name__}: {e}", data_dir))
    return Fetched(True)


def failure_markdown(reason: str, data_dir: str | os.PathLike) -> str:
    """One paragraph for st.error: what failed, then the ways to get the files by hand."""
    reason = reason.strip().rstrip(".")
    text = f"{reason[:1].upper()}{reason[1:]}."
    if DIR_ENV not in reason:  # fetch_catvnoncat's own failures name the manual ways already
        text += (f" The page keeps the data set in {Path(data_dir)}/ (set {DATA_ENV} to use another folder). "
                 f"To get the files by hand, set {DIR_ENV} to a folder holding {' and '.join(FILES)}, "
                 f"or run `make data`, then reload the page.")
    return f"**The data set could not be downloaded.** {escape_markdown_keep_code(text)}"
