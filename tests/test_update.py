import dataclasses
import math

import numpy as np
import pytest
import torch

from ppo.agents.ppo.buffer import RolloutBatch, padded
from ppo.agents.ppo.distributions import DiagGaussian
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic
from ppo.agents.ppo.update import (
    clipped_surrogate,
    epoch_minibatches,
    explained_variance,
    minibatch_loss,
    normalize_per_minibatch,
    ppo_update,
    value_loss,
)
from ppo.config import Hyperparameters


def surrogate_grad(ratio_value: float, advantage: float, clip: float = 0.2) -> float:
    ratio = torch.tensor([ratio_value], requires_grad=True)
    clipped_surrogate(ratio, torch.tensor([advantage]), clip).backward()
    return ratio.grad.item()


@pytest.mark.parametrize(
    "ratio, advantage, has_gradient",
    [
        (1.5, +1.0, False),  # already pushed up past 1 + eps for a good action: no further push
        (0.5, -1.0, False),  # already pushed down past 1 - eps for a bad action: no further push
        (1.5, -1.0, True),  # moved the wrong way for a bad action: the unclipped term keeps its gradient
        (0.5, +1.0, True),  # moved the wrong way for a good action: gradient pulls it back
        (1.1, +1.0, True),  # inside the clip range
        (0.9, -1.0, True),
    ],
)
def test_clipped_surrogate_gradient_is_zero_only_outside_the_range_in_the_favoured_direction(ratio, advantage, has_gradient):
    grad = surrogate_grad(ratio, advantage)
    if has_gradient:
        # Minimizing -r*A: the gradient is -A.
        assert grad == pytest.approx(-advantage)
    else:
        assert grad == 0.0


def test_clipped_surrogate_value():
    ratio = torch.tensor([0.5, 1.0, 1.5])
    adv = torch.tensor([1.0, 2.0, 1.0])
    # min(0.5, 0.8)=0.5; min(2, 2)=2; min(1.5, 1.2)=1.2 -> mean 3.7/3, negated
    assert clipped_surrogate(ratio, adv, 0.2).item() == pytest.approx(-3.7 / 3)


def test_value_loss_clipping_is_pessimistic():
    old = torch.tensor([0.0])
    returns = torch.tensor([1.0])
    new = torch.tensor([2.0])
    assert value_loss(new, old, returns, None).item() == pytest.approx(1.0)
    # clipped prediction 0.5 -> error 0.25; the max keeps the larger error 1.0
    assert value_loss(new, old, returns, 0.5).item() == pytest.approx(1.0)
    new = torch.tensor([0.9])  # unclipped error 0.01, clipped (0.5) error 0.25 -> 0.25
    assert value_loss(new, old, returns, 0.5).item() == pytest.approx(0.25)


def test_explained_variance():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target, target) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), target.mean()), target) == pytest.approx(0.0)


def make_rollout(n=64, obs_dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return RolloutBatch(
        obs=torch.randn(n, obs_dim, generator=g),
        actions=torch.randint(0, 2, (n,), generator=g),
        log_probs=torch.full((n,), -0.6931),
        values=torch.randn(n, generator=g),
        advantages=torch.randn(n, generator=g),
        returns=torch.randn(n, generator=g),
    )


def test_update_improves_the_surrogate_objective_and_reports_diagnostics():
    torch.manual_seed(0)
    policy = ActorCritic(4, 2)
    rollout = make_rollout()
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-2, eps=1e-5)
    hp = Hyperparameters(n_envs=1, n_steps=64, batch_size=16, n_epochs=4, total_timesteps=64)
    before = policy.evaluate_actions(rollout.obs, rollout.actions).log_probs.detach()
    stats = ppo_update(policy, optimizer, rollout, hp, torch.Generator().manual_seed(0))
    after = policy.evaluate_actions(rollout.obs, rollout.actions).log_probs.detach()
    # The update raises log pi(a|s) in proportion to the advantage: E[(log pi_new - log pi_old) A] > 0,
    # and the clipped surrogate of the new policy beats the old one's (ratio 1: -mean(A)).
    assert ((after - before) * rollout.advantages).sum() > 0
    ratio = (after - rollout.log_probs).exp()
    assert clipped_surrogate(ratio, rollout.advantages, hp.clip_range) < -rollout.advantages.mean()
    # Four epochs at lr 1e-2 move some ratios out of [0.8, 1.2], not all: a clip fraction stuck at 0 (or 1) is
    # a broken diagnostic, and a two-action policy's entropy lies in (0, ln 2].
    assert stats.approx_kl > 0 and 0 < stats.clip_fraction < 1 and 0 < stats.entropy <= math.log(2)


def test_update_stops_on_nan():
    policy = ActorCritic(4, 2)
    rollout = make_rollout()
    rollout = rollout._replace(returns=torch.full_like(rollout.returns, float("nan")))
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
    hp = Hyperparameters(n_envs=1, n_steps=64, batch_size=16, n_epochs=1, total_timesteps=64)
    with pytest.raises(FloatingPointError, match="value_loss"):
        ppo_update(policy, optimizer, rollout, hp, torch.Generator().manual_seed(0))


