import numpy as np
import pytest
import torch

from ppo.agents.ppo.buffer import RolloutBatch, RolloutBuffer, minibatches, shuffled


def fill(buffer, rewards, values, terminated, truncated, valid):
    n_steps, n_envs = rewards.shape
    for t in range(n_steps):
        buffer.add(
            torch.full((n_envs, 1), float(t)),
            torch.zeros(n_envs, dtype=torch.int64),
            torch.zeros(n_envs),
            torch.as_tensor(values[t], dtype=torch.float32),
            rewards[t],
            terminated[t],
            truncated[t],
            valid[t],
        )


def column(*xs, dtype=np.float32):
    return np.array(xs, dtype=dtype)[:, None]


def example_rollout() -> RolloutBuffer:
    """One env, five steps: t0 r=2 V=2 -> t1 r=1 V=2 terminated -> t2 autoreset -> t3 r=1 V=2 truncated -> t4
    autoreset (V(final obs)=4). Also used by tests/test_ablations.py."""
    buffer = RolloutBuffer(5, 1, obs_shape=1)
    fill(
        buffer,
        rewards=column(2, 1, 0, 1, 0),
        values=column(2, 2, 7, 2, 4),
        terminated=column(0, 1, 0, 0, 0, dtype=bool),
        truncated=column(0, 0, 0, 1, 0, dtype=bool),
        valid=column(1, 1, 0, 1, 0, dtype=bool),
    )
    return buffer


def test_gae_hand_computed_with_termination_truncation_and_autoreset_steps():
    """gamma = lambda = 0.5, one env:
    t0 r=2 V=2 -> t1 r=1 V=2 terminated -> t2 autoreset step -> t3 r=1 V=2 truncated -> t4 autoreset (V(final)=4).
    t3: truncated, bootstraps from V(final obs)=4: delta = 1 + 0.5*4 - 2 = 1, A3 = 1 (chain stops).
    t1: terminated, no bootstrap: delta = 1 - 2 = -1, A1 = -1.
    t0: delta = 2 + 0.5*2 - 2 = 1, A0 = 1 + 0.25 * A1 = 0.75.
    Autoreset steps are zeroed and left out of the flattened batch."""
    buffer = example_rollout()
    buffer.compute_returns_and_advantage(np.array([3.0]), gamma=0.5, gae_lambda=0.5)
    np.testing.assert_allclose(buffer.advantages[:, 0], [0.75, -1.0, 0.0, 1.0, 0.0])
    batch = buffer.get()
    np.testing.assert_allclose(batch.advantages, [0.75, -1.0, 1.0])
    np.testing.assert_allclose(batch.returns, [2.75, 1.0, 3.0])
    np.testing.assert_allclose(batch.obs[:, 0], [0.0, 1.0, 3.0])  # steps 0, 1, 3


def test_truncation_on_the_last_step_bootstraps_from_last_values():
    buffer = RolloutBuffer(1, 2, obs_shape=1)
    fill(
        buffer,
        rewards=np.array([[1.0, 1.0]], dtype=np.float32),
        values=np.array([[0.0, 0.0]]),
        terminated=np.array([[True, False]]),
        truncated=np.array([[False, True]]),
        valid=np.ones((1, 2), dtype=bool),
    )
    buffer.compute_returns_and_advantage(np.array([10.0, 10.0]), gamma=0.9, gae_lambda=0.95)
    np.testing.assert_allclose(buffer.advantages[0], [1.0, 1.0 + 0.9 * 10.0])


def reference_gae(rewards, values, terminated, truncated, valid, last_values, gamma, lam):
    """Plain loops: A_t = sum_k (gamma lambda)^k delta_{t+k}, summed until the episode's end."""
    n_steps, n_envs = rewards.shape
    next_values = np.vstack([values[1:], last_values[None]])
    deltas = rewards + gamma * next_values * (1 - terminated) - values
    adv = np.zeros_like(rewards)
    for e in range(n_envs):
        for t in range(n_steps):
            if not valid[t, e]:
                continue
            total, discount = 0.0, 1.0
            for k in range(t, n_steps):
                total += discount * deltas[k, e]
                if terminated[k, e] or truncated[k, e]:
                    break
                discount *= gamma * lam
            adv[t, e] = total
    return adv


@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_gae_matches_reference_loops(lam):
    rng = np.random.default_rng(0)
    n_steps, n_envs = 40, 3
    rewards = rng.normal(size=(n_steps, n_envs)).astype(np.float32)
    values = rng.normal(size=(n_steps, n_envs)).astype(np.float32)
    ended = rng.random((n_steps, n_envs)) < 0.15
    terminated = ended & (rng.random((n_steps, n_envs)) < 0.5)
    truncated = ended & ~terminated
    valid = np.ones_like(ended)
    valid[1:] = ~ended[:-1]  # NEXT_STEP: the step after an episode's end is an autoreset step
    rewards[~valid] = 0.0
    last_values = rng.normal(size=n_envs).astype(np.float32)
    buffer = RolloutBuffer(n_steps, n_envs, obs_shape=1)
    fill(buffer, rewards, values, terminated, truncated, valid)
    buffer.compute_returns_and_advantage(last_values, gamma=0.97, gae_lambda=lam)
    expected = reference_gae(rewards, values, terminated, truncated, valid, last_values, 0.97, lam)
    np.testing.assert_allclose(buffer.advantages, expected, rtol=1e-5, atol=1e-5)
    if lam == 0.0:  # one-step TD errors
        next_values = np.vstack([values[1:], last_values[None]])
        td = rewards + 0.97 * next_values * (1 - terminated) - values
        np.testing.assert_allclose(buffer.advantages[valid], td[valid], rtol=1e-5, atol=1e-5)


