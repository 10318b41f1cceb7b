"""Every ablation switch changes what it names, and only that (each test fails when its switch does nothing).

Switches (ppo/config.py): shuffle_minibatches, bootstrap_truncation, bootstrap_rollout_end, gae_episode_boundaries,
normalize_advantage, ortho_init, activation=identity, max_grad_norm=null, ent_coef=0, adam_eps.
"""

import numpy as np
import pytest
import torch
from test_buffer import column, example_rollout, fill
from test_update import make_rollout

from ppo.agents.ppo.buffer import RolloutBuffer
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic, NumpyActorCritic
from ppo.agents.ppo.update import ppo_update
from ppo.config import Hyperparameters


def gae(**switches):
    """The hand-computed rollout of test_buffer (gamma = lambda = 0.5, one env):
    t0 r=2 V=2 -> t1 r=1 V=2 terminated -> t2 autoreset -> t3 r=1 V=2 truncated -> t4 autoreset (V(final)=4);
    V after the rollout = 3."""
    buffer = example_rollout()
    buffer.compute_returns_and_advantage(np.array([3.0]), gamma=0.5, gae_lambda=0.5, **switches)
    return buffer.advantages[:, 0]


def test_correct_gae_is_the_default():
    np.testing.assert_allclose(gae(), [0.75, -1.0, 0.0, 1.0, 0.0])


def test_truncation_as_termination_drops_the_bootstrap():
    # t3 truncated: without V(final obs) = 4, delta = 1 - 2 = -1.
    np.testing.assert_allclose(gae(bootstrap_truncation=False), [0.75, -1.0, 0.0, -1.0, 0.0])


def test_no_bootstrap_at_the_rollout_end_zeroes_the_last_steps_advantage():
    buffer = RolloutBuffer(2, 1, obs_shape=1)
    fill(buffer, column(1, 1), column(0, 0), column(0, 0, dtype=bool), column(0, 0, dtype=bool), column(1, 1, dtype=bool))
    buffer.compute_returns_and_advantage(np.array([10.0]), gamma=0.5, gae_lambda=1.0)
    np.testing.assert_allclose(buffer.advantages[:, 0], [1 + 0.5 * 6.0, 1 + 0.5 * 10.0])  # bootstrapped from V = 10
    buffer.pos = 2
    buffer.compute_returns_and_advantage(np.array([10.0]), gamma=0.5, gae_lambda=1.0, bootstrap_rollout_end=False)
    # The last step: advantage 0; the step before bootstraps from the last step's V (0), as the article's loop does.
    np.testing.assert_allclose(buffer.advantages[:, 0], [1.0, 0.0])


def test_gae_across_episode_ends_runs_into_the_next_episode():
    # t1 terminated: its delta keeps no bootstrap (-1), but the chain runs on past the autoreset step t2 into
    # t3's advantage (1.0): A1 = -1 + 0.25 * 1 = -0.75; A0 = 1 + 0.25 * A1 = 0.8125.
    np.testing.assert_allclose(gae(gae_episode_boundaries=False), [0.8125, -0.75, 0.0, 1.0, 0.0])


class RecordingAdam(FlatAdam):
    """FlatAdam that records the norm of the gradient each step() applies, i.e. after any clipping."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.applied_norms = []

    def step(self):
        self.applied_norms.append(float(torch.linalg.vector_norm(self.grad)))
        super().step()


def run_update(seed=0, **settings):
    """(parameters after one PPO update, its stats, the norms of the gradients the optimizer stepped with)."""
    torch.manual_seed(0)
    policy = ActorCritic(4, 2)
    hp = Hyperparameters(n_envs=1, n_steps=64, batch_size=16, n_epochs=2, total_timesteps=64, **settings)
    optimizer = RecordingAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-2, eps=hp.adam_eps)
    stats = ppo_update(policy, optimizer, make_rollout(), hp, torch.Generator().manual_seed(seed))
    return policy.flat_parameters.detach().clone(), stats, np.array(optimizer.applied_norms)


def update_once(seed=0, **settings):
    parameters, stats, _ = run_update(seed, **settings)
    return parameters, stats


def test_without_shuffling_the_minibatch_order_ignores_the_generator():
    shuffled_a, _ = update_once(seed=1)
    shuffled_b, _ = update_once(seed=2)
    assert not torch.equal(shuffled_a, shuffled_b)  # shuffling draws from the generator
    ordered_a, _ = update_once(seed=1, shuffle_minibatches=False)
    ordered_b, _ = update_once(seed=2, shuffle_minibatches=False)
    assert torch.equal(ordered_a, ordered_b)


@pytest.mark.parametrize(
    "settings",
    [{"normalize_advantage": False}, {"max_grad_norm": None}, {"ent_coef": 0.0}, {"adam_eps": 1e-8}, {"vf_coef": 1.0}],
)
def test_every_update_switch_changes_the_update(settings):
    baseline, _ = update_once(ent_coef=0.01)
    changed, _ = update_once(**{"ent_coef": 0.01, **settings})
    assert not torch.equal(baseline, changed)


def test_gradient_clipping_off_leaves_large_gradients_alone():
    # stats.grad_norm is measured before clipping, so it cannot tell clipping on from off: look at what step() applied.
    _, clipped_stats, clipped = run_update(max_grad_norm=1e-3)
    _, unclipped_stats, unclipped = run_update(max_grad_norm=None)
    assert len(clipped) == len(unclipped) == 2 * 64 // 16  # one step per minibatch of each epoch
    assert (unclipped > 1e-2).all() and clipped_stats.grad_norm > 1e-2  # large enough for 1e-3 to clip every step
    assert (clipped <= 1e-3 * (1 + 1e-4)).all()  # on: every applied gradient scaled down to the bound
    assert unclipped.mean() == pytest.approx(unclipped_stats.grad_norm, rel=1e-5)  # off: applied as measured


def test_identity_activation_makes_a_linear_network_on_both_sides():
    torch.manual_seed(0)
    policy = ActorCritic(3, 2, (16, 16), "identity")
    x = torch.randn(5, 3)
    zero = torch.zeros(1, 3)
    for out_x, out_2x, out_0 in zip(policy(x), policy(2 * x), policy(zero)):  # affine: f(2x) - f(0) = 2 (f(x) - f(0))
        torch.testing.assert_close(out_2x - out_0, 2 * (out_x - out_0), atol=1e-5, rtol=1e-5)
    tanh = ActorCritic(3, 2, (16, 16), "tanh")
    tanh.load_state_dict(policy.state_dict())
    assert not torch.allclose(tanh(x)[1], policy(x)[1])
    actor = NumpyActorCritic(policy, seed=0)
    np.testing.assert_allclose(actor.values(x.numpy()), policy(x)[1].detach().numpy(), atol=1e-5)


def test_orthogonal_init_off_is_pytorchs_default_init():
    torch.manual_seed(0)
    ortho = ActorCritic(8, 2, (64, 64), ortho_init=True)
    torch.manual_seed(0)
    default = ActorCritic(8, 2, (64, 64), ortho_init=False)
    weight = ortho.hidden_weights[0][0]  # (in, out) of the actor's first layer
    gram = weight.T @ weight if weight.shape[0] >= weight.shape[1] else weight @ weight.T
    torch.testing.assert_close(gram / gram[0, 0], torch.eye(len(gram)), atol=1e-4, rtol=0)  # orthogonal rows/columns
    assert default.hidden_weights[0][0].abs().max() <= 1 / np.sqrt(8) + 1e-6  # PyTorch's U(-1/sqrt(in), 1/sqrt(in))