def extreme_gaussian_minibatch(n: int = 20, dims: int = 17) -> tuple[ActorCritic, RolloutBatch]:
    """A Gaussian policy at log std -8 over 17 dims and a minibatch of its own samples (log-ratios 0). Its
    zero-padding sample (observation 0, where the mean is exactly 0: zero biases; action 0) has
    log pi = 17 x (8 - ln(2 pi) / 2) = +120 against a stored log-prob of 0: exp(120) overflows float32 to inf."""
    torch.manual_seed(0)
    policy = ActorCritic(5, DiagGaussian(dims, np.full(dims, -1.0), np.full(dims, 1.0)), (16, 16), "tanh", log_std_init=-8.0)
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(n, 5, generator=g)
    with torch.no_grad():
        mean, values = policy(obs)
        actions = mean + math.exp(-8.0) * torch.randn(n, dims, generator=g)
        log_probs = policy.evaluate_actions(obs, actions).log_probs
    advantages, returns = torch.randn(n, generator=g), torch.randn(n, generator=g)
    return policy, RolloutBatch(obs, actions, log_probs, values, advantages, returns)


def test_padding_cannot_make_the_loss_nan_at_an_extreme_log_std():
    """The padded minibatch's loss and gradient are finite and those of its real samples alone (a padded term
    that overflows must not enter as 0 x inf = NaN); its log-ratios are 0 for the padding, for the diagnostics."""
    hp = Hyperparameters(n_envs=1, n_steps=32, batch_size=32, n_epochs=1, total_timesteps=32, clip_range_vf=0.2)
    batch = extreme_gaussian_minibatch()[1]
    padded_batch, weights = padded(batch, 32)
    results = []
    for b, w in ((batch, None), (padded_batch, weights)):
        policy = extreme_gaussian_minibatch()[0]
        terms = minibatch_loss(policy, b, w, 0.2, hp)
        terms.loss.backward()
        results.append((terms.loss.detach(), terms.log_ratio.detach(), policy.flat_gradient.clone()))
    (loss, log_ratio, grad), (padded_loss, padded_log_ratio, padded_grad) = results
    assert torch.isfinite(padded_loss) and torch.isfinite(padded_grad).all()
    torch.testing.assert_close(padded_loss, loss)
    torch.testing.assert_close(padded_grad, grad)
    assert torch.equal(padded_log_ratio[:20], log_ratio) and torch.equal(padded_log_ratio[20:], torch.zeros(12))


def test_hyperparameters_are_frozen_and_derive_values():
    hp = Hyperparameters(n_envs=4, n_steps=8, batch_size=8, total_timesteps=100)
    assert hp.rollout_size == 32 and hp.n_iterations == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.n_envs = 2


@pytest.mark.parametrize("n, size", [(64, 16), (70, 16), (65, 16), (10, 64), (250, 256)])
def test_advantages_are_normalized_within_each_minibatch(n, size):
    advantages = torch.randn(n, generator=torch.Generator().manual_seed(n)) * 3 + 1
    out = normalize_per_minibatch(advantages, size)
    for chunk, normalized in zip(advantages.split(size), out.split(size)):
        expected = chunk if len(chunk) == 1 else (chunk - chunk.mean()) / (chunk.std() + 1e-8)
        assert torch.allclose(normalized, expected, atol=1e-6)


@pytest.mark.parametrize("padding", [False, True])
def test_epoch_minibatches_use_every_sample_once_in_a_fresh_order(padding):
    """ppo_update cuts every epoch's minibatches before its first step: each epoch still holds every sample once,
    in its own order, and with padding (a compiled step) every minibatch is full size, the padding weighted 0."""
    rollout = make_rollout(n=70)
    rollout = rollout._replace(values=torch.arange(70.0))  # a sample's number
    hp = Hyperparameters(batch_size=16, normalize_advantage=False)
    generator = torch.Generator().manual_seed(0)
    orders = []
    for _ in range(2):
        batches = epoch_minibatches(rollout, hp, generator, padding)
        assert len(batches) == 5
        if padding:
            assert all(len(batch.values) == 16 for batch, _ in batches)
            weights = torch.cat([w for _, w in batches])
            assert weights.sum() == 70 and weights[70:].eq(0).all()
        else:
            assert all(w is None for _, w in batches) and len(batches[-1][0].values) == 6
        orders.append(torch.cat([batch.values for batch, _ in batches])[:70])
    for order in orders:
        assert sorted(order.tolist()) == list(range(70))
    assert not torch.equal(orders[0], orders[1])


def test_every_epoch_of_an_update_draws_its_own_shuffle():
    """ppo_update cuts all epochs' minibatches up front, one shuffle per epoch from the generator, in epoch order:
    the generator ends where n_epochs permutations of the rollout leave it."""
    torch.manual_seed(0)
    policy = ActorCritic(4, 2)
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
    hp = Hyperparameters(n_envs=1, n_steps=64, batch_size=16, n_epochs=3, total_timesteps=64)
    generator, reference = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    ppo_update(policy, optimizer, make_rollout(), hp, generator)
    for _ in range(3):
        torch.randperm(64, generator=reference)
    assert torch.equal(generator.get_state(), reference.get_state())