def test_get_flattens_into_new_tensors_without_touching_storage():
    buffer = RolloutBuffer(3, 2, obs_shape=1)
    ones = np.ones((3, 2), dtype=bool)
    fill(buffer, np.ones((3, 2), np.float32), np.zeros((3, 2)), ~ones, ~ones, ones)
    buffer.compute_returns_and_advantage(np.zeros(2), 0.9, 0.9)
    before = buffer.obs.clone()
    batch = buffer.get()
    batch.obs.add_(100.0)
    assert batch.obs.shape == (6, 1)
    assert torch.equal(buffer.obs, before)


def numbered_rollout(n: int) -> RolloutBatch:
    """A rollout whose every field holds the sample's index, so minibatches show where rows went."""
    index = torch.arange(n)
    return RolloutBatch(index.float()[:, None].repeat(1, 3), index, *(index.float() for _ in range(4)))


@pytest.mark.parametrize("n, size", [(64, 16), (70, 16), (5, 5), (7, 64)])
def test_minibatches_cover_every_sample_exactly_once_and_keep_rows_together(n, size):
    generator = torch.Generator().manual_seed(0)
    batches = list(minibatches(shuffled(numbered_rollout(n), size, generator), size))
    joined = torch.cat([b.actions for b in batches])
    assert sorted(joined.tolist()) == list(range(n))
    assert all(len(b.actions) <= size for b in batches)
    assert len(batches) == -(-n // size)
    for batch in batches:  # every field of a row moved together
        assert all(torch.equal(field.reshape(len(batch.actions), -1)[:, 0], batch.actions.float()) for field in batch)


def test_minibatches_are_shuffled_differently_each_epoch():
    generator = torch.Generator().manual_seed(0)
    rollout = numbered_rollout(100)
    first, second = (shuffled(rollout, 10, generator).actions for _ in range(2))
    assert not torch.equal(first, second)
    assert not torch.equal(first, torch.arange(100))


def vectorized_gae(buffer, last_values, gamma, gae_lambda, bootstrap_truncation, bootstrap_rollout_end, boundaries):
    """GAE as a backward loop over steps, vectorized over envs in NumPy: the formulation compute_returns_and_advantage
    replaced with a per-env loop over Python floats; the reference it must match bit for bit."""
    values = buffer.values.numpy()
    next_values = np.append(values[1:], last_values[None].astype(np.float32), axis=0)
    terminal = buffer.terminated if bootstrap_truncation else buffer.terminated | buffer.truncated
    not_done = 1.0 - (buffer.terminated | buffer.truncated)
    deltas = buffer.rewards + gamma * next_values * (1.0 - terminal) - values
    if not bootstrap_rollout_end:
        deltas[-1] = 0.0
    advantages = np.zeros_like(buffer.advantages)
    last_gae = np.zeros(buffer.n_envs, dtype=np.float32)
    for t in reversed(range(buffer.n_steps)):
        if boundaries:
            last_gae = (deltas[t] + gamma * gae_lambda * not_done[t] * last_gae) * buffer.valid[t]
        else:
            last_gae = np.where(buffer.valid[t], deltas[t] + gamma * gae_lambda * last_gae, last_gae)
        advantages[t] = last_gae * buffer.valid[t]
    return advantages, advantages + values


@pytest.mark.parametrize("bootstrap_truncation", [True, False])
@pytest.mark.parametrize("bootstrap_rollout_end", [True, False])
@pytest.mark.parametrize("boundaries", [True, False])
def test_gae_matches_the_vectorized_recursion_bit_for_bit(bootstrap_truncation, bootstrap_rollout_end, boundaries):
    rng = np.random.default_rng(7)
    n_steps, n_envs = 40, 3
    buffer = RolloutBuffer(n_steps, n_envs, obs_shape=1)
    fill(
        buffer,
        rewards=(rng.standard_normal((n_steps, n_envs)) * 5).astype(np.float32),
        values=rng.standard_normal((n_steps, n_envs)).astype(np.float32),
        terminated=rng.random((n_steps, n_envs)) < 0.1,
        truncated=rng.random((n_steps, n_envs)) < 0.1,
        valid=rng.random((n_steps, n_envs)) > 0.1,
    )
    last_values = rng.standard_normal(n_envs).astype(np.float32)
    expected = vectorized_gae(buffer, last_values, 0.99, 0.95, bootstrap_truncation, bootstrap_rollout_end, boundaries)
    buffer.compute_returns_and_advantage(
        last_values,
        0.99,
        0.95,
        bootstrap_truncation=bootstrap_truncation,
        bootstrap_rollout_end=bootstrap_rollout_end,
        gae_episode_boundaries=boundaries,
    )
    np.testing.assert_array_equal(buffer.advantages, expected[0])
    np.testing.assert_array_equal(buffer.returns, expected[1])
