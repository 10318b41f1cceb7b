"""Action distributions, one seam for discrete and continuous actions (Stable-Baselines3's distributions.py).

Each distribution turns the actor's head output into actions, on two sides:
- torch (the update): log pi(a|s) and the entropy, with gradients; per-dimension Gaussian terms are summed
  over the action dimensions (independent dimensions: the joint log-density is the sum);
- NumPy (acting): sample with log pi(a|s), and mode() for the greedy policy.
The update never asks whether actions are discrete: it calls log_prob_and_entropy.

Continuous actions are sampled from the Gaussian unbounded and stored that way, so their log-probs are the
policy's; only the copy passed to env.step is clipped to the action bounds (to_env), as SB3 and CleanRL do.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ppo.envs import EnvInfo

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class Categorical:
    """pi(a|s) = softmax(logits)[a] over n actions. The head outputs n logits."""

    def __init__(self, n_actions: int):
        self.head_size = n_actions
        self.action_shape: tuple[int, ...] = ()
        self.action_dtype = torch.int64

    def log_prob_and_entropy(
        self, logits: torch.Tensor, log_std: torch.Tensor | None, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        log_pi = logits.log_softmax(-1)
        entropy = -(log_pi.exp() * log_pi).sum(-1)
        return log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1), entropy

    def sample(
        self, logits: np.ndarray, log_std: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(actions (B,) int64, log pi(a|s) (B,)). Overwrites `logits`."""
        logits -= logits.max(-1, keepdims=True)  # softmax of shifted logits: no overflow in exp
        unnormalized = np.exp(logits)
        total = unnormalized.sum(-1, keepdims=True)
        # Inverse-CDF sampling: the first action whose cumulative (unnormalized) probability exceeds
        # u * total, u ~ U(0, 1). The clamp guards against u * total rounding above the last cumsum.
        threshold = rng.random((len(logits), 1), dtype=np.float32) * total
        actions = (np.cumsum(unnormalized, -1) < threshold).sum(-1)
        np.minimum(actions, logits.shape[-1] - 1, out=actions)
        # log pi(a|s) = shifted logit of a - log(sum of exp(shifted logits))
        log_probs = np.take_along_axis(logits, actions[:, None], -1)[:, 0] - np.log(total[:, 0])
        return actions, log_probs

    def mode(self, logits: np.ndarray) -> np.ndarray:
        return logits.argmax(-1)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return actions


class DiagGaussian:
    """pi(a|s) = N(mean(s), diag(exp(log_std))^2), with a state-independent learnable log_std (one per
    action dimension). The head outputs the mean."""

    def __init__(self, action_dim: int, low: np.ndarray, high: np.ndarray):
        self.head_size = action_dim
        self.action_shape = (action_dim,)
        self.action_dtype = torch.float32
        self.low, self.high = np.asarray(low, np.float32), np.asarray(high, np.float32)

    def log_prob_and_entropy(
        self, mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # log N(a; mu, sigma) = -(a - mu)^2 / (2 sigma^2) - log sigma - log sqrt(2 pi), summed over dimensions:
        # -1/2 sum z^2 - log_norm, with z = (a - mu) / sigma and log_norm = sum(log sigma) + d log sqrt(2 pi).
        z = (actions - mean) * torch.exp(-log_std)
        log_norm = log_std.sum() + LOG_SQRT_2PI * self.head_size
        log_probs = -0.5 * z.square().sum(-1) - log_norm
        # H = sum over dimensions of (1/2 + log sqrt(2 pi) + log sigma) = log_norm + d/2: the same for every
        # state, so one value (0-d) stands for the batch (its mean is itself: no per-sample copy or gradient).
        entropy = log_norm + 0.5 * self.head_size
        return log_probs, entropy

    def sample(self, mean: np.ndarray, log_std: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(actions (B, action_dim) float32, unclipped; log pi(a|s) (B,))."""
        noise = rng.standard_normal(mean.shape, dtype=np.float32)
        actions = mean + np.exp(log_std) * noise
        log_probs = (-0.5 * noise * noise - log_std).sum(-1) - np.float32(LOG_SQRT_2PI * self.head_size)
        return actions, log_probs

    def mode(self, mean: np.ndarray) -> np.ndarray:
        return mean

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        """Clip to the action bounds: only what the env receives, never what the buffer stores."""
        return np.minimum(np.maximum(actions, self.low), self.high)  # np.clip's numbers, a microsecond sooner


def make_distribution(info: EnvInfo) -> Categorical | DiagGaussian:
    """The distribution of the env's action space: Discrete -> Categorical, Box -> DiagGaussian."""
    if info.continuous:
        return DiagGaussian(info.action_dim, np.asarray(info.action_low), np.asarray(info.action_high))
    return Categorical(info.n_actions)
