"""Aggregation of run directories into tidy long-format tables (pandas), and the statistics of the report.

Every table has `env, agent, seed` columns (seed-level tables) or `env, agent` (summaries). Statistics
are pure functions; bootstrap confidence intervals take a seed, so the same runs give the same report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ppo.runlog import EPISODE_COLUMNS, EVAL_COLUMNS

AGENT_ORDER = ("random", "ppo-article", "ppo-zoo", "ppo")


class ResultsError(ValueError):
    """A run directory is missing files or holds a corrupt one; the message names the file."""


@dataclass(frozen=True)
class Runs:
    """All runs, loaded and checked.

    runs:     env, agent, seed, total_steps, train_seconds, eval_seconds, wall_seconds, steps_per_second,
              steps_to_threshold, seconds_to_threshold, solved_threshold, final_mean, final_std
    episodes: env, agent, seed, episode, step, wall_s, return, length     (training episodes)
    evals:    env, agent, seed, phase, step, wall_s, episode, return, length  (every evaluation episode)
    """

    runs: pd.DataFrame
    episodes: pd.DataFrame
    evals: pd.DataFrame


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ResultsError(f"{path} is missing; rerun the training job that writes it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path} is not a readable CSV ({str(err).splitlines()[0]})") from None
    if list(frame.columns) != list(columns):
        raise ResultsError(f"{path} has columns {list(frame.columns)}; expected {list(columns)}")
    numeric = [c for c in columns if c != "phase"]
    if frame[numeric].isna().any().any() or not all(pd.api.types.is_numeric_dtype(frame[c]) for c in numeric):
        raise ResultsError(f"{path} has empty or non-numeric values (truncated or corrupt file?)")
    return frame


def load_runs(run_dirs: list[str | Path]) -> Runs:
    run_rows, episodes, evals = [], [], []
    for run_dir in map(Path, run_dirs):
        try:
            run = json.loads((run_dir / "run.json").read_text())
        except FileNotFoundError:
            raise ResultsError(f"{run_dir / 'run.json'} is missing; rerun the training job that writes it") from None
        except json.JSONDecodeError as err:
            raise ResultsError(f"{run_dir / 'run.json'} is not valid JSON ({err.msg})") from None
        try:
            key = {"env": run["env"], "agent": run["agent"], "seed": int(run["seed"])}
            final = run["final_eval"]
            run_rows.append(
                {
                    **key,
                    **{k: run[k] for k in ("total_steps", "train_seconds", "eval_seconds", "wall_seconds")},
                    **{k: run[k] for k in ("steps_per_second", "steps_to_threshold", "seconds_to_threshold")},
                    "solved_threshold": run["solved_threshold"],
                    "final_mean": final["mean_return"],
                    "final_std": final["std_return"],
                }
            )
        except (KeyError, TypeError) as err:
            raise ResultsError(f"{run_dir / 'run.json'} lacks the field {err}") from None
        episodes.append(_read_csv(run_dir / "episodes.csv", EPISODE_COLUMNS).assign(**key))
        evals.append(_read_csv(run_dir / "evals.csv", EVAL_COLUMNS).assign(**key))
    if not run_rows:
        raise ResultsError("no run directories given")
    front = ["env", "agent", "seed"]
    episodes_frame = pd.concat(episodes, ignore_index=True)
    evals_frame = pd.concat(evals, ignore_index=True)
    return Runs(
        runs=pd.DataFrame(run_rows).sort_values(front, kind="stable", ignore_index=True),
        episodes=episodes_frame[front + list(EPISODE_COLUMNS)],
        evals=evals_frame[front + list(EVAL_COLUMNS)],
    )


def eval_curves(evals: pd.DataFrame) -> pd.DataFrame:
    """Periodic evaluations -> one row per (env, agent, seed, step): mean_return, wall_s."""
    periodic = evals[evals["phase"] == "periodic"]
    grouped = periodic.groupby(["env", "agent", "seed", "step"], sort=True)
    return grouped.agg(wall_s=("wall_s", "first"), mean_return=("return", "mean")).reset_index()


def curves_on_grid(curves: pd.DataFrame, n_points: int = 50) -> pd.DataFrame:
    """Put every run's curve on one grid of env steps per env (linear interpolation), so seeds whose
    evaluations fell on slightly different steps can be averaged. Points beyond a run's last
    evaluation are dropped, not extrapolated. Columns: env, agent, seed, step, mean_return."""
    out = []
    for env, env_curves in curves.groupby("env", sort=True):
        grid = np.linspace(0, env_curves["step"].max(), n_points).round().astype(int)
        for (agent, seed), run in env_curves.groupby(["agent", "seed"], sort=True):
            inside = grid[grid <= run["step"].max()]
            values = np.interp(inside, run["step"], run["mean_return"])
            out.append(pd.DataFrame({"env": env, "agent": agent, "seed": seed, "step": inside, "mean_return": values}))
    return pd.concat(out, ignore_index=True)


def final_returns(evals: pd.DataFrame) -> pd.DataFrame:
    """Final evaluation episodes: env, agent, seed, episode, return, length."""
    final = evals[evals["phase"] == "final"]
    return final[["env", "agent", "seed", "episode", "return", "length"]].reset_index(drop=True)


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


def score_matrix(final: pd.DataFrame, value: str = "return") -> np.ndarray:
    """(n_seeds, n_episodes) matrix of one (env, agent)'s final evaluation."""
    return final.pivot(index="seed", columns="episode", values=value).to_numpy()


