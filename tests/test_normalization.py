import numpy as np
import pytest
import torch
from torch import nn

from ppo.agents.ppo.normalization import RewardScaler, RunningMeanStd, ScalarMeanStd


def test_running_statistics_equal_those_of_all_samples():
    data = np.random.default_rng(0).normal(3.0, 2.0, (1000, 3))
    rms = RunningMeanStd.new((3,))
    for batch in np.split(data, [1, 10, 300, 301]):
        rms.update(batch)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_sample_updates_are_bitwise_the_general_merge(dtype):
    """update() takes a shortcut for one-sample batches (one-env runs); it must not change a single bit."""
    data = np.random.default_rng(2).normal(3.0, 2.0, (200, 4)).astype(dtype)
    shortcut, general = RunningMeanStd.new((4,)), RunningMeanStd.new((4,))
    for row in data:
        shortcut.update(row[None])
        general.merge(row, np.zeros_like(row), 1)
        for name in ("mean", "var", "count"):
            np.testing.assert_array_equal(getattr(shortcut, name), getattr(general, name))


def test_normalized_values_are_standardized_and_clipped():
    rms = RunningMeanStd.new((1,))
    rms.update(np.random.default_rng(1).normal(5.0, 0.5, (10_000, 1)))
    out = rms.normalize(np.array([[5.0], [5.5], [1000.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:2, 0], [0.0, 1.0], atol=0.03)
    assert out[2, 0] == 10.0


def test_statistics_in_a_module_are_saved_and_loaded_in_place():
    module = nn.Module()
    rms = RunningMeanStd.in_module(module, "obs", (2,))
    rms.update(np.array([[1.0, 2.0], [3.0, 4.0]]))
    state = {k: v.clone() for k, v in module.state_dict().items()}
    assert set(state) == {"obs_mean", "obs_var", "obs_count"}
    torch.testing.assert_close(state["obs_mean"], torch.tensor([2.0, 3.0], dtype=torch.float64), atol=1e-3, rtol=0)
    other = nn.Module()
    other_rms = RunningMeanStd.in_module(other, "obs", (2,))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other_rms.mean, rms.mean)  # the views see the loaded values


def test_reward_scaling_follows_the_discounted_return_and_resets_at_episode_ends():
    scaler = RewardScaler(n_envs=2, gamma=0.5)
    valid, no_done = np.ones(2, bool), np.zeros(2, bool)
    scaler(np.array([1.0, 2.0]), no_done, valid)
    np.testing.assert_allclose(scaler.returns, [1.0, 2.0])
    scaler(np.array([1.0, 2.0]), np.array([True, False]), valid)  # env 0's episode ends here
    np.testing.assert_allclose(scaler.returns, [0.0, 3.0])
    count = float(scaler.rms.count)
    # An autoreset step (valid=False) is no transition: env 0's return and the statistics do not move.
    scaled = scaler(np.array([0.0, 2.0]), no_done, np.array([False, True]))
    np.testing.assert_allclose(scaler.returns, [0.0, 3.5])
    assert float(scaler.rms.count) == pytest.approx(count + 1)
    np.testing.assert_allclose(scaled, np.array([0.0, 2.0]) / np.sqrt(scaler.rms.var + 1e-8), rtol=1e-6)


def test_scalar_statistics_are_bitwise_those_of_the_array_ones():
    """ScalarMeanStd (the reward scaler's Python floats) runs RunningMeanStd's formulas: the same numbers, bit for bit,
    over batches of one sample and of several."""
    arrays, floats = RunningMeanStd.new(()), ScalarMeanStd()
    rng = np.random.default_rng(3)
    for size in [1] * 50 + [5, 1, 3] * 10:
        batch = rng.standard_normal(size) * 7.0
        arrays.update(batch)
        floats.update(batch)
    assert type(floats.mean) is float and floats.count == pytest.approx(50 + 90 + 1e-4)
    assert (floats.mean, floats.var, floats.count) == (float(arrays.mean), float(arrays.var), float(arrays.count))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_rewards_are_divided_in_float64(dtype):
    """r / sqrt(Var + 1e-8) in float64, then cast to float32, whatever the env's reward dtype (CartPole's vector env
    gives float32): the statistics are float64, and so is the division."""
    scaler = RewardScaler(n_envs=8, gamma=0.99)
    rng = np.random.default_rng(0)
    valid, no_done = np.ones(8, bool), np.zeros(8, bool)
    for _ in range(200):
        rewards = (rng.standard_normal(8) * 3).astype(dtype)
        scaled = scaler(rewards, no_done, valid)
        expected = np.clip((rewards.astype(np.float64) / np.sqrt(scaler.rms.var + 1e-8)).astype(np.float32), -10, 10)
        np.testing.assert_array_equal(scaled, expected)
