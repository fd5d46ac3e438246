"""The distributed search: Ray Tune runs the trials, Optuna's TPE proposes them, ASHA stops the weak.

This package is the only one that imports Ray or Optuna. :mod:`~vixray.search.sampler` (the space, TPE, ASHA),
:mod:`~vixray.search.trainable` (one trial), :mod:`~vixray.search.records` (the store's trial tables, optuna.db,
importances) and :mod:`~vixray.search.run` (connect, run, resume, the run lock) and :mod:`~vixray.search.summary` (the status a
search ends with).
"""

from vixray.search.run import resume_search, run_search, setup_search
from vixray.search.summary import SearchSummary

__all__ = ["SearchSummary", "resume_search", "run_search", "setup_search"]
