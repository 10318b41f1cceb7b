"""Evaluation on fixed seeds, episodes side by side in a vector env.

Episode k of any evaluation starts from seed EVAL_SEED_BASE + k, whatever the agent or training seed,
so every agent is scored on the same start states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ppo.envs import EVAL_SEED_BASE, make_vec_env

PolicyFn = Callable[[np.ndarray], np.ndarray]  # (n, obs_dim) observations -> (n,) actions


class EvalEpisodes(NamedTuple):
    returns: np.ndarray  # (n_episodes,) float64 undiscounted episode returns
    lengths: np.ndarray  # (n_episodes,) int64


class Evaluator:
    """Holds one vector env of `width` copies and runs evaluations of any length in chunks of `width`."""

    def __init__(self, env_id: str, width: int):
        self.width = width
        self.envs = make_vec_env(env_id, width, per_env_seeds=True)

    def run(self, act: PolicyFn, n_episodes: int) -> EvalEpisodes:
        returns = np.zeros(n_episodes)
        lengths = np.zeros(n_episodes, dtype=np.int64)
        for start in range(0, n_episodes, self.width):
            count = min(self.width, n_episodes - start)
            chunk_returns, chunk_lengths = self._one_episode_each(act, EVAL_SEED_BASE + start)
            returns[start : start + count] = chunk_returns[:count]
            lengths[start : start + count] = chunk_lengths[:count]
        return EvalEpisodes(returns, lengths)

    def _one_episode_each(self, act: PolicyFn, first_seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Every env plays exactly its first episode; later (autoreset) episodes are ignored."""
        obs, _ = self.envs.reset(seed=[first_seed + i for i in range(self.width)])
        active = np.ones(self.width, dtype=bool)
        returns = np.zeros(self.width)
        lengths = np.zeros(self.width, dtype=np.int64)
        while active.any():
            obs, rewards, terminated, truncated, _ = self.envs.step(act(obs))
            returns += rewards * active
            lengths += active
            active &= ~(terminated | truncated)
        return returns, lengths

    def close(self) -> None:
        self.envs.close()
