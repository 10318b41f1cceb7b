"""Evaluation on fixed seeds, episodes side by side in a pool of envs.

Episode k of any evaluation starts from seed EVAL_SEED_BASE + k, whatever the agent or training seed,
so every agent is scored on the same start states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ppo.envs import EVAL_SEED_BASE, make_env
from ppo.run.stop import safe_point

PolicyFn = Callable[[np.ndarray], np.ndarray]  # (n, *obs_shape) observations -> (n,) actions


class EvalEpisodes(NamedTuple):
    returns: np.ndarray  # (n_episodes,) float64 undiscounted episode returns
    lengths: np.ndarray  # (n_episodes,) int64
    truncated: np.ndarray  # (n_episodes,) bool: cut by a time limit (Atari: the 108k-frame cap, a stalled game)


class Evaluator:
    """A pool of `width` envs playing the episodes of an evaluation, at most `width` at a time.

    A slot whose episode ends starts the next episode not yet begun, and only busy slots are stepped: a
    vector env would step every copy until the longest episode of its chunk ends (a LunarLander agent that
    hovers for 1,000 steps while the others land in 250 wastes most of the chunk's env steps)."""

    def __init__(self, env_id: str, width: int):
        self.width = width
        self.envs = [make_env(env_id) for _ in range(width)]  # the real game: no episodic life, raw rewards

    def run(self, act: PolicyFn, n_episodes: int) -> EvalEpisodes:
        returns = np.zeros(n_episodes)
        lengths = np.zeros(n_episodes, dtype=np.int64)
        truncated_at = np.zeros(n_episodes, dtype=bool)
        episode_of_slot = np.full(self.width, -1)  # -1: the slot is idle
        next_episode = 0

        def start_next(slot: int) -> np.ndarray | None:
            """The slot's env begins the next episode not yet begun (its first observation), or goes idle."""
            nonlocal next_episode
            if next_episode == n_episodes:
                episode_of_slot[slot] = -1
                return None
            episode, next_episode = next_episode, next_episode + 1
            episode_of_slot[slot] = episode
            return self.envs[slot].reset(seed=EVAL_SEED_BASE + episode)[0]

        obs = [start_next(slot) for slot in range(self.width)]
        while (busy := np.flatnonzero(episode_of_slot >= 0)).size:
            safe_point()  # a long evaluation stops between steps on SIGTERM (ppo.run.stop)
            actions = act(np.stack([obs[slot] for slot in busy]))
            for slot, action in zip(busy, actions):
                obs[slot], reward, terminated, truncated, _ = self.envs[slot].step(action)
                episode = episode_of_slot[slot]
                returns[episode] += reward
                lengths[episode] += 1
                if terminated or truncated:
                    truncated_at[episode] = truncated and not terminated
                    obs[slot] = start_next(slot)
        return EvalEpisodes(returns, lengths, truncated_at)

    def close(self) -> None:
        for env in self.envs:
            env.close()
