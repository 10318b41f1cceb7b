"""ONNX policies: exported from our runs and from Stable-Baselines3 they act as the models they came from; a
graph that does not fit its env, or answers NaN, is refused in one line naming the file."""

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_train import train_cli
from torch import nn

from ppo.agents.ppo.distributions import Categorical
from ppo.agents.ppo.networks import load_policy
from ppo.agents.ppo.networks import saved_evaluation_policy as torch_evaluation_policy
from ppo.cli import main
from ppo.envs import env_info, make_env
from ppo.outside.export_onnx import export_run
from ppo.outside.onnx_policy import evaluation_seed, load_onnx_policy, onnx_evaluation_policy, saved_evaluation_policy
from ppo.run.evaluate import Evaluator

CARTPOLE, PENDULUM = env_info("CartPole-v1"), env_info("Pendulum-v1")


def record_observations(env_id: str, act, n: int = 1000, seed: int = 0) -> np.ndarray:
    """n observations met playing `act` with a fifth of the actions random (states off the policy's own path too)."""
    env, rng = make_env(env_id), np.random.default_rng(seed)
    observations, episode = [], 0
    obs, _ = env.reset(seed=seed)
    while len(observations) < n:
        observations.append(obs)
        action = env.action_space.sample() if rng.random() < 0.2 else act(obs[None])[0]
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
    env.close()
    return np.stack(observations)


def export_module(module: nn.Module, path, obs_shape, *, dtype=torch.float32, batch="batch", outputs=("out",), axes=None):
    """A tiny graph for the refusals, exported as a user would (dynamic batch axis unless batch=None)."""
    dynamic = axes if axes is not None else ({"obs": {0: batch}, **{name: {0: batch} for name in outputs}} if batch else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (torch.zeros(1, *obs_shape, dtype=dtype),), str(path), input_names=["obs"],
                          output_names=list(outputs), dynamic_axes=dynamic, dynamo=False)  # fmt: skip
    return path


def one_line_refusal(path, info, match):
    with pytest.raises(ValueError, match=match) as refused:
        load_onnx_policy(path, info)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)


# -- our runs --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cartpole") / "run"
    train_cli(run, "CartPole-v1", "ppo", 0, 4096)
    assert main(["export-onnx", "--run", str(run), "--env", "CartPole-v1", "--out", str(run / "policy.onnx")]) == 0
    return run


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("pendulum") / "run"
    normalize = ["--set", "normalize_observation=true", "--set", "normalize_reward=true"]
    train_cli(run, "Pendulum-v1", "ppo", 0, 4096, "--set", "n_envs=2", "--set", "n_steps=512", *normalize)
    export_run(run, PENDULUM, run / "policy.onnx")
    return run


def test_exported_cartpole_run_takes_the_torch_actors_greedy_actions_on_1000_observations(cartpole_run):
    ours = torch_evaluation_policy(cartpole_run, CARTPOLE, seed=0)
    onnx = saved_evaluation_policy(cartpole_run, CARTPOLE, seed=0)
    obs = record_observations("CartPole-v1", ours)
    np.testing.assert_array_equal(onnx(obs), ours(obs))
    # The logits themselves: equal to the torch module's up to float32 rounding. Nearly all far from a tie, so the
    # equal actions above are not the luck of a flat policy (a few states sit at the decision boundary: the policy's
    # own path crosses it).
    policy = load_policy(cartpole_run, CARTPOLE)
    with torch.no_grad():
        logits = policy(torch.as_tensor(obs))[0].numpy()
    np.testing.assert_allclose(load_onnx_policy(cartpole_run / "policy.onnx", CARTPOLE).outputs(obs), logits, atol=1e-5)
    assert np.mean(np.abs(logits[:, 0] - logits[:, 1]) < 1e-3) < 0.01
    # Played by our evaluator on the fixed evaluation seeds: the same episodes.
    evaluator = Evaluator("CartPole-v1", 5)
    np.testing.assert_array_equal(evaluator.run(onnx, 10).returns, evaluator.run(ours, 10).returns)
    evaluator.close()


