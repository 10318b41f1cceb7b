"""What a run records while it trains: finished training episodes, periodic and final evaluations,
training time kept apart from evaluation time, and the first time the solved threshold is reached.

Shared by every agent (the PPO loop, the random baseline), so both write identical files.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ppo.run.evaluate import EvalEpisodes, Evaluator, PolicyFn
from ppo.run.stop import safe_point
from ppo.run.tensorboard import ScalarLog

EPISODE_COLUMNS = ("episode", "step", "wall_s", "return", "length")
EVAL_COLUMNS = ("phase", "step", "wall_s", "episode", "return", "length", "truncated")


@dataclass(frozen=True)
class EvalSettings:
    every: int  # env steps between periodic evaluations (checked at rollout boundaries)
    episodes: int = 10  # episodes per periodic evaluation
    final_episodes: int = 100  # episodes of the final evaluation
    width: int = 10  # evaluation episodes run side by side
    threshold: float | None = None  # evaluation mean that counts as solved (None: never "solved")


@dataclass
class RunResult:
    """Everything a run produced; written to disk by ppo.run.directory (the only writer)."""

    episodes: list[tuple] = field(default_factory=list)  # rows of EPISODE_COLUMNS
    evals: list[tuple] = field(default_factory=list)  # rows of EVAL_COLUMNS
    total_steps: int = 0
    train_seconds: float = 0.0  # the training loop only (collection + update), evaluation excluded
    eval_seconds: float = 0.0
    steps_to_threshold: int | None = None
    seconds_to_threshold: float | None = None
    final_eval: EvalEpisodes | None = None
    model: dict[str, Any] | None = None  # model.pt's content (the agent's `saved()`), None without a model
    files: dict[str, bytes] = field(default_factory=dict)  # other files in the agent's own format (SB3's model.zip)
    last_update: dict[str, float] | None = None
    phase_seconds: dict[str, float] | None = None  # train_seconds split by PhaseTimer (PPO only)
    resumed_at: list[int] = field(default_factory=list)  # env steps at which the run resumed from a checkpoint
    # Whole games (Atari) only: the episode numbers (episodes.csv) of training games cut by the frame cap, None elsewhere.
    capped_games: list[int] | None = None
    compile: dict[str, Any] | None = None  # whether and why the update was compiled (PPO only: compiled.py)


class PhaseTimer:
    """Where the training loop's time goes: seconds per phase (inference, env, storage, update).

    lap(phase) charges the time since the previous lap to `phase`; restart() drops the time since then
    (used after evaluations, which RunLog times apart). A lap is one clock read and one addition.
    """

    PHASES = ("inference", "env", "storage", "update")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.PHASES, 0.0)
        self._last = time.perf_counter()

    def restart(self) -> None:
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] += now - self._last
        self._last = now


class RunLog:
    """`whole_games`: the env reports whole games in its infos (Atari: pixels.GameScore) and those, with their
    raw scores, are the training episodes logged; the learner's own episodes are single lives with clipped
    rewards."""

    def __init__(self, n_envs: int, evaluator: Evaluator, settings: EvalSettings, progress: Progress, whole_games=False):
        self.result = RunResult(capped_games=[] if whole_games else None)
        self.whole_games = whole_games
        self.evaluator, self.settings, self.progress = evaluator, settings, progress
        self._returns = np.zeros(n_envs)
        self._lengths = np.zeros(n_envs, dtype=np.int64)
        self._next_eval = 0
        self._scalars_from = 0  # the first episode not yet sent to progress.scalars
        self._eval_seconds = 0.0
        self._last_eval_mean: float | None = None
        self._start = time.perf_counter()
        # (step, training seconds) at the previous rollout boundary: the training speed since then
        self._speed_from = (0, 0.0)

    def train_seconds(self) -> float:
        return time.perf_counter() - self._start - self._eval_seconds

    def track(self, rewards: np.ndarray, done: np.ndarray, valid: np.ndarray, step: int, infos: dict | None = None) -> None:
        """Accumulate one vector step; `done` marks the envs whose episode ended on it (terminated or truncated),
        and autoreset steps (valid=False) are not part of any episode. With whole_games, the games that ended this
        step (in infos) are logged instead."""
        safe_point()  # every agent calls this at every env step: where a SIGTERM stops a run without checkpoints
        if self.whole_games:
            if infos is not None and "game_score" in infos:
                self._track_games(infos, step)
            return
        self._returns += rewards * valid
        self._lengths += valid
        if done.any():
            wall = self.train_seconds()
            for i in np.flatnonzero(done):
                self._log_episode(step, wall, self._returns[i], self._lengths[i])
            self._returns[done] = 0.0
            self._lengths[done] = 0

    def _log_episode(self, step: int, wall: float, episode_return, length) -> None:
        self.result.episodes.append((len(self.result.episodes), step, wall, float(episode_return), int(length)))

    def _track_games(self, infos: dict, step: int) -> None:
        ended = infos["_game_score"]
        if ended.any():
            wall = self.train_seconds()
            for i in np.flatnonzero(ended):
                if infos["game_truncated"][i]:  # cut by the frame cap (a stalled game), not played to its end
                    self.result.capped_games.append(len(self.result.episodes))
                self._log_episode(step, wall, infos["game_score"][i], infos["game_length"][i])

    def end_iteration(self, step: int, act: PolicyFn, update: dict[str, float] | None = None) -> None:
        """Called at each rollout boundary: evaluate when due, report progress."""
        self.result.total_steps = step
        speed = self._training_speed(step)
        if update is not None:
            self.result.last_update = update
        evaluated = step >= self._next_eval
        if evaluated:
            self._evaluate("periodic", step, act, self.settings.episodes)
            self._next_eval = (step // self.settings.every + 1) * self.settings.every
        self.progress.update(step, self.recent_train_return(), self._last_eval_mean)
        new_episodes = [row[3] for row in self.result.episodes[self._scalars_from :]]
        self._scalars_from = len(self.result.episodes)
        self.progress.scalars(
            step,
            {
                "train/episode_return": float(np.mean(new_episodes)) if new_episodes else None,
                "eval/mean_return": self._last_eval_mean if evaluated else None,
                "speed/steps_per_second": speed,
                **{f"update/{name}": value for name, value in (update or {}).items()},
            },
        )

    def _training_speed(self, step: int) -> float | None:
        """Env steps per second of training since the previous rollout boundary, evaluation excluded: run.json's
        steps_per_second (over the whole run) measured over the last update (None before the first update)."""
        seconds = self.train_seconds()
        step_from, seconds_from = self._speed_from
        self._speed_from = (step, seconds)
        return (step - step_from) / (seconds - seconds_from) if step > step_from and seconds > seconds_from else None

    def start(self, act: PolicyFn) -> None:
        """Evaluate the untrained policy at step 0 so every curve starts at the same point."""
        self.end_iteration(0, act)

    def finish(self, act: PolicyFn) -> RunResult:
        self.result.train_seconds = self.train_seconds()
        self.result.final_eval = self._evaluate("final", self.result.total_steps, act, self.settings.final_episodes)
        self.result.eval_seconds = self._eval_seconds
        self.progress.scalars(
            self.result.total_steps, {"eval/final_mean_return": float(self.result.final_eval.returns.mean())}
        )
        self.progress.close()
        return self.result

    def state_dict(self) -> dict[str, Any]:
        """Everything logged so far, for a checkpoint (plain lists and numbers). Episodes still running are
        not in it: a resumed run starts fresh episodes, and the interrupted ones are never logged."""
        r = self.result
        return {
            "episodes": [list(row) for row in r.episodes],
            "evals": [list(row) for row in r.evals],
            "total_steps": r.total_steps,
            "steps_to_threshold": r.steps_to_threshold,
            "seconds_to_threshold": r.seconds_to_threshold,
            "last_update": r.last_update,
            "next_eval": self._next_eval,
            "eval_seconds": self._eval_seconds,
            "train_seconds": self.train_seconds(),
            "last_eval_mean": self._last_eval_mean,
            "resumed_at": list(r.resumed_at),
            "capped_games": r.capped_games,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's log: the clocks go on from its training and evaluation seconds, and
        the checkpoint's step is recorded as a resume point."""
        r = self.result
        r.episodes, r.evals = [tuple(row) for row in state["episodes"]], [tuple(row) for row in state["evals"]]
        r.total_steps, r.last_update = state["total_steps"], state["last_update"]
        r.steps_to_threshold, r.seconds_to_threshold = state["steps_to_threshold"], state["seconds_to_threshold"]
        self._next_eval, self._eval_seconds = state["next_eval"], state["eval_seconds"]
        self._last_eval_mean = state["last_eval_mean"]
        r.resumed_at = [*state["resumed_at"], r.total_steps]  # earlier resumes, and this one
        r.capped_games = state.get("capped_games", r.capped_games)
        self._start = time.perf_counter() - state["train_seconds"] - state["eval_seconds"]
        self._speed_from = (r.total_steps, state["train_seconds"])
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._scalars_from = len(r.episodes)
        self.progress.update(r.total_steps, self.recent_train_return(), self._last_eval_mean)

    def recent_train_return(self, last: int = 20) -> float | None:
        rows = self.result.episodes[-last:]
        return float(np.mean([row[3] for row in rows])) if rows else None

    def _evaluate(self, phase: str, step: int, act: PolicyFn, n_episodes: int) -> EvalEpisodes:
        wall = self.train_seconds()
        t0 = time.perf_counter()
        episodes = self.evaluator.run(act, n_episodes)
        self._eval_seconds += time.perf_counter() - t0
        for k, (ret, length, cut) in enumerate(zip(episodes.returns, episodes.lengths, episodes.truncated)):
            self.result.evals.append((phase, step, wall, k, float(ret), int(length), bool(cut)))
        mean = float(episodes.returns.mean())
        self._last_eval_mean = mean
        threshold = self.settings.threshold
        if threshold is not None and mean >= threshold and self.result.steps_to_threshold is None:
            self.result.steps_to_threshold, self.result.seconds_to_threshold = step, wall
        self.progress.log(f"{phase} evaluation at step {step}: mean return {mean:.1f} over {n_episodes} episodes")
        self.progress.evaluated(phase, step, mean)
        return episodes