def normalized(values: np.ndarray | pd.Series, random_mean: float, threshold: float) -> np.ndarray:
    """0 = the random agent's mean final return, 1 = the env's solved threshold."""
    return (np.asarray(values, dtype=float) - random_mean) / (threshold - random_mean)


def summary_table(runs: Runs, n_resamples: int, random_state: int) -> pd.DataFrame:
    """One row per (env, agent). Columns: env, agent, seeds, final_mean, final_std (over seed means),
    iqm, iqm_low, iqm_high (95% CI), success_rate (share of final episodes >= threshold),
    seeds_solved (seeds whose periodic evaluation reached the threshold), median_steps_to_threshold,
    median_seconds_to_threshold (NaN = not reached by the median seed), total_wall_seconds,
    steps_per_second (mean over seeds), normalized_iqm (nan without a random baseline or threshold)."""
    final = final_returns(runs.evals)
    rows = []
    agent_order = {agent: i for i, agent in enumerate(AGENT_ORDER)}
    ordered = runs.runs.sort_values(["env", "agent"], key=lambda col: col.map(agent_order) if col.name == "agent" else col)
    for (env, agent), group in ordered.groupby(["env", "agent"], sort=False):
        threshold = group["solved_threshold"].iloc[0]
        scores = score_matrix(final[(final.env == env) & (final.agent == agent)])
        point, low, high = iqm_with_ci(scores, n_resamples, random_state)
        reached_steps = group["steps_to_threshold"].astype(float).fillna(np.inf)
        reached_seconds = group["seconds_to_threshold"].astype(float).fillna(np.inf)
        random_runs = runs.runs[(runs.runs.env == env) & (runs.runs.agent == "random")]
        norm = np.nan
        if len(random_runs) and threshold is not None and not np.isnan(threshold):
            norm = float(iqm(normalized(scores.reshape(-1), random_runs["final_mean"].mean(), threshold)))
        rows.append(
            {
                "env": env,
                "agent": agent,
                "seeds": len(group),
                "final_mean": group["final_mean"].mean(),
                "final_std": group["final_mean"].std(ddof=0),
                "iqm": point,
                "iqm_low": low,
                "iqm_high": high,
                "success_rate": float((scores >= threshold).mean()) if threshold is not None else np.nan,
                "seeds_solved": int(np.isfinite(reached_steps).sum()),
                "median_steps_to_threshold": _finite_or_nan(np.median(reached_steps)),
                "median_seconds_to_threshold": _finite_or_nan(np.median(reached_seconds)),
                "total_wall_seconds": group["wall_seconds"].sum(),
                "steps_per_second": group["steps_per_second"].mean(),
                "normalized_iqm": norm,
            }
        )
    return pd.DataFrame(rows)


def _finite_or_nan(value: float) -> float:
    return float(value) if np.isfinite(value) else float("nan")


def write_summary(env: str, run_dirs: list[str | Path], out_dir: str | Path, n_resamples: int, random_state: int) -> None:
    """All tables of one env under out_dir: episodes, eval_curves, curves_grid, final, runs, table (CSV)
    and meta.json (hyperparameters per agent, budgets, env facts, provenance)."""
    from ppo.atomic import atomic_path, write_json
    from ppo.envs import env_info

    runs = load_runs(run_dirs)
    other = sorted(set(runs.runs["env"]) - {env})
    if other:
        raise ResultsError(f"runs of {', '.join(other)} given to the summary of {env}")
    curves = eval_curves(runs.evals)
    tables = {
        "episodes": runs.episodes,
        "eval_curves": curves,
        "curves_grid": curves_on_grid(curves),
        "final": final_returns(runs.evals),
        "runs": runs.runs,
        "table": summary_table(runs, n_resamples, random_state),
    }
    out = Path(out_dir)
    for name, frame in tables.items():
        with atomic_path(out / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    write_json(out / "meta.json", _meta(env, run_dirs, runs, env_info(env)))


def _meta(env: str, run_dirs: list[str | Path], runs: Runs, info) -> dict:
    run_jsons = [json.loads((Path(d) / "run.json").read_text()) for d in run_dirs]
    by_agent = {r["agent"]: r for r in sorted(run_jsons, key=lambda r: r["seed"])}
    order = [a for a in AGENT_ORDER if a in by_agent]
    return {
        "env": {
            "id": env,
            "obs_dim": info.obs_dim,
            "n_actions": info.n_actions,
            "max_episode_steps": info.max_episode_steps,
            "solved_threshold": run_jsons[0]["solved_threshold"],
        },
        "hyperparameters": {a: by_agent[a]["hyperparameters"] for a in order},
        "total_steps": {a: by_agent[a]["total_steps"] for a in order},
        "versions": run_jsons[0]["versions"],
        "git_commits": sorted({str(r["git_commit"]) for r in run_jsons}),
        "cpu_models": sorted({r["host"]["cpu_model"] for r in run_jsons}),
        "finished_at": max(r.get("finished_at", "") for r in run_jsons),
        "compute_seconds": float(runs.runs["wall_seconds"].sum()),
    }
