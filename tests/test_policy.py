import numpy as np
import pytest
import torch

from ppo.agents.ppo.buffer import RolloutBuffer
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic, NumpyActorCritic


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_numpy_forward_matches_torch(activation):
    torch.manual_seed(0)
    policy = ActorCritic(6, 3, (32, 16), activation)
    actor = NumpyActorCritic(policy, seed=0)
    obs = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    logits, values = policy(torch.from_numpy(obs))
    log_pi = logits.log_softmax(-1)
    step = actor.act(obs)
    expected_log_probs = log_pi.gather(-1, torch.from_numpy(step.actions)[:, None])[:, 0]
    np.testing.assert_allclose(step.log_probs, expected_log_probs.detach().numpy(), atol=1e-5)
    assert step.values is None  # acting leaves V(s) to one pass over the rollout (RolloutBuffer.fill_values)
    np.testing.assert_allclose(actor.values(obs), values.detach().numpy(), atol=1e-5)
    np.testing.assert_array_equal(actor.greedy(obs), log_pi.argmax(-1).numpy())


def test_sampling_follows_the_policy_probabilities():
    policy = ActorCritic(2, 3)
    with torch.no_grad():  # a policy with clearly different action probabilities
        policy.policy_bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    actor = NumpyActorCritic(policy, seed=1)
    obs = np.zeros((20_000, 2), dtype=np.float32)
    frequencies = np.bincount(actor.act(obs).actions, minlength=3) / len(obs)
    expected = torch.softmax(policy.policy_bias.detach(), -1).numpy()
    np.testing.assert_allclose(frequencies, expected, atol=0.01)


def test_sampling_is_reproducible_per_seed():
    policy = ActorCritic(4, 4)
    obs = np.random.default_rng(2).standard_normal((64, 4)).astype(np.float32)
    first, second, other = (NumpyActorCritic(policy, seed).act(obs).actions for seed in (5, 5, 6))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_numpy_actor_sees_optimizer_steps_and_loaded_weights():
    torch.manual_seed(0)
    policy = ActorCritic(4, 2)
    actor = NumpyActorCritic(policy)
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=0.1)
    obs = np.ones((3, 4), dtype=np.float32)
    before = actor.values(obs).copy()
    optimizer.zero_grad()
    policy(torch.from_numpy(obs))[1].sum().backward()
    optimizer.step()
    after = actor.values(obs)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, policy(torch.from_numpy(obs))[1].detach().numpy(), atol=1e-6)
    other = ActorCritic(4, 2)
    policy.load_state_dict(other.state_dict())  # copies in place: the views stay valid
    np.testing.assert_allclose(actor.values(obs), other(torch.from_numpy(obs))[1].detach().numpy(), atol=1e-6)
    # and so does the torch forward, which reads the hidden layers through its own tuple of the parameters
    torch.testing.assert_close(policy(torch.from_numpy(obs))[1], other(torch.from_numpy(obs))[1])


def test_rollout_values_are_the_critic_of_every_stored_observation():
    """fill_values: V(s_t) of the whole rollout from one batched call, each row the one-observation V(s_t)."""
    torch.manual_seed(0)
    policy = ActorCritic(3, 2, (16, 16), "relu")
    actor = NumpyActorCritic(policy, seed=0)
    n_steps, n_envs = 7, 2
    buffer = RolloutBuffer(n_steps, n_envs, obs_shape=3)
    observations = np.random.default_rng(1).standard_normal((n_steps, n_envs, 3)).astype(np.float32)
    zeros, valid = np.zeros(n_envs, np.float32), np.ones(n_envs, bool)
    for obs in observations:
        step = actor.act(obs)
        buffer.add(obs, step.actions, step.log_probs, step.values, zeros, ~valid, ~valid, valid)
    buffer.fill_values(actor.values)
    one_at_a_time = np.stack([actor.values(obs) for obs in observations])
    np.testing.assert_allclose(buffer.values.numpy(), one_at_a_time, rtol=1e-6, atol=1e-6)
    assert np.abs(one_at_a_time).min() > 0  # every slot written: the buffer starts at zeros