class Progress:
    """A tqdm bar on a terminal; plain log lines (at evaluations) otherwise, e.g. under Snakemake."""

    def __init__(self, total_steps: int, label: str, enabled: bool = True, tensorboard_dir: str | Path | None = None):
        self.enabled = enabled
        # TensorBoard scalars (tensorboard.py), independent of `enabled`: a quiet job under Snakemake is watched there.
        self.tensorboard = ScalarLog(tensorboard_dir) if tensorboard_dir is not None else None
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_steps, desc=label, unit="step", dynamic_ncols=True)
        self._last = 0

    def update(self, step: int, train_return: float | None, eval_return: float | None) -> None:
        if self.bar is not None:
            self.bar.update(step - self._last)
            self.bar.set_postfix(train=_fmt(train_return), eval=_fmt(eval_return), refresh=False)
        self._last = step

    def notice(self, message: str) -> None:
        """A line printed even when progress output is off (what a rerun did differently)."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def scalars(self, step: int, values: dict[str, float | None]) -> None:
        """Called once per update with what a live view plots (None: nothing new this time)."""
        if self.tensorboard is not None:
            self.tensorboard.record(step, values)

    def evaluated(self, phase: str, step: int, mean: float) -> None:
        """Called after every evaluation with its mean return; a tuning trial reports it to its pruner here."""

    def log(self, message: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
