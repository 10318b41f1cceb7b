"""Statistics of the report: pure functions of score arrays; bootstrap confidence intervals take a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (scipy's 25%-trimmed mean), as rliable defines it."""
    return stats.trim_mean(values, 0.25, axis=axis)


def iqm_with_ci(scores: np.ndarray, n_resamples: int, random_state: int) -> tuple[float, float, float]:
    """IQM of a (n_seeds, n_strata) score matrix with a 95% stratified bootstrap CI.

    Columns are strata (for one env: the fixed evaluation episodes, which start every seed from the same
    state); within each stratum, seeds are resampled with replacement (scipy.stats.bootstrap with one
    sample per stratum, resampled independently), and the IQM is taken over all resampled scores.
    One seed cannot be resampled meaningfully: the CI is then (nan, nan)."""
    point = float(iqm(scores.reshape(-1)))
    if scores.shape[0] < 2:
        return point, float("nan"), float("nan")

    def pooled_iqm(*columns: np.ndarray, axis: int = -1) -> np.ndarray:
        return iqm(np.concatenate(columns, axis=axis), axis=axis)

    result = stats.bootstrap(
        [scores[:, j] for j in range(scores.shape[1])],
        pooled_iqm,
        n_resamples=n_resamples,
        confidence_level=0.95,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(random_state),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def normalized(values: np.ndarray | pd.Series, random_mean: float, threshold: float) -> np.ndarray:
    """0 = the random agent's mean final return, 1 = the env's solved threshold."""
    return (np.asarray(values, dtype=float) - random_mean) / (threshold - random_mean)
