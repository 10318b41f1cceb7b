"""Statistics of the report: pure functions of score arrays; bootstrap confidence intervals take a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (scipy's 25%-trimmed mean), as rliable defines it."""
    return stats.trim_mean(values, 0.25, axis=axis)


def iqm_with_ci(scores: np.ndarray, n_resamples: int, random_state: int) -> tuple[float, float, float]:
    """IQM of a (runs x tasks) matrix of run scores with its 95% stratified bootstrap CI, as rliable's
    get_interval_estimates(score_dict, aggregate_iqm, reps, random_state=...) computes them.

    The run is the unit of replication: a run's score is its mean final return, one number per run and
    task (env). Each resample draws runs with replacement within every task independently; the interval
    is the percentile interval of the resampled IQMs. One run cannot be resampled meaningfully: the CI is
    then (nan, nan)."""
    scores = np.asarray(scores, dtype=float).reshape(len(scores), -1)
    point = float(iqm(scores.reshape(-1)))
    if scores.shape[0] < 2:
        return point, float("nan"), float("nan")
    resampled = stratified_bootstrap(scores, n_resamples, random_state)
    low, high = percentile_interval(iqm(resampled.reshape(n_resamples, -1), axis=1))
    return point, low, high


def stratified_bootstrap(scores: np.ndarray, n_resamples: int, random_state: int) -> np.ndarray:
    """(n_resamples, runs, tasks) resampled score matrices: entry [r, i, j] is scores[k, j] for a run k drawn
    uniformly with replacement, independently for every task j (rliable's StratifiedBootstrap). The draws
    come from np.random.RandomState(random_state) in the order rliable (through arch) makes them, so the
    same seed gives rliable's numbers."""
    n_runs, n_tasks = scores.shape
    rng = np.random.RandomState(random_state)
    # rliable draws rng.choice(n_runs, (n_runs, n_tasks)) once per resample; RandomState.choice with
    # replacement is randint, and one randint call for all resamples yields the same numbers in one op.
    runs = rng.randint(0, n_runs, size=(n_resamples, n_runs, n_tasks))
    return scores[runs, np.arange(n_tasks)]


def percentile_interval(estimates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The (1 - c) / 2 and (1 + c) / 2 percentiles of bootstrap estimates (arch's method='percentile')."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def normalized(values: np.ndarray | pd.Series, random_mean: float, threshold: float) -> np.ndarray:
    """0 = the random agent's mean final return, 1 = the env's solved threshold."""
    return (np.asarray(values, dtype=float) - random_mean) / (threshold - random_mean)
