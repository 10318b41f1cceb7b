"""Actor and critic: two separate MLPs over the same observation, categorical actions.

The categorical distribution is written out (log_softmax, gather) instead of building a
torch.distributions.Categorical per call: same numbers, fewer ops and objects in the hot loop.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class PolicyStep(NamedTuple):
    """What the rollout stores from one forward pass over the vector env's observations."""

    actions: torch.Tensor  # (n_envs,) int64
    log_probs: torch.Tensor  # (n_envs,) log pi(a|s) under the acting policy
    values: torch.Tensor  # (n_envs,) V(s)


class ActionEvaluation(NamedTuple):
    log_probs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor


def _mlp(sizes: list[int], activation: type[nn.Module], out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        linear = nn.Linear(n_in, n_out)
        # Detail: orthogonal init, gain sqrt(2) on hidden layers, 0.01 on the policy head (near-uniform
        # initial policy), 1 on the value head; biases 0.
        nn.init.orthogonal_(linear.weight, gain=out_gain if last else float(np.sqrt(2)))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, net_arch: tuple[int, ...] = (64, 64), activation: str = "tanh"):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.actor = _mlp([obs_dim, *net_arch, n_actions], act, out_gain=0.01)
        self.critic = _mlp([obs_dim, *net_arch, 1], act, out_gain=1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalized log-probabilities of every action (B, A), values (B,))."""
        return self.actor(obs).log_softmax(-1), self.critic(obs).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator) -> PolicyStep:
        """Sample a ~ pi(.|s) for a batch of observations, with the given generator (reproducible)."""
        log_pi, values = self(obs)
        actions = torch.multinomial(log_pi.exp(), 1, generator=generator).squeeze(-1)
        return PolicyStep(actions, log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1), values)

    @torch.no_grad()
    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """argmax_a pi(a|s): the deterministic policy used for evaluation."""
        return self.actor(obs).argmax(-1)

    @torch.no_grad()
    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor) -> ActionEvaluation:
        """log pi(a|s), entropy H(pi(.|s)) and V(s), with gradients, for the update."""
        log_pi, values = self(obs)
        entropy = -(log_pi.exp() * log_pi).sum(-1)
        return ActionEvaluation(log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1), entropy, values)
