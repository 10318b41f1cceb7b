"""Agents compared across envs, as rliable prescribes (Agarwal et al. 2021): the run is the unit of replication.

A run's score is its mean final greedy return. To put envs on one scale, scores are normalized per env:
0 = the random agent's mean final return on that env, 1 = the env's solved threshold (Gymnasium's
reward_threshold or the config's). Envs without a random baseline or a threshold are left out of the
normalized aggregates (the table says which envs each number covers). From the (runs x envs) matrix of an
agent: IQM, mean and optimality gap (distance below 1, i.e. below "solved") with 95% stratified bootstrap
CIs; probability of improvement P(X > Y) of each agent over each other on the envs both ran (rank-based:
it needs no normalization); performance profiles (share of runs above each normalized score tau).

Tables (CSV, written by `ppo compare`): scores, aggregates, improvement, profiles.
"""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd

from ppo.analysis.statistics import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_optimality_gap,
    interval_estimate,
    normalized,
    performance_profile,
    probability_of_improvement_with_ci,
)
from ppo.analysis.styles import AgentStyle, from_json, merged, ordered
from ppo.run.atomic import atomic_path
from ppo.run.directory import ResultsError

METRICS = {"IQM": aggregate_iqm, "mean": aggregate_mean, "optimality gap": aggregate_optimality_gap}
# Normalized scores at which the performance profiles are drawn: from below random to past solved.
TAUS = np.round(np.arange(-0.25, 1.5001, 0.05), 2)


def run_scores(summary_dirs: list[str | Path]) -> pd.DataFrame:
    """One row per run of every env: env, agent, seed, score (mean final return), threshold,
    random_mean (nan without a random baseline) and normalized (nan where it cannot be computed)."""
    frames = []
    for summary_dir in map(Path, summary_dirs):
        try:
            runs = pd.read_csv(summary_dir / "runs.csv")
        except FileNotFoundError:
            raise ResultsError(f"{summary_dir / 'runs.csv'} is missing; rerun `ppo aggregate` for that env") from None
        # A run imported from its logs alone has no final score (NaN): nothing to compare, left out.
        runs = runs[runs["final_mean"].notna()]
        random_runs = runs[runs["agent"] == "random"]
        random_mean = random_runs["final_mean"].mean() if len(random_runs) else np.nan
        threshold = runs["solved_threshold"].astype(float)
        frames.append(
            pd.DataFrame(
                {
                    "env": runs["env"],
                    "agent": runs["agent"],
                    "seed": runs["seed"],
                    "score": runs["final_mean"],
                    "threshold": threshold,
                    "random_mean": random_mean,
                    "normalized": normalized(runs["final_mean"], random_mean, threshold),
                }
            )
        )
    if not frames:
        raise ResultsError("no summaries given")
    return pd.concat(frames, ignore_index=True)


def score_matrix(scores: pd.DataFrame, agent: str, envs: list[str], column: str) -> np.ndarray:
    """(runs x envs) matrix of one agent: row i holds its i-th seed (in seed order) on every env. Seeds
    present on only some envs are dropped, so that every row is a run on every env."""
    mine = scores[(scores["agent"] == agent) & scores["env"].isin(envs)]
    table = mine.pivot(index="seed", columns="env", values=column)[envs].dropna()
    return table.to_numpy()


def _ordered_agents(scores: pd.DataFrame) -> list[str]:
    """Registered agents in registry order, then variants by name (ppo.analysis.styles' order)."""
    present = set(scores["agent"])
    return list(ordered(dict.fromkeys(present)))


def _normalizable_envs(scores: pd.DataFrame, agent: str) -> list[str]:
    mine = scores[scores["agent"] == agent]
    ok = mine.groupby("env", sort=True)["normalized"].apply(lambda v: bool(np.isfinite(v).all()))
    return [env for env, good in ok.items() if good]


def aggregates(scores: pd.DataFrame, n_resamples: int, random_state: int) -> pd.DataFrame:
    """Per learning agent (the random agent scores 0 by construction) and metric: point, low, high over
    the normalized scores of the envs it can be normalized on."""
    rows = []
    for agent in _ordered_agents(scores):
        envs = _normalizable_envs(scores, agent)
        if agent == "random" or not envs:
            continue
        matrix = score_matrix(scores, agent, envs, "normalized")
        for metric, statistic in METRICS.items():
            point, low, high = interval_estimate(statistic, matrix, n_resamples, random_state)
            rows.append(
                {
                    "agent": agent,
                    "metric": metric,
                    "point": point,
                    "low": low,
                    "high": high,
                    "runs": len(matrix),
                    "envs": ";".join(envs),
                }  # fmt: skip
            )
    return pd.DataFrame(rows, columns=["agent", "metric", "point", "low", "high", "runs", "envs"])


def improvement(scores: pd.DataFrame, n_resamples: int, random_state: int) -> pd.DataFrame:
    """P(X > Y) with its CI for every ordered pair of learning agents, over the envs both ran."""
    rows = []
    agents = [a for a in _ordered_agents(scores) if a != "random"]
    for x, y in permutations(agents, 2):
        envs = sorted(set(scores.loc[scores.agent == x, "env"]) & set(scores.loc[scores.agent == y, "env"]))
        if not envs:
            continue
        scores_x, scores_y = (score_matrix(scores, a, envs, "score") for a in (x, y))
        point, low, high = probability_of_improvement_with_ci(scores_x, scores_y, n_resamples, random_state)
        rows.append({"agent_x": x, "agent_y": y, "point": point, "low": low, "high": high, "envs": ";".join(envs)})
    return pd.DataFrame(rows, columns=["agent_x", "agent_y", "point", "low", "high", "envs"])


def profiles(scores: pd.DataFrame, n_resamples: int, random_state: int) -> pd.DataFrame:
    """Performance profile of every agent over its normalizable envs: tau, fraction, low, high."""
    frames = []
    for agent in _ordered_agents(scores):
        envs = _normalizable_envs(scores, agent)
        if not envs:
            continue
        matrix = score_matrix(scores, agent, envs, "normalized")
        fraction, low, high = performance_profile(matrix, TAUS, n_resamples, random_state)
        frames.append(pd.DataFrame({"agent": agent, "tau": TAUS, "fraction": fraction, "low": low, "high": high}))
    return (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["agent", "tau", "fraction", "low", "high"])
    )


def summary_styles(summary_dirs: list[str | Path]) -> dict[str, AgentStyle]:
    """Labels and colours of every agent in the summaries (their meta.json)."""
    return merged(*(from_json(json.loads((Path(d) / "meta.json").read_text()).get("agents")) for d in summary_dirs))


def write_comparison(summary_dirs: list[str | Path], out_dir: str | Path, n_resamples: int, random_state: int) -> dict:
    """Every table of the comparison into out_dir (scores, aggregates, improvement, profiles .csv)."""
    scores = run_scores(summary_dirs)
    tables = {
        "scores": scores,
        "aggregates": aggregates(scores, n_resamples, random_state),
        "improvement": improvement(scores, n_resamples, random_state),
        "profiles": profiles(scores, n_resamples, random_state),
    }
    for name, frame in tables.items():
        with atomic_path(Path(out_dir) / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    return tables
