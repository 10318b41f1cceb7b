"""The one writer and reader of a run directory: episodes.csv, evals.csv, model.pt, run.json.

run.json is written last, so a directory with run.json is complete; every file is written atomically.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from ppo.run.atomic import atomic_path, write_json
from ppo.run.evaluate import EvalEpisodes
from ppo.run.log import EPISODE_COLUMNS, EVAL_COLUMNS, RunResult
from ppo.run.provenance import git_commit, host, versions

MODEL_FORMAT = "ppo-bench-model/1"
CHECKPOINT, CHECKPOINT_FORMAT = "checkpoint.pt", "ppo-bench-checkpoint/1"


class ResultsError(ValueError):
    """A run directory is missing files or holds a corrupt one; the message names the file."""


class RunFiles(NamedTuple):
    """A finished run directory, read and checked: run.json as a dict, the two logs as frames
    (columns EPISODE_COLUMNS and EVAL_COLUMNS)."""

    run: dict[str, Any]
    episodes: pd.DataFrame
    evals: pd.DataFrame


def write_csv(path: Path, rows: list[tuple], columns: tuple[str, ...]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=list(columns)).to_csv(tmp, index=False)


def summarize_returns(episodes: EvalEpisodes) -> dict[str, Any]:
    """run.json's final evaluation; truncated_episodes counts episodes cut by a time limit (on Atari, games
    that ran to the 108k-frame cap: a stalled policy shows here, not as a silently long evaluation)."""
    returns = episodes.returns
    return {
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "episodes": int(len(returns)),
        "truncated_episodes": int(np.sum(episodes.truncated)),
    }


def write_run(out_dir: str | Path, result: RunResult, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the run's files; returns the run.json content: `meta` (what was run), provenance (versions,
    commit, host, time), then what the run measured."""
    out = Path(out_dir)
    write_csv(out / "episodes.csv", result.episodes, EPISODE_COLUMNS)
    write_csv(out / "evals.csv", result.evals, EVAL_COLUMNS)
    if result.model is not None:
        with atomic_path(out / "model.pt") as tmp:
            torch.save({"format": MODEL_FORMAT, **result.model}, tmp)
    for name, content in result.files.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(content)
    wall = result.train_seconds + result.eval_seconds
    run = {
        **meta,
        "versions": versions(),
        "git_commit": git_commit(),
        "host": host(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "total_steps": result.total_steps,
        "wall_seconds": wall,
        "train_seconds": result.train_seconds,
        "eval_seconds": result.eval_seconds,
        "train_seconds_by_phase": result.phase_seconds,
        "steps_per_second": result.total_steps / result.train_seconds if result.train_seconds > 0 else None,
        "steps_to_threshold": result.steps_to_threshold,
        "seconds_to_threshold": result.seconds_to_threshold,
        "training_episodes": len(result.episodes),
        # Env steps at which the run resumed from a checkpoint (the episodes running then were dropped).
        "resumed_at_steps": result.resumed_at,
        # Atari: the training games (episode numbers in episodes.csv) cut by the frame cap; null for other envs.
        "training_games_capped": result.capped_games,
        "final_eval": summarize_returns(result.final_eval) if result.final_eval is not None else None,
        "last_update": result.last_update,
        "compile": result.compile,
    }
    write_json(out / "run.json", run)
    return run


def write_run_json(out_dir: str | Path, run: dict[str, Any]) -> None:
    """run.json alone, atomically: a run directory copied from elsewhere (an imported results tree) with its
    record amended (provenance, a new agent name); the other files are the copied ones."""
    write_json(Path(out_dir) / "run.json", run)


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; is {run_dir!r} a finished run directory?") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})") from None


def read_run(run_dir: str | Path) -> RunFiles:
    """run.json, episodes.csv and evals.csv of a finished run; ResultsError names a missing or corrupt file."""
    run_dir = Path(run_dir)
    try:
        run = json.loads((run_dir / "run.json").read_text())
    except FileNotFoundError:
        raise ResultsError(f"{run_dir / 'run.json'} is missing; rerun the training job that writes it") from None
    except json.JSONDecodeError as err:
        raise ResultsError(f"{run_dir / 'run.json'} is not valid JSON ({err.msg})") from None
    episodes = _read_csv(run_dir / "episodes.csv", EPISODE_COLUMNS)
    evals = _read_csv(run_dir / "evals.csv", EVAL_COLUMNS, optional={"truncated": False})
    return RunFiles(run, episodes, evals)


_EMPTY_DTYPES = {"phase": "object", "episode": "int64", "step": "int64", "length": "int64", "truncated": "bool"}


def _read_csv(path: Path, columns: tuple[str, ...], optional: dict[str, Any] | None = None) -> pd.DataFrame:
    """The CSV checked to have `columns`; a column in `optional` that an older version did not write is added
    with its default (evals.csv's `truncated`: runs from before it was recorded)."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ResultsError(f"{path} is missing; rerun the training job that writes it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path} is not a readable CSV ({str(err).splitlines()[0]})") from None
    for name, default in (optional or {}).items():
        if name not in frame.columns and list(frame.columns) == [c for c in columns if c != name]:
            frame[name] = default
    if list(frame.columns) != list(columns):
        raise ResultsError(f"{path} has columns {list(frame.columns)}; expected {list(columns)}")
    if frame.empty:
        # A header alone (the evals.csv of a run imported without a policy: nothing was evaluated) reads as text
        # columns; a written log's dtypes keep numbers numbers when the frames of several runs are concatenated.
        return frame.astype({c: _EMPTY_DTYPES.get(c, "float64") for c in columns})
    numeric = [c for c in columns if c != "phase"]
    if frame[numeric].isna().any().any() or not all(pd.api.types.is_numeric_dtype(frame[c]) for c in numeric):
        raise ResultsError(f"{path} has empty or non-numeric values (truncated or corrupt file?)")
    return frame


def load_model(run_dir: str | Path) -> dict[str, Any]:
    """model.pt's content, read safely (weights_only=True: tensors and plain containers, never code). The
    agent that saved it builds its policy from it (see the registry's `actor`)."""
    path = Path(run_dir) / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing (the random agent has no model; only ppo runs do)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint: {str(err).splitlines()[0]}") from None
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a {MODEL_FORMAT} checkpoint")
    return saved


def write_checkpoint(run_dir: str | Path, checkpoint: dict[str, Any]) -> None:
    """checkpoint.pt, atomically: a kill while writing leaves the previous checkpoint intact."""
    with atomic_path(Path(run_dir) / CHECKPOINT) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **checkpoint}, tmp)


def read_checkpoint(run_dir: str | Path) -> dict[str, Any] | None:
    """checkpoint.pt's content (weights_only: tensors and plain containers), or None if there is none."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} is not a readable checkpoint ({str(err).splitlines()[0]}); delete it to start over"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint; delete it to start over")
    return saved


def remove_checkpoint(run_dir: str | Path) -> None:
    (Path(run_dir) / CHECKPOINT).unlink(missing_ok=True)
