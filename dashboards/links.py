"""The explorer's addresses and component ids: every page's path template, the href builders that fill them, and the
ids the shell and the callbacks share. One module owns them, so a link and the route it leads to cannot disagree.

URLs name runs by ids (``/run/<experiment>/<run_id>``, ``/trial/.../<trial_id>``, ``/evaluation/.../<eval_id>``,
``/compare?runs=exp/run,exp/run/trial``); every id is checked with :func:`vixray.store.check_id` before a path is
built from it (:mod:`dashboards.reading`), so no URL reaches outside the results folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs

# component ids
URL = "url"  # the shell's own location, which the compare picker writes
REFRESH = "refresh"  # the timer that re-reads the store
SIGNATURE = "signature"  # the shell's copy of the shown page's signature, read by the router on a tick
PAGE_SIGNATURE = "page-signature"  # each page's own signature (what the store looked like when it was drawn)
TRIALS_TABLE = "trials-table"
COMPARE_PICKER = "compare-runs"

REFRESH_MS = 5000
REPORT_PREFIX = "/reports"

# path templates of the pages (Dash pages fills <name> into the page's keyword arguments)
OVERVIEW_PATH = "/"
RUN_PATH = "/run/<experiment>/<run_id>"
TRIAL_PATH = "/trial/<experiment>/<run_id>/<trial_id>"
EVALUATION_PATH = "/evaluation/<experiment>/<run_id>/<eval_id>"
COMPARE_PATH = "/compare"
REPORT_ROUTE = f"{REPORT_PREFIX}/<experiment>/<run_id>/<eval_id>/report.html"


def _fill(template: str, **values: str) -> str:
    for name, value in values.items():
        template = template.replace(f"<{name}>", value)
    return template


def run_href(experiment: str, run_id: str) -> str:
    return _fill(RUN_PATH, experiment=experiment, run_id=run_id)


def trial_href(experiment: str, run_id: str, trial_id: str) -> str:
    return _fill(TRIAL_PATH, experiment=experiment, run_id=run_id, trial_id=trial_id)


def evaluation_href(experiment: str, run_id: str, eval_id: str) -> str:
    return _fill(EVALUATION_PATH, experiment=experiment, run_id=run_id, eval_id=eval_id)


def report_href(experiment: str, run_id: str, eval_id: str) -> str:
    return _fill(REPORT_ROUTE, experiment=experiment, run_id=run_id, eval_id=eval_id)


def compare_search(items: Sequence[str]) -> str:
    return "?runs=" + ",".join(items) if items else ""


def compare_href(items: Sequence[str]) -> str:
    return COMPARE_PATH + compare_search(items)


def parse_compare(runs: str | Sequence[str] | None) -> list[str]:
    """The compare page's ``runs`` (``exp/run,exp/run/trial``, as a query value or a list of them, or a whole
    ``?runs=...`` query) -> the items, in order, without blanks or repeats."""
    if isinstance(runs, str) and runs.startswith("?"):
        runs = parse_qs(runs[1:]).get("runs", [])
    values = [runs] if isinstance(runs, str) else list(runs or [])
    items = [item.strip() for value in values for item in value.split(",")]
    return list(dict.fromkeys(item for item in items if item))
