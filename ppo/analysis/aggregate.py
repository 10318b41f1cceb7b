"""Aggregation of run directories into tidy long-format tables (pandas), and the statistics of the report.

Every table has `env, agent, seed` columns (seed-level tables) or `env, agent` (summaries). Statistics
are pure functions; bootstrap confidence intervals take a seed, so the same runs give the same report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ppo.analysis.statistics import iqm, iqm_with_ci, normalized
from ppo.analysis.styles import styles_from_runs, to_json, with_display
from ppo.envs import env_info
from ppo.run.atomic import atomic_path, write_json
from ppo.run.directory import ResultsError, read_run
from ppo.run.log import EPISODE_COLUMNS, EVAL_COLUMNS


@dataclass(frozen=True)
class Runs:
    """All runs, loaded and checked.

    runs:     env, agent, seed, total_steps, train_seconds, eval_seconds, wall_seconds, steps_per_second,
              steps_to_threshold, seconds_to_threshold, solved_threshold, final_mean, final_std
    episodes: env, agent, seed, episode, step, wall_s, return, length     (training episodes)
    evals:    env, agent, seed, phase, step, wall_s, episode, return, length, truncated  (every evaluation episode)
    run_jsons: each run's run.json, in the order given
    """

    runs: pd.DataFrame
    episodes: pd.DataFrame
    evals: pd.DataFrame
    run_jsons: list[dict]


def load_runs(run_dirs: list[str | Path]) -> Runs:
    run_rows, episodes, evals, run_jsons = [], [], [], []
    for run_dir in run_dirs:
        files = read_run(run_dir)
        run = files.run
        try:
            key = {"env": run["env"], "agent": run["agent"], "seed": int(run["seed"])}
            # null: a run imported from its logs alone, never evaluated by ppo-bench; no final score (NaN), so it
            # stays out of the final-score statistics while its training episodes are shown.
            final = run["final_eval"] or {"mean_return": np.nan, "std_return": np.nan}
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
            raise ResultsError(f"{Path(run_dir) / 'run.json'} lacks the field {err}") from None
        episodes.append(files.episodes.assign(**key))
        evals.append(files.evals.assign(**key))
        run_jsons.append(run)
    if not run_rows:
        raise ResultsError("no run directories given")
    front = ["env", "agent", "seed"]
    episodes_frame = pd.concat(episodes, ignore_index=True)
    evals_frame = pd.concat(evals, ignore_index=True)
    return Runs(
        runs=pd.DataFrame(run_rows).sort_values(front, kind="stable", ignore_index=True),
        episodes=episodes_frame[front + list(EPISODE_COLUMNS)],
        evals=evals_frame[front + list(EVAL_COLUMNS)],
        run_jsons=run_jsons,
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


def score_matrix(final: pd.DataFrame, value: str = "return") -> np.ndarray:
    """(n_seeds, n_episodes) matrix of one (env, agent)'s final evaluation."""
    return final.pivot(index="seed", columns="episode", values=value).to_numpy()


