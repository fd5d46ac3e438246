"""vixray: can the next-day direction of the VIX be predicted from SPY, QQQ and VIX history?

Data (:mod:`vixray.data`) -> features and labels (:mod:`vixray.features`, :mod:`vixray.labels`,
:mod:`vixray.dataset`) -> walk-forward folds (:mod:`vixray.split`, :mod:`vixray.windows`) -> the fold-batched LSTM
trainer (:mod:`vixray.model`, :mod:`vixray.train`) beside baselines (:mod:`vixray.baselines`,
:mod:`vixray.metrics`) -> the Ray Tune search (:mod:`vixray.tune`) -> the results store (:mod:`vixray.store`) ->
the holdout evaluation (:mod:`vixray.evaluate`).
"""

__version__ = "0.1.0"
