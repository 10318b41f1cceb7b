"""The PPO update (Schulman et al. 2017), readable top to bottom: ppo_update's loop, minibatch_loss's math.

Diagnostics have fixed names: policy_loss, value_loss, entropy, approx_kl, clip_fraction,
explained_variance, grad_norm (see UpdateStats).

A minibatch's gradient step (minibatch_loss, backward, clipping, Adam) runs eagerly here, or compiled as one
graph by torch.compile (compiled.py: the same math, fused kernels). A compiled step takes minibatches of one
size only (a new size would recompile), so there the epoch's last, shorter minibatch is padded to full size
with samples of weight 0, and every mean over the minibatch becomes the weighted mean sum(w x) / sum(w): the
same number over the real samples, the padding contributing nothing to the loss or its gradient. A padding
sample's log-ratio is replaced by 0 before anything uses it (minibatch_loss says why), so no term of it is
inf or NaN, which a weight of 0 could not cancel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ppo.agents.ppo.buffer import RolloutBatch, minibatches, padded, shuffled
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


class LossTerms(NamedTuple):
    loss: torch.Tensor  # what backward() differentiates
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    log_ratio: torch.Tensor  # (B,) log r of every sample (padding: 0), for the diagnostics


def mean(x: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """E[x] over the minibatch's samples: the plain mean, or sum(w x) / sum(w) over a padded one."""
    return x.mean() if weights is None else (x * weights).sum() / weights.sum()


def clipped_surrogate(
    ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float | torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """L^CLIP (PPO paper eq. 7), negated for minimization:
    -E[min(r * A, clip(r, 1 - eps, 1 + eps) * A)].
    The min makes the objective pessimistic: once r has moved past the clip boundary in the direction the
    advantage favours, the clipped term is the smaller one and its gradient is zero."""
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages
    return -mean(torch.min(unclipped, clipped), weights)


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_range_vf: float | None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared error to the GAE returns. With clip_range_vf, PPO2's pessimistic clipped form:
    max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)."""
    if clip_range_vf is None:
        if weights is None:
            return F.mse_loss(values, returns)  # mean((V - R)^2) as one op forward and one backward
        return mean((values - returns).square(), weights)
    clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return mean(torch.max((values - returns).square(), (clipped - returns).square()), weights)


def minibatch_loss(
    policy: ActorCritic,
    batch: RolloutBatch,
    weights: torch.Tensor | None,
    clip_range: float | torch.Tensor,
    hp: Hyperparameters,
) -> LossTerms:
    """The PPO loss of one minibatch (weights: None, or 1 for a real sample and 0 for padding)."""
    new = policy.evaluate_actions(batch.obs, batch.actions)
    # r_t(theta) = pi(a|s) / pi_old(a|s), computed in log space.
    log_ratio = new.log_probs - batch.log_probs
    if weights is not None:
        # Padding is set to log r = 0 before the exp, not weighted out after it: a padding sample's log-ratio can
        # overflow (a Gaussian of 17 dims at log std -8 at its zero sample: log pi = +120, exp = inf in float32), and
        # 0 x inf is NaN in the loss and its gradient. A real sample's log-ratio is selected unchanged, bit for bit.
        log_ratio = torch.where(weights > 0, log_ratio, 0.0)
    ratio = log_ratio.exp()

    policy_loss = clipped_surrogate(ratio, batch.advantages, clip_range, weights)
    v_loss = value_loss(new.values, batch.values, batch.returns, hp.clip_range_vf, weights)
    # A Gaussian's entropy is one value for every state (a 0-d tensor): its mean is itself.
    entropy = new.entropy if new.entropy.dim() == 0 else mean(new.entropy, weights)
    # Total loss (PPO paper eq. 9, as a minimization): L^CLIP + c1 L^VF - c2 H.
    loss = policy_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy
    return LossTerms(loss, policy_loss, v_loss, entropy, log_ratio)


# compiled.CompiledStep: (minibatch, weights, clip range) -> (loss terms, gradient norm before clipping), the
# parameters and Adam's moments updated in place.
MinibatchStep = Callable[[RolloutBatch, torch.Tensor, float], tuple[LossTerms, torch.Tensor]]


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


def epoch_minibatches(
    rollout: RolloutBatch, hp: Hyperparameters, generator: torch.Generator, padding: bool
) -> list[tuple[RolloutBatch, torch.Tensor | None]]:
    """One epoch's (minibatch, weights): weights None, or, with padding (a compiled step), the last minibatch
    padded to full size and every minibatch's sample weights (1 real, 0 padding)."""
    # Detail: shuffled minibatches, each sample exactly once per epoch.
    epoch = shuffled(rollout, hp.batch_size, generator) if hp.shuffle_minibatches else rollout
    if hp.normalize_advantage:
        # Detail: per-minibatch advantage normalization (computed for all minibatches of the epoch at once).
        epoch = epoch._replace(advantages=normalize_per_minibatch(epoch.advantages, hp.batch_size))
    if not padding:
        return [(batch, None) for batch in minibatches(epoch, hp.batch_size)]
    epoch, weights = padded(epoch, hp.batch_size)
    return list(zip(minibatches(epoch, hp.batch_size), weights.split(hp.batch_size)))


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    var_target = target.var()
    return float("nan") if var_target == 0 else float(1.0 - (target - predicted).var() / var_target)