def summary_table(runs: Runs, n_resamples: int, random_state: int) -> pd.DataFrame:
    """One row per (env, agent). Columns: env, agent, seeds, final_mean, final_std (over seed means),
    iqm, iqm_low, iqm_high (IQM of the run scores, each run's mean final return, with rliable's 95%
    stratified bootstrap CI over runs), success_rate (share of final episodes >= threshold),
    seeds_solved (seeds whose periodic evaluation reached the threshold; NaN without periodic evaluations, as
    a run from outside has), median_steps_to_threshold,
    median_seconds_to_threshold (NaN = not reached by the median seed), total_wall_seconds,
    steps_per_second (mean over seeds), normalized_iqm (IQM of normalized run scores; nan without a random
    baseline or threshold)."""
    final = final_returns(runs.evals)
    rows = []
    agent_order = {agent: i for i, agent in enumerate(styles_from_runs(runs.run_jsons))}
    ordered = runs.runs.sort_values(["env", "agent"], key=lambda col: col.map(agent_order) if col.name == "agent" else col)
    for (env, agent), group in ordered.groupby(["env", "agent"], sort=False):
        threshold = group["solved_threshold"].iloc[0]
        episodes = score_matrix(final[(final.env == env) & (final.agent == agent)])
        # The run is the unit of replication: one score per run (its mean final return), never per episode.
        # No score without a final evaluation (an agent whose runs were imported from logs alone): NaN, not a crash.
        scored = episodes.size > 0
        run_scores = episodes.mean(axis=1, keepdims=True) if scored else episodes
        point, low, high = iqm_with_ci(run_scores, n_resamples, random_state) if scored else (np.nan,) * 3
        reached_steps = group["steps_to_threshold"].astype(float).fillna(np.inf)
        reached_seconds = group["seconds_to_threshold"].astype(float).fillna(np.inf)
        # Time to the threshold comes from periodic evaluations, which a run from outside does not have (ppo-bench
        # plays its policy once, at the end): unknown (NaN, "n/a"), not "never reached".
        mine = (runs.evals["env"] == env) & (runs.evals["agent"] == agent)
        periodic = bool((mine & (runs.evals["phase"] != "final")).any())
        random_runs = runs.runs[(runs.runs.env == env) & (runs.runs.agent == "random")]
        norm = np.nan
        if scored and len(random_runs) and threshold is not None and not np.isnan(threshold):
            norm = float(iqm(normalized(run_scores.reshape(-1), random_runs["final_mean"].mean(), threshold)))
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
                "success_rate": float((episodes >= threshold).mean()) if scored and threshold is not None else np.nan,
                "seeds_solved": int(np.isfinite(reached_steps).sum()) if periodic else np.nan,
                "median_steps_to_threshold": _finite_or_nan(np.median(reached_steps)) if periodic else np.nan,
                "median_seconds_to_threshold": _finite_or_nan(np.median(reached_seconds)) if periodic else np.nan,
                "total_wall_seconds": group["wall_seconds"].sum(),
                "steps_per_second": group["steps_per_second"].mean(),
                "normalized_iqm": norm,
            }
        )
    return pd.DataFrame(rows)


def _finite_or_nan(value: float) -> float:
    return float(value) if np.isfinite(value) else float("nan")


def write_summary(
    env: str,
    run_dirs: list[str | Path],
    out_dir: str | Path,
    n_resamples: int,
    random_state: int,
    display: dict[str, dict[str, str]] | None = None,
) -> None:
    """All tables of one env under out_dir: episodes, eval_curves, curves_grid, final, runs, table (CSV)
    and meta.json (labels and colours, hyperparameters per agent, budgets, env facts, provenance).
    display: {agent: {label, colour}} from the config, for variants (over what their runs recorded)."""
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
    write_json(out / "meta.json", _meta(env, runs, env_info(env), display or {}))


def _meta(env: str, runs: Runs, info, display: dict[str, dict[str, str]]) -> dict:
    run_jsons = runs.run_jsons
    by_agent = {r["agent"]: r for r in sorted(run_jsons, key=lambda r: r["seed"])}
    styles = with_display(styles_from_runs(run_jsons), display)
    order = list(styles)
    return {
        "env": {
            "id": env,
            # the observation's size, or for images its frames ("4x84x84 uint8")
            "obs_dim": "x".join(map(str, info.obs_shape)) + " uint8" if info.pixels else info.obs_dim,
            "n_actions": info.n_actions,
            "actions": info.action_text,
            "max_episode_steps": info.max_episode_steps,
            "solved_threshold": run_jsons[0]["solved_threshold"],
        },
        "agents": to_json(styles),
        "hyperparameters": {a: by_agent[a]["hyperparameters"] for a in order},
        "total_steps": {a: by_agent[a]["total_steps"] for a in order},
        "versions": run_jsons[0]["versions"],
        "git_commits": sorted({str(r["git_commit"]) for r in run_jsons}),
        "cpu_models": sorted({r["host"]["cpu_model"] for r in run_jsons}),
        "finished_at": max(r.get("finished_at", "") for r in run_jsons),
        "compute_seconds": float(runs.runs["wall_seconds"].sum()),
    }
