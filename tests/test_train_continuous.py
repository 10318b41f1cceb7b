"""PPO on continuous actions: clipping, normalization saved with the policy, learning, determinism."""

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from test_train import QUIET, logs_without_wall_clock, train_cli

import ppo.agents.ppo.train
from ppo.agents.ppo.buffer import RolloutBuffer
from ppo.agents.ppo.networks import load_policy
from ppo.agents.ppo.policy import NumpyActorCritic
from ppo.cli import main
from ppo.config import Hyperparameters
from ppo.envs import env_info
from ppo.run.evaluate import Evaluator
from ppo.run.log import EvalSettings


class RecordingBoxEnv(gym.Env):
    """Box actions in [-1, 1]; remembers every action it is given."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    received: list[np.ndarray] = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        RecordingBoxEnv.received.append(np.array(action))
        return np.zeros(2, np.float32), -float(np.square(action).sum()), False, False, {}


gym.register("PPOBenchRecordingBox-v0", entry_point=RecordingBoxEnv, max_episode_steps=16)


def test_clipped_actions_reach_the_env_and_unclipped_samples_the_buffer(monkeypatch):
    stored = []

    class RecordingBuffer(RolloutBuffer):
        def add(self, obs, actions, *rest):
            stored.append(np.array(actions))
            super().add(obs, actions, *rest)

    monkeypatch.setattr(ppo.agents.ppo.train, "RolloutBuffer", RecordingBuffer)
    RecordingBoxEnv.received.clear()
    # log_std 1: samples leave [-1, 1] about a third of the time. 15 steps: no episode (16 steps) ends, so no
    # autoreset step swallows an action.
    hp = Hyperparameters(n_envs=2, n_steps=15, batch_size=30, n_epochs=1, total_timesteps=30, log_std_init=1.0)
    evaluation = EvalSettings(every=10**9, episodes=1, final_episodes=1, width=1)
    ppo.agents.ppo.train.train_ppo("PPOBenchRecordingBox-v0", hp, 0, evaluation, QUIET)
    stored = np.concatenate(stored)  # (30, 1): 15 vector steps of 2 envs
    assert np.abs(RecordingBoxEnv.received).max() <= 1.0  # the env only ever sees actions within its bounds
    assert np.abs(stored).max() > 1.5  # the buffer keeps what was sampled
    # The env's calls: one 16-step evaluation episode at step 0, then the 30 training actions, then the final one.
    training = np.concatenate(RecordingBoxEnv.received[16 : 16 + len(stored)])
    np.testing.assert_array_equal(training, np.clip(stored, -1, 1).reshape(-1))


@pytest.mark.slow
def test_normalization_statistics_travel_with_the_model_and_returns_stay_raw(tmp_path, capsys):
    run = tmp_path / "pendulum"
    train_cli(run, "Pendulum-v1", "ppo", 0, 8192, "--set", "normalize_observation=true", "--set", "normalize_reward=true")
    info = env_info("Pendulum-v1")
    policy = load_policy(run, info)
    assert policy.obs_rms is not None and np.abs(policy.obs_rms.mean).max() > 0.01 and float(policy.obs_rms.count) > 8000
    # The reloaded policy acts exactly as the saved run's final evaluation did (same fixed evaluation seeds).
    evals = pd.read_csv(run / "evals.csv")
    final = evals.loc[evals.phase == "final", "return"].to_numpy()
    assert main(["evaluate", "--run", str(run), "--episodes", str(len(final))]) == 0
    assert json.loads(capsys.readouterr().out)["mean_return"] == pytest.approx(final.mean(), rel=1e-9)
    # Raw returns: Pendulum pays between -16.3 and 0 per step for 200 steps; scaled rewards (clipped at 10)
    # could not sum to these.
    assert (final < 0).all() and final.min() > -16.3 * 200 and final.mean() < -10
    # The statistics matter: the same weights without them act differently.
    actor = NumpyActorCritic(policy)
    evaluator = Evaluator("Pendulum-v1", 5)
    with_stats = evaluator.run(actor.greedy, 5).returns
    actor.obs_rms = None
    without_stats = evaluator.run(actor.greedy, 5).returns
    evaluator.close()
    assert not np.allclose(with_stats, without_stats)


@pytest.mark.slow
def test_same_seed_gives_identical_continuous_logs(tmp_path):
    extra = (
        "--set",
        "normalize_observation=true",
        "--set",
        "normalize_reward=true",
        "--set",
        "n_envs=4",
        "--set",
        "n_steps=256",
    )
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        train_cli(tmp_path / name, "Pendulum-v1", "ppo", seed, 2048, *extra)
    a, b, c = (logs_without_wall_clock(tmp_path / name) for name in "abc")
    for left, right in zip(a, b):
        pd.testing.assert_frame_equal(left, right)
    assert not a[1].equals(c[1])


@pytest.mark.slow
def test_short_pendulum_run_beats_random(tmp_path):
    train_cli(tmp_path / "ppo", "Pendulum-v1", "ppo", 0, 61_440)
    train_cli(tmp_path / "random", "Pendulum-v1", "random", 0, 61_440)
    ppo_return, random_return = (
        json.loads((tmp_path / name / "run.json").read_text())["final_eval"]["mean_return"] for name in ("ppo", "random")
    )
    assert random_return < -900, random_return
    assert ppo_return > -400, ppo_return
