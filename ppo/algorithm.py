"""The PPO update (Schulman et al. 2017), readable top to bottom.

Diagnostics have fixed names: policy_loss, value_loss, entropy, approx_kl, clip_fraction,
explained_variance (see UpdateStats).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ppo.buffer import RolloutBatch, shuffled_minibatches
from ppo.config import Hyperparameters
from ppo.networks import ActorCritic
from ppo.optim import FlatAdam


class UpdateStats(NamedTuple):
    """Means over every minibatch of one update, and explained variance over the rollout."""

    policy_loss: float  # clipped surrogate loss (to minimize)
    value_loss: float  # (V(s) - return)^2, clipped if clip_range_vf is set
    entropy: float  # mean policy entropy; falling fast means premature collapse
    approx_kl: float  # E[(r - 1) - log r], Schulman's low-variance KL(pi_old || pi) estimator
    clip_fraction: float  # share of samples whose ratio left [1 - eps, 1 + eps]
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
    loss = (values - returns).square()
    if clip_range_vf is not None:
        clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
        loss = torch.max(loss, (clipped - returns).square())
    return loss.mean()


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    var_target = target.var()
    return float("nan") if var_target == 0 else float(1.0 - (target - predicted).var() / var_target)


def ppo_update(
    policy: ActorCritic,
    optimizer: FlatAdam,
    rollout: RolloutBatch,
    hp: Hyperparameters,
    generator: torch.Generator,
) -> UpdateStats:
    """n_epochs passes of shuffled minibatches over one rollout."""
    # Sums are kept as tensors: no .item() sync inside the loop; a NaN anywhere survives into the sum.
    sums = torch.zeros(6)
    n_minibatches = 0
    for _ in range(hp.n_epochs):
        # Detail: shuffled minibatches, each sample exactly once per epoch.
        for batch in shuffled_minibatches(rollout, hp.batch_size, generator):
            advantages = batch.advantages
            # Detail: per-minibatch advantage normalization (needs 2+ samples for a std).
            if hp.normalize_advantage and len(advantages) > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

            new = policy.evaluate_actions(batch.obs, batch.actions)
            # r_t(theta) = pi(a|s) / pi_old(a|s), computed in log space.
            log_ratio = new.log_probs - batch.log_probs
            ratio = log_ratio.exp()

            policy_loss = clipped_surrogate(ratio, advantages, hp.clip_range)
            v_loss = value_loss(new.values, batch.values, batch.returns, hp.clip_range_vf)
            entropy = new.entropy.mean()
            # Total loss (PPO paper eq. 9, as a minimization): L^CLIP + c1 L^VF - c2 H.
            loss = policy_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy

            optimizer.zero_grad()
            loss.backward()
            # Detail: global gradient-norm clipping over actor and critic together (None = measure only).
            grad_norm = optimizer.clip_grad_norm_(hp.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                approx_kl = ((ratio - 1.0) - log_ratio).mean()
                clip_fraction = ((ratio - 1.0).abs() > hp.clip_range).float().mean()
                sums += torch.stack(
                    [policy_loss.detach(), v_loss.detach(), entropy.detach(), approx_kl, clip_fraction, grad_norm]
                )
            n_minibatches += 1

    means = (sums / n_minibatches).tolist()
    if not all(torch.isfinite(torch.tensor(means))):
        names = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm")
        bad = [name for name, value in zip(names, means) if not torch.isfinite(torch.tensor(value))]
        raise FloatingPointError(f"non-finite {', '.join(bad)} in the PPO update")
    return UpdateStats(
        policy_loss=means[0],
        value_loss=means[1],
        entropy=means[2],
        approx_kl=means[3],
        clip_fraction=means[4],
        explained_variance=explained_variance(rollout.values, rollout.returns),
        grad_norm=means[5],
    )