def test_exported_normalized_pendulum_run_takes_the_torch_actors_actions_with_its_statistics_inside(pendulum_run):
    ours = torch_evaluation_policy(pendulum_run, PENDULUM, seed=0)
    onnx = saved_evaluation_policy(pendulum_run, PENDULUM, seed=0)
    obs = record_observations("Pendulum-v1", ours)
    np.testing.assert_allclose(onnx(obs), ours(obs), rtol=1e-5, atol=1e-5)
    assert np.abs(onnx(obs)).max() <= 2.0  # clipped to Pendulum's bounds, as every agent's
    # The statistics are in the graph: the same weights without them act differently.
    policy = load_policy(pendulum_run, PENDULUM)
    assert policy.obs_rms is not None and np.abs(policy.obs_rms.mean).max() > 0.01
    with torch.no_grad():
        unnormalized = policy(torch.as_tensor(obs))[0].clamp(-2, 2).numpy()
    assert np.abs(onnx(obs) - unnormalized).max() > 1e-2


def test_export_refuses_a_run_of_another_env_and_leaves_no_file(cartpole_run, tmp_path, capsys):
    out = tmp_path / "policy.onnx"
    assert main(["export-onnx", "--run", str(cartpole_run), "--env", "Pendulum-v1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.pt was trained on CartPole-v1" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# -- Stable-Baselines3 -------------------------------------------------------------------------------------------


def train_sb3(env_id: str, folder):
    """A few hundred steps of SB3's PPO under VecNormalize, saved as rl-zoo saves it (zip + VecNormalize.save)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    envs = VecNormalize(make_vec_env(env_id, n_envs=2, seed=0, env_kwargs={"render_mode": None}), gamma=0.9)
    model = PPO("MlpPolicy", envs, n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(512)
    model.save(folder / "model.zip")
    envs.save(str(folder / "vecnormalize.pkl"))
    envs.training = False
    return model, envs


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_exported_sb3_model_acts_as_its_deterministic_predict_with_its_normalization(env_id, tmp_path, capsys):
    model, normalizer = train_sb3(env_id, tmp_path)
    assert np.abs(normalizer.obs_rms.mean).max() > 0.01  # statistics that matter
    out = tmp_path / "policy.onnx"
    args = ["export-onnx", "--sb3-model", str(tmp_path / "model.zip"), "--vecnormalize", str(tmp_path / "vecnormalize.pkl")]
    assert main([*args, "--env", env_id, "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["normalization_inside"] is True

    def sb3(obs):
        return model.predict(normalizer.normalize_obs(obs), deterministic=True)[0]

    info = env_info(env_id)
    obs = record_observations(env_id, sb3)
    onnx = onnx_evaluation_policy(out, info)
    if info.continuous:
        np.testing.assert_allclose(onnx(obs), sb3(obs), rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(onnx(obs), sb3(obs))
    # Without its statistics the model acts otherwise: the graph really holds them.
    assert not np.allclose(onnx(obs), model.predict(obs, deterministic=True)[0], atol=1e-3)


def test_sb3_export_refuses_a_model_of_another_env(tmp_path, capsys):
    train_sb3("CartPole-v1", tmp_path)
    out = tmp_path / "policy.onnx"
    assert main(["export-onnx", "--sb3-model", str(tmp_path / "model.zip"), "--env", "Acrobot-v1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.zip was trained for observations (4,), actions 2 discrete; Acrobot-v1 has observations (6,)" in err
    assert err.count("\n") == 1 and not out.exists()


# -- the contract: what is accepted, what is refused ------------------------------------------------------------


class Logits(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, obs):
        return self.linear(obs)


class ArgmaxIndex(Logits):
    def forward(self, obs):
        return self.linear(obs).argmax(-1)


def test_an_index_graph_and_a_graph_fixed_at_batch_1_play_as_the_logits_graph(tmp_path):
    logits = export_module(Logits(4, 2), tmp_path / "logits.onnx", (4,))
    index = export_module(ArgmaxIndex(4, 2), tmp_path / "index.onnx", (4,))
    single = export_module(Logits(4, 2), tmp_path / "single.onnx", (4,), batch=None)
    assert load_onnx_policy(index, CARTPOLE).kind == "index" and load_onnx_policy(single, CARTPOLE).batch_of_one
    obs = record_observations("CartPole-v1", lambda o: np.zeros(len(o), np.int64), n=200)
    expected = onnx_evaluation_policy(logits, CARTPOLE)(obs)
    for path in (index, single):
        np.testing.assert_array_equal(onnx_evaluation_policy(path, CARTPOLE)(obs), expected)


def test_a_graph_of_the_wrong_input_shape_is_refused_naming_both_shapes(tmp_path):
    path = export_module(Logits(3, 2), tmp_path / "three.onnx", (3,))
    one_line_refusal(path, CARTPOLE, r"three\.onnx takes input \(batch, 3\); CartPole-v1 needs \(batch, 4\)")
    # A batch axis fixed at more than 1: the evaluator plays any number of episodes at once.
    path = tmp_path / "batch2.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(Logits(4, 2), (torch.zeros(2, 4),), str(path), input_names=["obs"], dynamo=False)
    one_line_refusal(path, CARTPOLE, r"takes input \(2, 4\); CartPole-v1 needs \(batch, 4\) \(the batch axis dynamic or 1\)")


def test_a_graph_whose_dimensions_are_left_dynamic_is_held_to_the_env_by_the_probe(tmp_path):
    path = export_module(Logits(3, 2), tmp_path / "any.onnx", (3,), axes={"obs": {0: "batch", 1: "features"}})
    one_line_refusal(path, CARTPOLE, r"any\.onnx fails on CartPole-v1's reset observations \(2, 4\) float32: ")


def test_a_graph_of_the_wrong_output_shape_is_refused_naming_both_shapes(tmp_path):
    path = export_module(Logits(4, 3), tmp_path / "three.onnx", (4,))
    needs = r"needs float logits \(batch, 2\) or an integer action index \(batch,\) or \(batch, 1\)"
    one_line_refusal(path, CARTPOLE, r"three\.onnx outputs tensor\(float\) \(batch, 3\); CartPole-v1 \(2 discrete\) " + needs)
    path = export_module(Logits(3, 2), tmp_path / "two.onnx", (3,))
    one_line_refusal(path, PENDULUM, r"outputs tensor\(float\) \(batch, 2\); Pendulum-v1 .* needs float actions \(batch, 1\)")


def test_other_signatures_are_refused_in_one_line(tmp_path):
    class Two(Logits):
        def forward(self, obs):
            return self.linear(obs), self.linear(obs).sum(-1)

    class Integers(Logits):
        def forward(self, obs):
            return self.linear(obs.float())

    class Big(Logits):
        def forward(self, obs):
            return self.linear(obs).argmax(-1) + 5

    two = export_module(Two(4, 2), tmp_path / "two.onnx", (4,), outputs=("logits", "value"))
    one_line_refusal(two, CARTPOLE, r"two\.onnx has 2 outputs \(logits, value\); expected one: float logits")
    ints = export_module(Integers(4, 2), tmp_path / "ints.onnx", (4,), dtype=torch.int64)
    one_line_refusal(
        ints, CARTPOLE, r"ints\.onnx takes tensor\(int64\) observations; CartPole-v1 needs one of tensor\(float\)"
    )
    big = export_module(Big(4, 2), tmp_path / "big.onnx", (4,))
    one_line_refusal(big, CARTPOLE, r"big\.onnx returned action [56]; CartPole-v1 allows 0\.\.1")
    (tmp_path / "text.onnx").write_text("not a graph")
    one_line_refusal(tmp_path / "text.onnx", CARTPOLE, r"text\.onnx is not a readable ONNX graph")
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx is missing"):
        load_onnx_policy(tmp_path / "missing.onnx", CARTPOLE)


class NaNOffCentre(Logits):
    """Logits, NaN once the cart is more than 0.1 from the centre (log of a negative number): fine at every reset."""

    def forward(self, obs):
        return self.linear(obs) + 0 * torch.log(0.1 - obs[:, :1].abs())


def test_a_graph_answering_nan_is_refused_at_the_probe_and_during_play(tmp_path):
    class AllNaN(Logits):
        def forward(self, obs):
            return self.linear(obs) * float("nan")

    path = export_module(AllNaN(4, 2), tmp_path / "nan.onnx", (4,))
    one_line_refusal(path, CARTPOLE, r"nan\.onnx returned NaN for 2 of 2 observations")
    later = export_module(NaNOffCentre(4, 2), tmp_path / "later.onnx", (4,))
    act = onnx_evaluation_policy(later, CARTPOLE)  # the probe passes: reset observations are near the centre
    evaluator = Evaluator("CartPole-v1", 5)
    with pytest.raises(ValueError, match=r"later\.onnx returned NaN for 1 of 1 observations|later\.onnx returned NaN"):
        evaluator.run(act, 20)
    evaluator.close()


# -- pixels: stochastic evaluation -------------------------------------------------------------------------------


class NoiseImages(gym.Env):
    """8x8 RGB noise frames (preprocessed by make_env to (4, 84, 84) uint8 stacks), 3 actions, 30 steps."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.integers(0, 256, (8, 8, 3), dtype=np.uint8), {}

    def step(self, action):
        return self.np_random.integers(0, 256, (8, 8, 3), dtype=np.uint8), 0.0, False, False, {}


gym.register("PPOBenchNoiseImages-v0", entry_point=NoiseImages, max_episode_steps=30)


class FixedLogits(nn.Module):
    """log(1, 2, 7): pi = (0.1, 0.2, 0.7) whatever the frames (the frames enter the graph, times 0)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("logits", torch.log(torch.tensor([[1.0, 2.0, 7.0]])))

    def forward(self, obs):
        return self.logits + 0 * obs.float().sum((1, 2, 3))[:, None]


def test_pixel_envs_evaluate_stochastically_with_the_runs_seed(tmp_path):
    info = env_info("PPOBenchNoiseImages-v0")
    assert info.pixels and info.evaluation_policy == "stochastic"
    path = export_module(FixedLogits(), tmp_path / "fixed.onnx", info.obs_shape, dtype=torch.uint8, outputs=("logits",))
    obs = np.zeros((5000, *info.obs_shape), np.uint8)
    actions = onnx_evaluation_policy(path, info, seed=3)(obs)
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / len(obs), [0.1, 0.2, 0.7], atol=0.02)
    # Drawn as our PPO's evaluation actor draws: its sampler, its generator seeded from the run's seed.
    rng = np.random.default_rng(evaluation_seed(3))
    expected = Categorical(3).sample(np.tile(np.log(np.float32([1, 2, 7])), (len(obs), 1)), None, rng)[0]
    np.testing.assert_array_equal(actions, expected)
    assert not np.array_equal(onnx_evaluation_policy(path, info, seed=4)(obs), actions)


def test_an_exported_pixel_run_samples_the_actions_of_our_stochastic_evaluation(tmp_path):
    """Our CNN actor (untrained, saved as a run saves it) exported: the same logits to float rounding, and with the run's
    seed the same sampled actions as our own evaluation actor draws."""
    from ppo.agents.ppo.networks import build_policy
    from ppo.config import Hyperparameters
    from ppo.run.directory import MODEL_FORMAT

    info = env_info("PPOBenchNoiseImages-v0")
    torch.manual_seed(0)
    policy = build_policy(info, Hyperparameters())
    torch.save({"format": MODEL_FORMAT, **policy.saved(info)}, tmp_path / "model.pt")
    export_run(tmp_path, info, tmp_path / "policy.onnx")
    obs = record_observations("PPOBenchNoiseImages-v0", lambda o: np.zeros(len(o), np.int64), n=200)
    with torch.no_grad():
        logits = policy(torch.as_tensor(obs))[0].numpy()
    np.testing.assert_allclose(load_onnx_policy(tmp_path / "policy.onnx", info).outputs(obs), logits, atol=1e-5)
    ours, onnx = torch_evaluation_policy(tmp_path, info, seed=7), saved_evaluation_policy(tmp_path, info, seed=7)
    np.testing.assert_array_equal(onnx(obs), ours(obs))
    assert len(set(onnx(obs))) == 3  # sampled: an untrained policy's near-uniform logits give every action
