"""The holdout evaluation (``python -m vixray.evaluate --best``): the search's winners re-trained walk-forward on the
era it never saw, beside the baselines, with paired tests and a data-snooping correction.

:mod:`~vixray.holdout.select` (which configs), :mod:`~vixray.holdout.guards` (refusals),
:mod:`~vixray.holdout.blocks` (the holdout as walk-forward blocks), :mod:`~vixray.holdout.ensemble` (one config x
seeds), :mod:`~vixray.holdout.stats` (strongest baseline, SPA, verdict), :mod:`~vixray.holdout.report` (report.json,
predictions, console summary), :mod:`~vixray.holdout.html` (report.html) and :mod:`~vixray.holdout.run` (all of it).
"""

from vixray.holdout.run import DEFAULT_SEEDS, DEFAULT_TOP, Evaluation, backtest_evaluation, evaluate_run

__all__ = ["DEFAULT_SEEDS", "DEFAULT_TOP", "Evaluation", "backtest_evaluation", "evaluate_run"]
