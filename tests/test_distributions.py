import numpy as np
import pytest
import torch

from ppo.agents.ppo.distributions import Categorical, DiagGaussian, make_distribution
from ppo.envs import env_info


def test_gaussian_log_prob_and_entropy_match_torch_normal():
    gaussian = DiagGaussian(3, -np.ones(3), np.ones(3))
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(50, 3, generator=generator)
    log_std = torch.tensor([-1.0, 0.0, 0.5])
    actions = torch.randn(50, 3, generator=generator) * 2
    log_probs, entropy = gaussian.log_prob_and_entropy(mean, log_std, actions)
    reference = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(log_probs, reference.log_prob(actions).sum(-1))
    assert entropy.dim() == 0  # state-independent: one value for the batch
    torch.testing.assert_close(entropy.expand(len(mean)), reference.entropy().sum(-1))


def test_gaussian_gradients_reach_the_mean_and_the_log_std():
    gaussian = DiagGaussian(2, -np.ones(2), np.ones(2))
    mean, log_std = torch.zeros(4, 2, requires_grad=True), torch.zeros(2, requires_grad=True)
    log_probs, entropy = gaussian.log_prob_and_entropy(mean, log_std, torch.ones(4, 2))
    (log_probs.sum() + entropy.sum()).backward()
    assert mean.grad.abs().sum() > 0 and log_std.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_numpy_sampling_side_agrees_with_the_torch_side(kind):
    rng = np.random.default_rng(0)
    if kind == "categorical":
        dist, head, log_std = Categorical(4), rng.standard_normal((30, 4)).astype(np.float32), None
    else:
        dist, head = DiagGaussian(2, -np.ones(2), np.ones(2)), rng.standard_normal((30, 2)).astype(np.float32)
        log_std = np.array([-0.5, 0.3], np.float32)
    actions, log_probs = dist.sample(head.copy(), log_std, np.random.default_rng(1))
    torch_log_probs, _ = dist.log_prob_and_entropy(
        torch.from_numpy(head), None if log_std is None else torch.from_numpy(log_std), torch.from_numpy(actions)
    )
    np.testing.assert_allclose(log_probs, torch_log_probs.numpy(), atol=1e-5)


def test_gaussian_samples_follow_mean_and_std():
    dist = DiagGaussian(2, -np.ones(2), np.ones(2))
    mean = np.tile(np.array([[0.5, -2.0]], np.float32), (40_000, 1))
    actions, _ = dist.sample(mean, np.log(np.array([0.1, 3.0], np.float32)), np.random.default_rng(0))
    np.testing.assert_allclose(actions.mean(0), [0.5, -2.0], atol=0.05)
    np.testing.assert_allclose(actions.std(0), [0.1, 3.0], rtol=0.02)


def test_greedy_is_the_mean_and_only_the_env_copy_is_clipped():
    dist = DiagGaussian(2, np.array([-1.0, -2.0]), np.array([1.0, 2.0]))
    mean = np.array([[3.0, -5.0], [0.2, 0.3]], np.float32)
    np.testing.assert_array_equal(dist.mode(mean), mean)
    np.testing.assert_allclose(dist.to_env(mean), [[1.0, -2.0], [0.2, 0.3]])
    assert Categorical(3).to_env(np.array([2])) == 2


def test_the_distribution_is_picked_from_the_action_space():
    assert isinstance(make_distribution(env_info("CartPole-v1")), Categorical)
    gaussian = make_distribution(env_info("Pendulum-v1"))
    assert isinstance(gaussian, DiagGaussian) and gaussian.head_size == 1 and gaussian.high[0] == 2.0
