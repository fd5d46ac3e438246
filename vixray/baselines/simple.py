"""The baselines that learn nothing but the class mix: chance, the majority class, persistence, the training prior.

``random`` (one seeded uniform draw per day, reported beside its expectation 1/K) and ``stratified`` (draws from the
training prior) are luck, not forecasters: a report never picks one as the strongest baseline.
"""

from __future__ import annotations

import numpy as np

from vixray.baselines.core import BaselineForecast, Fold, constant

# Separate random streams, so the random and stratified draws of one seed are not the same uniforms reshaped.
_STREAM = {"random": 0, "stratified": 1}


def random(fold: Fold) -> BaselineForecast:
    n = len(fold.test)
    rng = np.random.default_rng([int(fold.seed), _STREAM["random"]])
    k = fold.n_classes
    pred = rng.integers(0, k, size=n).astype(np.int64)
    uniform = np.full((n, k), 1.0 / k)
    return BaselineForecast("random", pred, uniform, expected_accuracy=1.0 / k)


def majority(fold: Fold) -> BaselineForecast:
    prior = fold.prior(fold.train)
    # The prior, not a one-hot on the mode: a one-hot scores an infinite log loss on the first non-mode day, while
    # the frequencies give the loss of knowing the base rates (argmax still picks the mode, the first on a tie).
    n = len(fold.test)
    return BaselineForecast("majority", np.full(n, int(np.argmax(prior)), np.int64), constant(prior, n))


def persistence(fold: Fold) -> BaselineForecast:
    # tomorrow's class is the class of the move that ended today (known at day t); no probabilities
    pred = fold.dataset.column("prev_label").astype(np.int64)[fold.test]  # (n_test,)
    return BaselineForecast("persistence", pred, None)


def stratified(fold: Fold) -> BaselineForecast:
    prior = fold.prior(fold.train)
    rng = np.random.default_rng([int(fold.seed), _STREAM["stratified"]])
    pred = rng.choice(fold.n_classes, size=len(fold.test), p=prior).astype(np.int64)
    return BaselineForecast("stratified", pred, constant(prior, len(fold.test)))
