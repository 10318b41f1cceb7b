"""The one writer (and reader) of a run directory: episodes.csv, evals.csv, model.pt, run.json.

run.json is written last, so a directory with run.json is complete; every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ppo.atomic import atomic_path, write_json
from ppo.networks import ActorCritic
from ppo.runlog import EPISODE_COLUMNS, EVAL_COLUMNS, RunResult

MODEL_FORMAT = "ppo-bench-model/1"


def write_csv(path: Path, rows: list[tuple], columns: tuple[str, ...]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=list(columns)).to_csv(tmp, index=False)


def summarize_returns(returns: np.ndarray) -> dict[str, Any]:
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": int(len(returns))}


def write_run(
    out_dir: str | Path, result: RunResult, meta: dict[str, Any], model_meta: dict[str, Any] | None
) -> dict[str, Any]:
    """Write the run's files; returns the run.json content."""
    out = Path(out_dir)
    write_csv(out / "episodes.csv", result.episodes, EPISODE_COLUMNS)
    write_csv(out / "evals.csv", result.evals, EVAL_COLUMNS)
    if result.model_state is not None:
        with atomic_path(out / "model.pt") as tmp:
            torch.save({"format": MODEL_FORMAT, **(model_meta or {}), "state_dict": result.model_state}, tmp)
    wall = result.train_seconds + result.eval_seconds
    run = {
        **meta,
        "total_steps": result.total_steps,
        "wall_seconds": wall,
        "train_seconds": result.train_seconds,
        "eval_seconds": result.eval_seconds,
        "train_seconds_by_phase": result.phase_seconds,
        "steps_per_second": result.total_steps / result.train_seconds if result.train_seconds > 0 else None,
        "steps_to_threshold": result.steps_to_threshold,
        "seconds_to_threshold": result.seconds_to_threshold,
        "training_episodes": len(result.episodes),
        "final_eval": summarize_returns(result.final_eval.returns) if result.final_eval is not None else None,
        "last_update": result.last_update,
    }
    write_json(out / "run.json", run)
    return run


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; is {run_dir!r} a finished run directory?") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})") from None


def load_policy(run_dir: str | Path, obs_dim: int, n_actions: int) -> ActorCritic:
    """Load model.pt safely (weights_only=True: tensors and plain containers, never code) and check it
    fits the env it is about to act in."""
    path = Path(run_dir) / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing (the random agent has no model; only ppo runs do)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint: {str(err).splitlines()[0]}") from None
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a {MODEL_FORMAT} checkpoint")
    if (saved["obs_dim"], saved["n_actions"]) != (obs_dim, n_actions):
        raise ValueError(
            f"{path} was trained on {saved['env_id']} (obs size {saved['obs_dim']}, {saved['n_actions']} actions); "
            f"this env needs obs size {obs_dim} and {n_actions} actions"
        )
    policy = ActorCritic(obs_dim, n_actions, tuple(saved["net_arch"]), saved["activation"])
    try:
        policy.load_state_dict(saved["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit this version's network: {str(err).splitlines()[1].strip()}") from None
    return policy.eval()
