"""sb3-ppo: Stable-Baselines3's PPO run through ppo-bench's envs, seeds, logs and evaluator."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from ppo.agents import get_agent, resolve
from ppo.agents import sb3 as sb3_agent
from ppo.cli import main
from ppo.config import ConfigError, Hyperparameters
from ppo.envs import env_info
from ppo.run.directory import write_run
from ppo.run.evaluate import Evaluator
from ppo.run.log import EvalSettings, Progress

QUIET = Progress(0, "", enabled=False)
SCHEDULED = Hyperparameters(
    n_envs=2, n_steps=16, batch_size=16, n_epochs=1, learning_rate=1e-3, lr_schedule="linear", clip_range=0.2,
    clip_range_schedule="linear", total_timesteps=32 * 5,
)  # fmt: skip


def logged(model):
    values = model.logger.name_to_value
    return values["train/learning_rate"], values["train/clip_range"]


def sb3_schedule_per_update(hp, shift):
    """(learning rate, clip range) SB3 used in each update of a short CartPole run."""
    from stable_baselines3.common.callbacks import BaseCallback

    model = sb3_agent.build_model("CartPole-v1", hp, seed=0)
    if not shift:  # what SB3 does with the plain schedules: its progress counts the rollout just collected
        model.lr_schedule = lambda p: hp.learning_rate_at(p)
        model.clip_range = lambda p: hp.clip_range_at(p)
    seen = []

    class AfterEachUpdate(BaseCallback):
        def _on_rollout_start(self):
            if self.num_timesteps:
                seen.append(
                    (
                        self.model.logger.name_to_value["train/learning_rate"],
                        self.model.logger.name_to_value["train/clip_range"],
                    )
                )

        def _on_step(self):
            return True

    model.learn(hp.trained_timesteps, callback=AfterEachUpdate())
    seen.append(logged(model))
    return seen


def test_sb3_runs_each_update_with_our_learning_rate_and_clip_range():
    ours = [(SCHEDULED.learning_rate_at(r), SCHEDULED.clip_range_at(r)) for r in map(SCHEDULED.progress_remaining, range(5))]
    assert ours[0] == (1e-3, 0.2) and ours[-1] == pytest.approx((2e-4, 0.04))
    np.testing.assert_allclose(sb3_schedule_per_update(SCHEDULED, shift=True), ours, rtol=1e-9, atol=1e-12)
    # Unaligned, SB3 is one rollout ahead: first update at 1 - 1/n, last at 0.
    unaligned = sb3_schedule_per_update(SCHEDULED, shift=False)
    np.testing.assert_allclose(unaligned, ours[1:] + [(0.0, 0.0)], rtol=1e-9, atol=1e-12)


def train_sb3_cli(out, env="CartPole-v1", seed=0, steps=2048, *extra):
    args = ["train", "--env", env, "--agent", "sb3-ppo", "--seed", str(seed), "--out", str(out), "--quiet"]
    assert main([*args, "--total-timesteps", str(steps), "--final-eval-episodes", "5", "--eval-episodes", "3", *extra]) == 0


def test_same_seed_gives_identical_logs_and_the_saved_model_replays_the_final_evaluation(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        train_sb3_cli(tmp_path / name, seed=seed)
    a, b, c = ([pd.read_csv(tmp_path / n / f).drop(columns="wall_s") for f in ("episodes.csv", "evals.csv")] for n in "abc")
    for left, right in zip(a, b):
        pd.testing.assert_frame_equal(left, right)
    assert not a[0].equals(c[0])
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["agent"] == "sb3-ppo" and run["versions"]["stable_baselines3"] != "not installed"
    assert run["total_steps"] == 2048 and run["last_update"]["n_updates"] > 0
    # Evaluated periodically after updates, at the same steps as our runs: 0, then every 2048 / 20 steps' rollout.
    evals = a[1]
    assert set(evals["phase"]) == {"periodic", "final"} and evals["step"].iloc[0] == 0
    # A run without normalization still leaves its statistics file, holding None (the workflow declares it).
    assert pickle.loads((tmp_path / "a" / "vec_normalize.pkl").read_bytes()) is None
    replay = get_agent("sb3-ppo").evaluation_policy(tmp_path / "a", env_info("CartPole-v1"), seed=3)
    evaluator = Evaluator("CartPole-v1", 5)
    np.testing.assert_array_equal(evaluator.run(replay, 5).returns, evals[evals["phase"] == "final"]["return"].to_numpy())
    evaluator.close()


def test_normalized_run_logs_raw_rewards_and_reloads_its_statistics(tmp_path, monkeypatch):
    """Pendulum with VecNormalize: training episodes are the env's raw returns (as SB3's Monitor saw them),
    and model.zip + vec_normalize.pkl replay the final evaluation exactly; without the statistics they do not."""
    built = []
    build = sb3_agent.build_model
    monkeypatch.setattr(sb3_agent, "build_model", lambda *args: built.append(build(*args)) or built[-1])
    hp, _ = resolve("sb3-ppo", "Pendulum-v1", {"n_envs": 2, "n_steps": 256, "total_timesteps": 2048})
    assert hp.normalize_observation is False  # the zoo does not normalize Pendulum: ask for it here
    hp = Hyperparameters(**{**hp.to_dict(), "normalize_observation": True, "normalize_reward": True})
    result = sb3_agent.train_sb3("Pendulum-v1", hp, 0, EvalSettings(every=1024, episodes=2, final_episodes=3), QUIET)
    monitors = built[0].get_env().venv.envs
    monitored = sorted(r for monitor in monitors for r in monitor.get_episode_rewards())
    logged = sorted(round(row[3], 6) for row in result.episodes)
    assert len(logged) == 2048 // 200 and logged == pytest.approx(monitored, abs=1e-3)
    assert min(logged) < -500  # raw Pendulum returns; normalized rewards would sum to tens

    write_run(tmp_path, result, {"agent": "sb3-ppo"})
    assert {"model.zip", "vec_normalize.pkl"} <= {p.name for p in tmp_path.iterdir()}
    evaluator = Evaluator("Pendulum-v1", 3)
    replay = sb3_agent.saved_evaluation_policy(tmp_path, env_info("Pendulum-v1"), 0)
    # Equal to float32 rounding (SB3's reloaded policy can round a last bit differently over 200 steps).
    np.testing.assert_allclose(evaluator.run(replay, 3).returns, result.final_eval.returns, rtol=1e-7)
    evaluator.close()
    # Without its statistics the run is broken: refused in one line naming the file, never evaluated unnormalized.
    (tmp_path / "vec_normalize.pkl").unlink()
    with pytest.raises(FileNotFoundError, match=r"vec_normalize\.pkl is missing.*normalization statistics") as refused:
        sb3_agent.saved_evaluation_policy(tmp_path, env_info("Pendulum-v1"), 0)
    assert "\n" not in str(refused.value)


def test_evaluating_a_run_without_its_statistics_file_is_refused_in_one_line(tmp_path, capsys):
    train_sb3_cli(tmp_path / "run", steps=256)
    (tmp_path / "run" / "vec_normalize.pkl").unlink()
    capsys.readouterr()  # the training's own lines
    assert main(["evaluate", "--run", str(tmp_path / "run"), "--episodes", "2"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "vec_normalize.pkl is missing" in lines[0]


def test_value_clipping_is_refused_for_sb3_ppo_and_kept_for_ours():
    """SB3 clips the value prediction; ours takes PPO2's max of clipped and unclipped errors: not like for like."""
    with pytest.raises(ConfigError, match=r"clip_range_vf=0\.2 has no like-for-like Stable-Baselines3 equivalent"):
        resolve("sb3-ppo", "CartPole-v1", {"clip_range_vf": 0.2})
    assert resolve("ppo-zoo", "CartPole-v1", {"clip_range_vf": 0.2})[0].clip_range_vf == 0.2
