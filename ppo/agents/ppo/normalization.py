"""Observation and reward normalization (rl-baselines3-zoo's `normalize: true`, split in two settings).

- Observations: (obs - running mean) / sqrt(running variance + 1e-8), clipped to +-10. The statistics
  belong to the policy (buffers of the torch module, saved in model.pt), so evaluation, videos and any
  later use feed raw observations and get the training-time normalization, frozen.
- Rewards: divided by the running standard deviation of the discounted return, clipped to +-10; the
  return restarts at every episode end (termination or truncation) and all envs share one statistic, as
  Stable-Baselines3's VecNormalize does (Gymnasium 1.x's NormalizeReward restarts only on termination and
  keeps statistics per env). Only the rewards the update learns from are scaled: logs and evaluations
  always record the env's raw rewards.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

EPSILON = 1e-8
CLIP = 10.0


_CLIP_LOW, _CLIP_HIGH = np.float32(-CLIP), np.float32(CLIP)


def clip_(x: np.ndarray) -> np.ndarray:
    """A float32 array clipped to [-CLIP, CLIP] in place: np.clip's numbers without its Python-level argument
    handling (2.0 instead of 3.2 us on a step's small arrays)."""
    np.maximum(x, _CLIP_LOW, out=x)
    return np.minimum(x, _CLIP_HIGH, out=x)


class RunningMeanStd:
    """Mean and variance of every sample seen so far, merged batch by batch (Chan et al.'s parallel
    algorithm, as SB3's RunningMeanStd), in float64. The arrays are updated in place, so they can be
    NumPy views of a torch module's buffers."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, count: np.ndarray):
        self.mean, self.var, self.count = mean, var, count

    @classmethod
    def new(cls, shape: tuple[int, ...]) -> RunningMeanStd:
        # count starts at a tiny epsilon (SB3's 1e-4) so the first batch's statistics dominate at once.
        return cls(np.zeros(shape), np.ones(shape), np.full((), 1e-4))

    @classmethod
    def in_module(cls, module: nn.Module, prefix: str, shape: tuple[int, ...]) -> RunningMeanStd:
        """Statistics stored as buffers `{prefix}_mean`, `{prefix}_var`, `{prefix}_count` of `module`
        (saved in its state dict; load_state_dict copies into them in place, so the views stay valid)."""
        fresh = cls.new(shape)
        arrays = {}
        for name, value in (("mean", fresh.mean), ("var", fresh.var), ("count", fresh.count)):
            module.register_buffer(f"{prefix}_{name}", torch.from_numpy(value))
            arrays[name] = getattr(module, f"{prefix}_{name}").numpy()
        return cls(arrays["mean"], arrays["var"], arrays["count"])

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch of samples (first axis = samples) into the statistics."""
        if len(batch) == 0:
            return
        if len(batch) == 1:
            self._update_one(batch[0])
        else:
            self.merge(batch.mean(0), batch.var(0), len(batch))

    def merge(self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: int) -> None:
        """Merge the statistics of a batch of samples (Chan et al.)."""
        delta = batch_mean - self.mean
        count = float(self.count)  # a Python float, not a 0-d array: fewer NumPy calls, the same float64 numbers
        total = count + batch_count
        m2 = self.var * count + batch_var * batch_count + delta * delta * count * batch_count / total
        self.assign(self.mean + delta * batch_count / total, m2 / total, total)

    def _update_one(self, sample: np.ndarray) -> None:
        """update() for a batch of one sample (every step of a one-env run, e.g. the MuJoCo settings),
        in half the NumPy calls. Its mean is the sample and its variance exactly 0, so merge()'s terms that
        carry them vanish without rounding: the statistics are bitwise those of merge(sample, 0, 1)."""
        delta = sample - self.mean
        count = float(self.count)
        total = count + 1.0
        self.assign(self.mean + delta / total, (self.var * count + delta * delta * count / total) / total, total)

    def assign(self, mean, var, count) -> None:
        """New statistics, written in place (the arrays may be views of a module's buffers)."""
        self.mean[...], self.var[...], self.count[...] = mean, var, count

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / sqrt(var + 1e-8), clipped to +-10, as float32."""
        out = ((x - self.mean) / np.sqrt(self.var + EPSILON)).astype(np.float32)
        return clip_(out)


class ScalarMeanStd(RunningMeanStd):
    """RunningMeanStd of one scalar in Python floats: the same formulas and, float64 either way, bitwise the same
    numbers, without NumPy's per-call cost on 0-d arrays (reward scaling of one env: 11.5 -> 7.6 us a step)."""

    def __init__(self):
        super().__init__(0.0, 1.0, 1e-4)  # RunningMeanStd.new's starting values

    def assign(self, mean, var, count) -> None:
        self.mean, self.var, self.count = float(mean), float(var), float(count)


class RewardScaler:
    """r / sqrt(Var[discounted return] + 1e-8), clipped to +-10, for a vector of n_envs envs."""

    def __init__(self, n_envs: int, gamma: float):
        self.gamma = gamma
        self.rms = ScalarMeanStd()
        self.returns = np.zeros(n_envs)  # the discounted return of each env's current episode so far

    def state_dict(self) -> dict:
        """The statistics, for a checkpoint. The running returns are not kept: a resumed run starts new episodes."""
        return {"mean": self.rms.mean, "var": self.rms.var, "count": self.rms.count}

    def load_state_dict(self, state: dict) -> None:
        self.rms.assign(state["mean"], state["var"], state["count"])
        self.returns[:] = 0.0

    def __call__(self, rewards: np.ndarray, done: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Scale one vector step's rewards. Autoreset steps (valid=False) are no transition: their (zero)
        reward neither enters the return nor the statistics."""
        if valid.all():  # the common case, in place, without indexing (the same numbers, fewer NumPy calls)
            self.returns *= self.gamma
            self.returns += rewards
            self.rms.update(self.returns)
        else:
            self.returns[valid] = self.returns[valid] * self.gamma + rewards[valid]
            self.rms.update(self.returns[valid])
        # np.float64, not a Python float: float32 rewards (CartPole's vector env) are then divided in float64, as a
        # 0-d array's square root made them before (NumPy 2 keeps float32 against a Python float).
        scaled = (rewards / np.float64(math.sqrt(self.rms.var + EPSILON))).astype(np.float32)
        if done.any():
            self.returns[done] = 0.0
        return clip_(scaled)
