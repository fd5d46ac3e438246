"""vixray: can the next-day direction of the VIX be predicted from SPY, QQQ and VIX history?

The flow, each stage a module or package: prices (:mod:`vixray.data`) -> features and labels
(:mod:`vixray.features`, :mod:`vixray.labels`, :mod:`vixray.dataset`) -> walk-forward folds (:mod:`vixray.split`,
:mod:`vixray.windows`) -> the fold-batched networks and trainer (:mod:`vixray.models`, :mod:`vixray.train`) beside
the baselines (:mod:`vixray.baselines`, :mod:`vixray.metrics`, :mod:`vixray.crossval`) -> the Ray Tune search
(:mod:`vixray.search`) -> the results store (:mod:`vixray.store`) -> the holdout evaluation (:mod:`vixray.holdout`,
``python -m vixray.evaluate``). Configuration is :mod:`vixray.config`; the commands are :mod:`vixray.cli`.
"""

__version__ = "0.1.0"
