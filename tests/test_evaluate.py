"""The evaluation pool: episode k always starts from seed EVAL_SEED_BASE + k, whatever the pool's width; an
episode's end is recorded as a truncation (a time limit) or not."""

import gymnasium as gym
import numpy as np

from ppo.envs import EVAL_SEED_BASE
from ppo.run.evaluate import Evaluator


def lean_towards_the_pole(obs: np.ndarray) -> np.ndarray:
    """A deterministic CartPole controller that fails after 25-70 steps, at a different step in each episode."""
    return (obs[:, 2] > 0).astype(np.int64)


def balance_the_pole(obs: np.ndarray) -> np.ndarray:
    """A deterministic CartPole controller that keeps the pole up until the 500-step time limit."""
    return (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)


def one_episode_at_a_time(n_episodes: int) -> tuple[np.ndarray, np.ndarray]:
    env = gym.make("CartPole-v1")
    returns, lengths = [], []
    for k in range(n_episodes):
        obs, _ = env.reset(seed=EVAL_SEED_BASE + k)
        total, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(lean_towards_the_pole(obs[None])[0]))
            total, length, done = total + reward, length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
    return np.array(returns), np.array(lengths)


def test_the_pool_plays_the_same_episodes_as_one_env_in_order():
    expected_returns, expected_lengths = one_episode_at_a_time(7)
    assert len(set(expected_lengths)) > 1, "the controller should give episodes of different lengths"
    for width in (1, 3, 10):  # one slot, fewer slots than episodes, more slots than episodes
        evaluator = Evaluator("CartPole-v1", width)
        episodes = evaluator.run(lean_towards_the_pole, 7)
        evaluator.close()
        np.testing.assert_array_equal(episodes.returns, expected_returns)
        np.testing.assert_array_equal(episodes.lengths, expected_lengths)


def test_only_busy_slots_are_stepped():
    evaluator = Evaluator("CartPole-v1", 4)
    batch_sizes = []

    def recording(obs: np.ndarray) -> np.ndarray:
        batch_sizes.append(len(obs))
        return lean_towards_the_pole(obs)

    episodes = evaluator.run(recording, 6)
    evaluator.close()
    # Every env step is one step of one episode: no finished env keeps stepping while others play on.
    assert sum(batch_sizes) == episodes.lengths.sum()
    assert max(batch_sizes) == 4 and min(batch_sizes) < 4


def test_an_episode_cut_by_the_time_limit_is_truncated_and_one_that_fails_is_not():
    """Balancing to CartPole's 500-step limit is a truncation; the pole falling is not."""
    evaluator = Evaluator("CartPole-v1", 2)
    balanced = evaluator.run(balance_the_pole, 3)
    fallen = evaluator.run(lean_towards_the_pole, 3)
    evaluator.close()
    assert balanced.lengths.tolist() == [500] * 3 and balanced.truncated.tolist() == [True] * 3
    assert (fallen.lengths < 500).all() and fallen.truncated.tolist() == [False] * 3
