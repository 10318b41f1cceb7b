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
    return interval_estimate(aggregate_iqm, scores, n_resamples, random_state)


# rliable's aggregate metrics over a (runs x tasks) score matrix, vectorized over leading resample axes:
# each maps (..., runs, tasks) to (...).
def aggregate_iqm(scores: np.ndarray) -> np.ndarray:
    """IQM over every run of every task (rliable.metrics.aggregate_iqm)."""
    return iqm(scores.reshape(*scores.shape[:-2], -1), axis=-1)


def aggregate_mean(scores: np.ndarray) -> np.ndarray:
    """Mean over tasks of the mean over runs (rliable.metrics.aggregate_mean)."""
    return scores.mean(axis=-2).mean(axis=-1)


def aggregate_optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """How far below `gamma` (1 = solved, on normalized scores) runs fall on average; scores above gamma
    count as gamma, so surpassing the target earns nothing (rliable.metrics.aggregate_optimality_gap)."""
    return gamma - np.minimum(scores, gamma).reshape(*scores.shape[:-2], -1).mean(axis=-1)


def interval_estimate(statistic, scores: np.ndarray, n_resamples: int, random_state: int) -> tuple[float, float, float]:
    """statistic(scores) and its 95% percentile interval over stratified bootstrap resamples of runs."""
    scores = np.asarray(scores, dtype=float).reshape(len(scores), -1)
    point = float(statistic(scores))
    if scores.shape[0] < 2:
        return point, float("nan"), float("nan")
    low, high = percentile_interval(statistic(stratified_bootstrap(scores, n_resamples, random_state)))
    return point, float(low), float(high)


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


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> np.ndarray:
    """P(X > Y): the chance that a run of X scores higher than a run of Y on the same task (ties count
    half), averaged over tasks; (..., runs_x, tasks), (..., runs_y, tasks) -> (...). It is the Mann-Whitney
    U statistic over runs_x * runs_y, as rliable.metrics.probability_of_improvement computes it, and
    needs no normalization: only the order of scores within a task counts."""
    x, y = scores_x[..., :, None, :], scores_y[..., None, :, :]
    wins = (x > y) + 0.5 * (x == y)  # (..., runs_x, runs_y, tasks)
    return wins.mean(axis=(-3, -2)).mean(axis=-1)


def probability_of_improvement_with_ci(
    scores_x: np.ndarray, scores_y: np.ndarray, n_resamples: int, random_state: int
) -> tuple[float, float, float]:
    """P(X > Y) with its 95% CI: X's and Y's runs resampled independently within every task (rliable's
    StratifiedIndependentBootstrap; per resample it draws X's indices, then Y's, from one generator)."""
    x, y = (np.asarray(s, dtype=float) for s in (scores_x, scores_y))
    point = float(probability_of_improvement(x, y))
    if min(len(x), len(y)) < 2:
        return point, float("nan"), float("nan")
    rng = np.random.RandomState(random_state)
    tasks = np.arange(x.shape[1])
    resampled = np.empty(n_resamples)
    for r in range(n_resamples):  # the draws alternate between X and Y; a loop keeps rliable's order
        x_runs, y_runs = rng.randint(0, len(x), size=x.shape), rng.randint(0, len(y), size=y.shape)
        resampled[r] = probability_of_improvement(x[x_runs, tasks], y[y_runs, tasks])
    low, high = percentile_interval(resampled)
    return point, low, high


def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Performance profile: the share of runs (over all tasks) scoring above each tau;
    (..., runs, tasks) -> (..., len(taus)) (rliable's score distributions)."""
    flat = scores.reshape(*scores.shape[:-2], -1)
    return (flat[..., None, :] > np.asarray(taus)[:, None]).mean(axis=-1)


def performance_profile(
    scores: np.ndarray, taus: np.ndarray, n_resamples: int, random_state: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """score_distribution at each tau with its pointwise 95% CI over stratified bootstrap resamples of runs
    (rliable.library.create_performance_profile)."""
    scores = np.asarray(scores, dtype=float)
    profile = score_distribution(scores, taus)
    if len(scores) < 2:
        return profile, np.full_like(profile, np.nan), np.full_like(profile, np.nan)
    resampled = score_distribution(stratified_bootstrap(scores, n_resamples, random_state), taus)
    tail = 100 * (1 - 0.95) / 2
    low, high = np.percentile(resampled, [tail, 100 - tail], axis=0)
    return profile, low, high


def percentile_interval(estimates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The (1 - c) / 2 and (1 + c) / 2 percentiles of bootstrap estimates (arch's method='percentile')."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def normalized(values: np.ndarray | pd.Series, random_mean: float, threshold: float) -> np.ndarray:
    """0 = the random agent's mean final return, 1 = the env's solved threshold."""
    return (np.asarray(values, dtype=float) - random_mean) / (threshold - random_mean)
