"""Refusals of the holdout evaluation, all made before anything is trained or written.

A run whose search touched the holdout era cannot give an honest holdout number (its trials were ranked with
holdout data); a count that is not a positive integer is a typo. The data-changed refusal is
:func:`vixray.data.check_same_data`, shared with a resumed search.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np

from vixray import store
from vixray.dataset import Eras


def positive(name: str, value: Any) -> int:
    """``value`` as an int, or the error naming ``name``: the counts of an evaluation (top, seeds, n_boot...)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} = {value!r}: must be an integer >= 1")
    return int(value)


def check_holdout_untouched(manifest: Mapping[str, Any], eras: Eras, *, run_name: str) -> None:
    """Refuse a run whose development era or folds reach the holdout era being evaluated."""
    start = eras.holdout[0]
    dev_end = ((manifest.get("eras") or {}).get("development") or {}).get("end")
    if not dev_end:
        raise ValueError(
            f"run {run_name}: the manifest records no development era (eras.development.end), so nothing shows "
            "that the search kept off the holdout era; re-run the search with `vixray tune`"
        )
    problems = []
    if date.fromisoformat(str(dev_end)) >= start:
        problems.append(f"its development era ends on {dev_end}")
    for fold in manifest.get("folds") or []:
        for key in ("train_end", "test_end"):
            value = fold.get(key)
            if value and date.fromisoformat(str(value)) >= start:
                problems.append(f"development fold {fold.get('fold')} has {key} = {value}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(
            f"run {run_name}: the search touched the holdout era, which starts on {start}: {problems[0]}{more}; "
            "its trials were ranked with holdout data, so no honest holdout number can come from it; re-run the "
            f"search with eras.development ending before {start}"
        )


def check_search_complete(manifest: Mapping[str, Any], *, run_name: str, allow_partial: bool) -> None:
    """Refuse a run whose search did not finish (interrupted, failed, or still running or crashed) unless
    ``allow_partial``: its best trials are the best of part of a search, and the report would not say so."""
    status = str(manifest.get("status", "unknown"))
    if status == store.FINISHED or allow_partial:
        return
    counts = manifest.get("counts") or {}
    ended = sum(int(counts.get(k, 0)) for k in store.ENDED_STATUSES)
    budget = (manifest.get("search") or {}).get("num_samples", "?")
    raise ValueError(
        f"run {run_name} is {status}, not finished ({ended} of {budget} trials ended): resume it "
        f"(vixray tune --resume {manifest.get('run_id', 'RUN')}), or pass --allow-partial to evaluate the "
        "trials it has (the report records that the search was partial)"
    )
