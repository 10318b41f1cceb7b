import json

import pandas as pd
import pytest
import torch

from ppo.agents.ppo.policy import ActorCritic
from ppo.agents.ppo.train import train_ppo
from ppo.cli import main
from ppo.config import Hyperparameters
from ppo.run.log import EvalSettings, Progress

QUIET = Progress(0, "", enabled=False)


def train_cli(out, env="CartPole-v1", agent="ppo", seed=0, steps=2048, *extra):
    args = ["train", "--env", env, "--agent", agent, "--seed", str(seed), "--out", str(out), "--quiet"]
    args += ["--total-timesteps", str(steps), "--final-eval-episodes", "5", "--eval-episodes", "3", *extra]
    assert main(args) == 0


def logs_without_wall_clock(run_dir):
    return [pd.read_csv(run_dir / name).drop(columns="wall_s") for name in ("episodes.csv", "evals.csv")]


def test_value_of_an_endless_env_needs_truncation_bootstrapping():
    """Reward 1 forever, cut by a 20-step TimeLimit: V = 1 / (1 - 0.9) = 10. Treating the truncation as a
    termination would teach the critic the mean of the cut-off sums, about 6.1."""
    hp = Hyperparameters(
        n_envs=4, n_steps=32, batch_size=64, n_epochs=10, learning_rate=3e-3, gamma=0.9, gae_lambda=0.95, total_timesteps=6400
    )
    result = train_ppo(
        "PPOBenchEndless-v0", hp, seed=0, evaluation=EvalSettings(every=10**9, final_episodes=1), progress=QUIET
    )
    policy = ActorCritic(2, 2, hp.net_arch, hp.activation)
    policy.load_state_dict(result.model["state_dict"])
    value = policy(torch.ones(1, 2))[1].item()
    assert value == pytest.approx(10.0, abs=0.5)


@pytest.mark.parametrize("agent", ["ppo", "random"])
def test_same_seed_gives_identical_logs_and_another_seed_does_not(tmp_path, agent):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        train_cli(tmp_path / name, agent=agent, seed=seed)
    a, b, c = (logs_without_wall_clock(tmp_path / name) for name in "abc")
    for left, right in zip(a, b):
        pd.testing.assert_frame_equal(left, right)
    assert not a[0].equals(c[0])
    if agent == "ppo":
        weights_a, weights_b = (torch.load(tmp_path / n / "model.pt", weights_only=True)["state_dict"] for n in "ab")
        assert all(weights_a[key].equal(weights_b[key]) for key in weights_a)


def test_run_directory_contents(tmp_path):
    train_cli(tmp_path / "run", steps=1024)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    for key in ("env", "agent", "seed", "hyperparameters", "versions", "git_commit", "host", "total_steps", "wall_seconds",
                "steps_per_second", "seconds_to_threshold", "steps_to_threshold"):  # fmt: skip
        assert key in run
    assert run["final_eval"]["episodes"] == 5 and run["total_steps"] == 1024
    assert run["versions"]["torch"].startswith("2.13.0")
    episodes = pd.read_csv(tmp_path / "run" / "episodes.csv")
    assert list(episodes.columns) == ["episode", "step", "wall_s", "return", "length"]
    # CartPole pays 1 per step, so every training episode's return equals its length.
    assert (episodes["return"] == episodes["length"]).all() and episodes["step"].is_monotonic_increasing
    evals = pd.read_csv(tmp_path / "run" / "evals.csv")
    assert set(evals["phase"]) == {"periodic", "final"} and (evals["phase"] == "final").sum() == 5
    assert (evals.loc[evals.phase == "final", "step"] == 1024).all()


@pytest.mark.slow
def test_short_cartpole_run_beats_random_by_a_clear_margin(tmp_path):
    train_cli(tmp_path / "ppo", agent="ppo", steps=40_000)
    train_cli(tmp_path / "random", agent="random", steps=40_000)
    ppo = json.loads((tmp_path / "ppo" / "run.json").read_text())["final_eval"]["mean_return"]
    rnd = json.loads((tmp_path / "random" / "run.json").read_text())["final_eval"]["mean_return"]
    assert rnd < 40, rnd
    assert ppo > 150 and ppo > 5 * rnd, (ppo, rnd)


@pytest.mark.slow
def test_lunar_lander_end_to_end_and_reevaluation(tmp_path, capsys):
    train_cli(tmp_path / "ll", "LunarLander-v2", "ppo", 0, 4096, "--set", "n_envs=4", "--set", "n_steps=256")
    assert "using LunarLander-v3 instead" in capsys.readouterr().err
    for name in ("episodes.csv", "evals.csv", "model.pt", "run.json"):
        assert (tmp_path / "ll" / name).stat().st_size > 0
    assert json.loads((tmp_path / "ll" / "run.json").read_text())["env"] == "LunarLander-v3"
    assert main(["evaluate", "--run", str(tmp_path / "ll"), "--episodes", "3", "--out", str(tmp_path / "re.csv")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 3 and len(pd.read_csv(tmp_path / "re.csv")) == 3


@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_learning_rate_and_clip_range_follow_their_schedules(monkeypatch, schedule):
    import ppo.agents.ppo.train

    seen = []
    real_update = ppo.agents.ppo.train.ppo_update

    def recording_update(policy, optimizer, rollout, hp, generator, clip_range, compiled_step=None):
        seen.append((optimizer.lr, clip_range))
        return real_update(policy, optimizer, rollout, hp, generator, clip_range, compiled_step)

    monkeypatch.setattr(ppo.agents.ppo.train, "ppo_update", recording_update)
    hp = Hyperparameters(
        n_envs=2, n_steps=8, batch_size=8, n_epochs=1, total_timesteps=64, learning_rate=1e-3,
        lr_schedule=schedule, clip_range=0.2, clip_range_schedule=schedule,
    )  # fmt: skip
    train_ppo("CartPole-v1", hp, 0, EvalSettings(every=10**9, episodes=1, final_episodes=1, width=1), QUIET)
    remaining = [1.0, 0.75, 0.5, 0.25] if schedule == "linear" else [1.0] * 4
    assert [lr for lr, _ in seen] == pytest.approx([1e-3 * r for r in remaining])
    assert [clip for _, clip in seen] == pytest.approx([0.2 * r for r in remaining])
