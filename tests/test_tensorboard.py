"""TensorBoard scalars beside a run's CSVs (ppo/run/tensorboard.py): what a live view plots, once per update."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ppo.cli import main
from ppo.run import log as run_log
from ppo.run import tensorboard
from ppo.run.evaluate import EvalEpisodes
from ppo.run.log import EvalSettings, Progress, RunLog

pytest.importorskip("tensorboard", reason="the tensorboard extra is part of the lock: CI has it")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_run_writes_its_curves_for_tensorboard(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--env", "CartPole-v1", "--agent", "ppo", "--seed", "0", "--quiet", "--out", str(out)]
    args += ["--total-timesteps", "4096", "--eval-every", "1024", "--eval-episodes", "2", "--final-eval-episodes", "3"]
    assert main(args) == 0
    logged = scalars(out / "tensorboard")
    for tag in ("train/episode_return", "update/policy_loss", "update/value_loss", "update/approx_kl",
                "update/clip_fraction", "update/entropy", "speed/steps_per_second"):  # fmt: skip
        assert logged.get(tag), f"{tag} missing: {sorted(logged)}"
    # Evaluations: the same steps and means as evals.csv.
    evals = pd.read_csv(out / "evals.csv")
    periodic = evals[evals.phase == "periodic"].groupby("step")["return"].mean()
    assert [step for step, _ in logged["eval/mean_return"]] == list(periodic.index)
    assert [value for _, value in logged["eval/mean_return"]] == pytest.approx(list(periodic.values))
    final = evals[evals.phase == "final"]["return"].mean()
    assert logged["eval/final_mean_return"] == [(4096, pytest.approx(final))]
    # One point per update (16 rollouts of the preset's 8 x 32) for the update's diagnostics, none at step 0.
    assert [step for step, _ in logged["update/approx_kl"]] == list(range(256, 4097, 256))
    # Training returns: at each rollout boundary, the mean of the episodes that ended in that rollout (episodes.csv's
    # step in (boundary - 256, boundary]); rollouts where none ended have no point.
    episodes = pd.read_csv(out / "episodes.csv")
    per_rollout = episodes.groupby((episodes.step + 255) // 256 * 256)["return"].mean()
    assert per_rollout.nunique() > 1, "every rollout's mean alike: a stale value could not show"
    assert [step for step, _ in logged["train/episode_return"]] == list(per_rollout.index)
    assert [value for _, value in logged["train/episode_return"]] == pytest.approx(list(per_rollout.values))


def test_steps_per_second_is_the_training_speed_without_evaluation_time(monkeypatch, tmp_path):
    """A clock that moves 2 s per 1,000-step update and 100 s per evaluation (at every boundary): TensorBoard's
    speed at each update is 500 steps/s, the training speed run.json reports (steps over training seconds);
    evaluation time in it would make ~10."""
    clock = [0.0]
    fake_time = SimpleNamespace(perf_counter=lambda: clock[0])
    monkeypatch.setattr(run_log, "time", fake_time)
    monkeypatch.setattr(tensorboard, "time", fake_time, raising=False)  # where a ScalarLog would read its own clock

    class SlowEvaluator:
        def run(self, act, n_episodes):
            clock[0] += 100.0
            return EvalEpisodes(np.zeros(n_episodes), np.ones(n_episodes, dtype=np.int64), np.zeros(n_episodes, dtype=bool))

    progress = Progress(total_steps=3000, label="test", enabled=False, tensorboard_dir=tmp_path)
    log = RunLog(1, SlowEvaluator(), EvalSettings(every=1000, episodes=1, final_episodes=1), progress)
    log.start(act=None)
    for step in (1000, 2000, 3000):
        clock[0] += 2.0
        log.end_iteration(step, act=None)
    result = log.finish(act=None)
    assert scalars(tmp_path)["speed/steps_per_second"] == [(1000, 500.0), (2000, 500.0), (3000, 500.0)]
    assert result.total_steps / result.train_seconds == 500.0
    assert result.eval_seconds == 500.0  # evaluations at 0, 1000, 2000, 3000 and the final one
