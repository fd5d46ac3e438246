"""Hansen's (2005) test for Superior Predictive Ability, studentized as Hansen defines it, on arch's bootstrap.

Does any of K forecasters have a lower expected loss than a benchmark, allowing for having tried K of them? With
d_kt = loss_benchmark,t - loss_kt (positive: model k did better on day t), the statistic is

    T_SPA = max(0, max_k sqrt(n) * mean(d_k) / omega_k)

where omega_k^2 is the long-run variance of d_k under the stationary bootstrap's kernel (Hansen's eq. for
omega-hat; the same estimator arch uses). Its null distribution comes from the stationary bootstrap of the d_kt (arch's
``StationaryBootstrap``, so a seed gives arch's own resamples): each replication recentres mean(d*_k) by mean(d_k)
- mu_k and takes the same studentized maximum, with mu_k = 0 ("upper", the least favourable configuration),
mu_k = min(mean(d_k), 0) ("lower") or mu_k = mean(d_k) when model k is clearly worse, that is
sqrt(n) mean(d_k) / omega_k < -sqrt(2 log log n), and 0 otherwise ("consistent", Hansen's recommended p-value).

Why it is written here: arch 8's ``SPA.compute`` compares max_k mean(d_k) unstudentized (the variances only pick the
"clearly worse" models), so one noisy model with a high mean can hide a precise one that is reliably better;
studentizing weighs each model's mean by its own spread. For one model, or models of equal spread, the two agree,
and the tests check both that agreement and a case where studentizing matters.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from arch.bootstrap import StationaryBootstrap

from vixray.metrics.checks import check_block_length, check_n_boot, vector
from vixray.metrics.significance import DEFAULT_N_BOOT, auto_block_length


def stationary_bootstrap_variance(d: np.ndarray, *, block_length: float) -> np.ndarray:
    """(K,) long-run variances of the columns of ``d`` (T, K): gamma_0 + 2 sum_i kappa_i gamma_i with the
    stationary bootstrap's weights kappa_i = (1 - i/T)(1 - q)^i + (i/T)(1 - q)^(T - i), q = 1 / block length."""
    n = d.shape[0]
    centred = d - d.mean(axis=0)  # (T, K)
    # every autocovariance at once: the FFT of the zero-padded columns
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=0)  # (size/2+1, K)
    gammas = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:n] / n  # (T, K) gamma_0..gamma_{T-1}
    lags = np.arange(1, n)  # (T-1,)
    q = 1.0 / block_length
    kappa = (1.0 - lags / n) * (1.0 - q) ** lags + (lags / n) * (1.0 - q) ** (n - lags)  # (T-1,)
    return gammas[0] + 2.0 * (kappa[:, None] * gammas[1:]).sum(axis=0)


def spa_test(
    model_losses: Any,
    benchmark_loss: Any,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    block_length: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Hansen's studentized SPA: does any of the K models beat the benchmark on per-day loss (lower is better)?

    ``model_losses`` is (T, K) (or (T,) for one model), ``benchmark_loss`` (T,). Returns the statistic, the
    lower / consistent / upper p-values (a small p says at least one model has lower expected loss than the
    benchmark, after trying K of them), K, the block length (the largest Politis-White length of the loss
    differentials unless given) and the best model's column by studentized mean. A statistic of 0 (no model ahead
    on average) gives p-values of 1.
    """
    bench = vector(benchmark_loss, name="benchmark_loss").astype(np.float64)
    models = np.asarray(model_losses, dtype=np.float64)
    if models.ndim == 1:
        models = models[:, None]  # (T, 1)
    if models.ndim != 2 or models.shape[1] == 0:
        raise ValueError(
            f"model_losses has shape {models.shape}: pass (T, K) per-day losses, one column per model"
        )
    if models.shape[0] != len(bench):
        raise ValueError(
            f"model_losses has {models.shape[0]} rows but benchmark_loss has {len(bench)}: both must hold the same "
            "test days in the same order"
        )
    if not (np.isfinite(models).all() and np.isfinite(bench).all()):
        raise ValueError("model_losses or benchmark_loss holds NaN or infinite entries: pass finite losses")
    check_n_boot(n_boot)
    check_block_length(block_length)
    d = bench[:, None] - models  # (T, K) positive where a model did better
    n, k = d.shape
    length = float(block_length) if block_length is not None else auto_block_length(d)
    mean = d.mean(axis=0)  # (K,)
    omega = np.sqrt(np.maximum(stationary_bootstrap_variance(d, block_length=length), 0.0))  # (K,)
    # a model with no spread in its differences: identical to the benchmark (t = 0), or better or worse on every
    # day alike; a tiny spread keeps the sign of its mean
    omega = np.where(omega > 0, omega, 1e-12 * (np.abs(mean) + 1.0))
    t_stats = math.sqrt(n) * mean / omega  # (K,)
    statistic = max(0.0, float(t_stats.max()))
    loglog = math.sqrt(2.0 * math.log(math.log(n))) if n > math.e else 0.0
    recentre = {
        "lower": np.minimum(mean, 0.0),
        "consistent": np.where(t_stats < -loglog, mean, 0.0),
        "upper": np.zeros(k),
    }
    exceed = dict.fromkeys(recentre, 0)
    bootstrap = StationaryBootstrap(length, d, seed=np.random.default_rng(seed))  # type: ignore[arg-type]  # a float mean block length
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # arch's block-length check on constant columns
        for (resampled,), _ in bootstrap.bootstrap(int(n_boot)):
            star = resampled.mean(axis=0) - mean  # (K,) the centred bootstrap mean
            for key, mu in recentre.items():
                t_star = max(0.0, float((math.sqrt(n) * (star + mu) / omega).max()))
                exceed[key] += t_star >= statistic
    p_values = {key: (1.0 if statistic == 0.0 else count / n_boot) for key, count in exceed.items()}
    return {
        "statistic": statistic,
        "p_values": p_values,
        "n_models": int(k),
        "n_days": int(n),
        "block_length": length,
        "n_boot": int(n_boot),
        "best_model": int(np.argmax(t_stats)),
        "studentized": True,
    }
