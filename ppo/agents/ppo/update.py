"""The PPO update (Schulman et al. 2017), readable top to bottom.

Diagnostics have fixed names: policy_loss, value_loss, entropy, approx_kl, clip_fraction,
explained_variance, grad_norm (see UpdateStats).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ppo.agents.ppo.buffer import RolloutBatch, minibatches, shuffled
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic
from ppo.config import Hyperparameters


class UpdateStats(NamedTuple):
    """Means over every minibatch of one update, and explained variance over the rollout."""

    policy_loss: float  # clipped surrogate loss (to minimize)
    value_loss: float  # (V(s) - return)^2, clipped if clip_range_vf is set
    entropy: float  # mean policy entropy; falling fast means premature collapse
    approx_kl: float  # E[(r - 1) - log r], Schulman's low-variance KL(pi_old || pi) estimator, over all samples
    clip_fraction: float  # share of samples whose ratio left [1 - eps, 1 + eps] when their minibatch was used
    explained_variance: float  # 1 - Var(returns - V_old) / Var(returns); 1 = perfect critic
    grad_norm: float  # mean global gradient norm before clipping


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """L^CLIP (PPO paper eq. 7), negated for minimization:
    -E[min(r * A, clip(r, 1 - eps, 1 + eps) * A)].
    The min makes the objective pessimistic: once r has moved past the clip boundary in the direction the
    advantage favours, the clipped term is the smaller one and its gradient is zero."""
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages
    return -torch.min(unclipped, clipped).mean()


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float | None
) -> torch.Tensor:
    """Squared error to the GAE returns. With clip_range_vf, PPO2's pessimistic clipped form:
    max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)."""
    if clip_range_vf is None:
        return F.mse_loss(values, returns)  # mean((V - R)^2) as one op forward and one backward
    clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return torch.max((values - returns).square(), (clipped - returns).square()).mean()


def normalize_per_minibatch(advantages: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(A - mean) / (std + 1e-8) within every consecutive chunk of batch_size, i.e. within every minibatch of
    the epoch: the same numbers as normalizing inside the minibatch loop, in a few ops per epoch instead of
    five per minibatch. A last chunk of one sample has no std and is left as it is."""
    n_full = len(advantages) // batch_size * batch_size
    chunks = [advantages[:n_full].view(-1, batch_size), advantages[n_full:].view(1, -1)]
    out = []
    for chunk in chunks:
        if chunk.numel() > 1 and chunk.shape[1] > 1:  # skip an empty or one-sample chunk
            chunk = (chunk - chunk.mean(1, keepdim=True)) / (chunk.std(1, keepdim=True) + 1e-8)
        out.append(chunk.reshape(-1))
    return torch.cat(out)


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    var_target = target.var()
    return float("nan") if var_target == 0 else float(1.0 - (target - predicted).var() / var_target)


def ppo_update(
    policy: ActorCritic,
    optimizer: FlatAdam,
    rollout: RolloutBatch,
    hp: Hyperparameters,
    generator: torch.Generator,
    clip_range: float | None = None,
) -> UpdateStats:
    """n_epochs passes of shuffled minibatches over one rollout. clip_range: this update's clip epsilon
    (annealed by the caller under clip_range_schedule=linear); hp.clip_range when None."""
    clip_range = hp.clip_range if clip_range is None else clip_range
    # Diagnostics are collected as tensors (no .item() sync in the loop) and reduced once at the end.
    minibatch_stats = []  # policy_loss, value_loss, entropy, grad_norm of every minibatch, in turn
    log_ratios = []  # log r of every sample when its minibatch was used, for approx_kl and clip_fraction
    for _ in range(hp.n_epochs):
        # Detail: shuffled minibatches, each sample exactly once per epoch.
        epoch = shuffled(rollout, hp.batch_size, generator) if hp.shuffle_minibatches else rollout
        if hp.normalize_advantage:
            # Detail: per-minibatch advantage normalization (computed for all minibatches of the epoch at once).
            epoch = epoch._replace(advantages=normalize_per_minibatch(epoch.advantages, hp.batch_size))
        for batch in minibatches(epoch, hp.batch_size):
            new = policy.evaluate_actions(batch.obs, batch.actions)
            # r_t(theta) = pi(a|s) / pi_old(a|s), computed in log space.
            log_ratio = new.log_probs - batch.log_probs
            ratio = log_ratio.exp()

            policy_loss = clipped_surrogate(ratio, batch.advantages, clip_range)
            v_loss = value_loss(new.values, batch.values, batch.returns, hp.clip_range_vf)
            entropy = new.entropy.mean()
            # Total loss (PPO paper eq. 9, as a minimization): L^CLIP + c1 L^VF - c2 H.
            loss = policy_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy

            optimizer.zero_grad()
            loss.backward()
            # Detail: global gradient-norm clipping over actor and critic together (None = measure only).
            grad_norm = optimizer.clip_grad_norm_(hp.max_grad_norm)
            optimizer.step()

            minibatch_stats += (policy_loss.detach(), v_loss.detach(), entropy.detach(), grad_norm)
            log_ratios.append(log_ratio.detach())

    with torch.no_grad():
        policy_loss, v_loss, entropy, grad_norm = torch.stack(minibatch_stats).view(-1, 4).mean(0).tolist()
        log_ratio = torch.cat(log_ratios)
        ratio = log_ratio.exp()
        approx_kl = float(((ratio - 1.0) - log_ratio).mean())
        clip_fraction = float(((ratio - 1.0).abs() > clip_range).float().mean())
    stats = UpdateStats(
        policy_loss=policy_loss,
        value_loss=v_loss,
        entropy=entropy,
        approx_kl=approx_kl,
        clip_fraction=clip_fraction,
        explained_variance=explained_variance(rollout.values, rollout.returns),
        grad_norm=grad_norm,
    )
    bad = [name for name, value in stats._asdict().items() if name != "explained_variance" and not math.isfinite(value)]
    if bad:
        raise FloatingPointError(f"non-finite {', '.join(bad)} in the PPO update")
    return stats