def gradient_step(
    policy: ActorCritic,
    optimizer: FlatAdam,
    batch: RolloutBatch,
    weights: torch.Tensor | None,
    clip_range: float | torch.Tensor,
    hp: Hyperparameters,
) -> tuple[LossTerms, torch.Tensor]:
    """One minibatch's gradient step, eagerly: the loss, its gradient, clipping, Adam. Returns the loss terms
    and the gradient norm before clipping."""
    terms = minibatch_loss(policy, batch, weights, clip_range, hp)

    optimizer.zero_grad()
    terms.loss.backward()
    # Detail: global gradient-norm clipping over actor and critic together (None = measure only).
    grad_norm = optimizer.clip_grad_norm_(hp.max_grad_norm)
    optimizer.step()
    return terms, grad_norm


def _denormals_flushed_now() -> bool:
    return torch.tensor([1e-40]).mul_(1.0).item() == 0.0


@contextmanager
def denormals_flushed():
    """Floats below 1.2e-38 (denormals) read and written as zero inside the block (the CPU's flush-to-zero and
    denormals-are-zero modes, per thread). Why: Adam's second moments of parameters whose gradient stays near
    zero (a dead ReLU unit's weights) decay through that range, and x86 cores handle denormals about ten times
    slower than normal floats (a 142k-parameter Adam step: 105 us, 1,010 us on denormals; the article's CartPole
    runs spent 32 s in the update without this, 17 s with it; docs/speed.md). Only the update runs so: the envs'
    physics and acting keep IEEE arithmetic."""
    was_flushed = _denormals_flushed_now()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_flushed)


@denormals_flushed()
def ppo_update(
    policy: ActorCritic,
    optimizer: FlatAdam,
    rollout: RolloutBatch,
    hp: Hyperparameters,
    generator: torch.Generator,
    clip_range: float | None = None,
    compiled_step: MinibatchStep | None = None,
) -> UpdateStats:
    """n_epochs passes of shuffled minibatches over one rollout. clip_range: this update's clip epsilon
    (annealed by the caller under clip_range_schedule=linear); hp.clip_range when None. compiled_step: the
    whole minibatch step compiled (compiled.py), fed full-size minibatches only; None = eager."""
    clip_range = hp.clip_range if clip_range is None else clip_range
    # Diagnostics are collected as tensors (no .item() sync in the loop) and reduced once at the end.
    minibatch_stats = []  # policy_loss, value_loss, entropy, grad_norm of every minibatch, in turn
    log_ratios = []  # log r of every sample when its minibatch was used, for approx_kl and clip_fraction
    sample_weights = []  # their weights (padding: 0), under a compiled step
    # Every epoch's minibatches are cut before the first step (the same generator draws in the same order, so the
    # same minibatches): cutting them between compiled steps cost ~3x what it costs in one go, ~30 us a minibatch
    # on HalfCheetah (docs/speed.md). The price: all epochs' shuffled copies of the rollout at once in memory.
    padding = compiled_step is not None
    batches = [batch for _ in range(hp.n_epochs) for batch in epoch_minibatches(rollout, hp, generator, padding)]
    for batch, weights in batches:
        if compiled_step is not None:
            terms, grad_norm = compiled_step(batch, weights, clip_range)  # gradient_step, as one graph
        else:
            terms, grad_norm = gradient_step(policy, optimizer, batch, weights, clip_range, hp)

        minibatch_stats += (terms.policy_loss.detach(), terms.value_loss.detach(), terms.entropy.detach(), grad_norm)
        log_ratios.append(terms.log_ratio.detach())
        if weights is not None:
            sample_weights.append(weights)

    with torch.no_grad():
        policy_loss, v_loss, entropy, grad_norm = torch.stack(minibatch_stats).view(-1, 4).mean(0).tolist()
        log_ratio = torch.cat(log_ratios)
        ratio = log_ratio.exp()
        weights = torch.cat(sample_weights) if sample_weights else None
        approx_kl = float(mean((ratio - 1.0) - log_ratio, weights))
        clip_fraction = float(mean(((ratio - 1.0).abs() > clip_range).float(), weights))
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
