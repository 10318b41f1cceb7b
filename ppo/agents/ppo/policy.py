"""Actor and critic: two MLPs over the same observation (no shared parameters), categorical actions.

Two implementations of one network, over one set of weights:
- ActorCritic (torch): the update's forward and backward passes, on minibatches.
- NumpyActorCritic: acting during collection and evaluation, one call per vector step on a handful of
  observations. There torch's per-op dispatch costs far more than the
  arithmetic; the same forward in NumPy takes a fraction of the time. It reads the torch parameters'
  memory through NumPy views, so it always acts with the weights the optimizer just wrote.

The categorical distribution is written out (log_softmax, gather, inverse-CDF sampling) instead of
building a torch.distributions.Categorical per call: same numbers, fewer ops and objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ppo.agents.ppo.optim import flatten_parameters
from ppo.envs import EnvInfo
from ppo.run.directory import load_model
from ppo.run.evaluate import PolicyFn

ACTIVATION_FUNCTIONS = {"tanh": torch.tanh, "relu": torch.relu}
# In place on a NumPy array.
NUMPY_ACTIVATIONS = {"tanh": lambda x: np.tanh(x, out=x), "relu": lambda x: np.maximum(x, 0.0, out=x)}


class PolicyStep(NamedTuple):
    """What the rollout stores from one forward pass over the vector env's observations."""

    actions: np.ndarray  # (n_envs,) int64
    log_probs: np.ndarray  # (n_envs,) float32 log pi(a|s) under the acting policy
    values: np.ndarray  # (n_envs,) float32 V(s)


class ActionEvaluation(NamedTuple):
    log_probs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor


def _orthogonal(shape: tuple[int, int], gain: float) -> torch.Tensor:
    """An (in, out) weight for x @ W, orthogonally initialized."""
    weight = torch.empty(shape[1], shape[0])
    nn.init.orthogonal_(weight, gain=gain)
    return weight.T.contiguous()


class ActorCritic(nn.Module):
    """Two MLPs of the same shape, one for the policy and one for the value, that share no parameters.

    Speed: their hidden layers are stored stacked, weight (2, n_in, n_out) with slot 0 = actor and
    slot 1 = critic, so one batched matmul (baddbmm) runs a layer of both networks. That halves the op
    count of every forward and backward pass, which on one CPU core costs as much as the arithmetic.
    """

    def __init__(self, obs_dim: int, n_actions: int, net_arch: tuple[int, ...] = (64, 64), activation: str = "tanh"):
        super().__init__()
        self.obs_dim, self.n_actions, self.net_arch = obs_dim, n_actions, tuple(net_arch)
        self.activation_name = activation
        self.activation = ACTIVATION_FUNCTIONS[activation]
        sizes = [obs_dim, *net_arch]
        # Detail: orthogonal init with gain sqrt(2) on hidden layers, 0.01 on the policy head (a near-
        # uniform initial policy), 1 on the value head; biases 0.
        self.hidden_weights = nn.ParameterList(
            nn.Parameter(torch.stack([_orthogonal((n_in, n_out), np.sqrt(2)) for _ in range(2)]))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.hidden_biases = nn.ParameterList(nn.Parameter(torch.zeros(2, 1, n_out)) for n_out in net_arch)
        self.policy_weight = nn.Parameter(_orthogonal((net_arch[-1], n_actions), 0.01))
        self.policy_bias = nn.Parameter(torch.zeros(n_actions))
        self.value_weight = nn.Parameter(_orthogonal((net_arch[-1], 1), 1.0))
        self.value_bias = nn.Parameter(torch.zeros(1))
        # All parameters live in one flat tensor, their gradients in another (see ppo/optim.py). Loading a
        # state dict copies into these tensors in place, so the layout survives it.
        self.flat_parameters, self.flat_gradient = flatten_parameters(self)

    def _hidden(self, obs: torch.Tensor) -> torch.Tensor:
        """(2, B, last hidden size): features of the actor (slot 0) and of the critic (slot 1)."""
        h = obs.expand(2, *obs.shape)
        for weight, bias in zip(self.hidden_weights, self.hidden_biases):
            h = self.activation(torch.baddbmm(bias, h, weight))
        return h

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalized log-probabilities of every action (B, A), values (B,))."""
        actor_features, critic_features = self._hidden(obs).unbind(0)  # one backward op (stack), not two
        logits = torch.addmm(self.policy_bias, actor_features, self.policy_weight)
        values = torch.addmm(self.value_bias, critic_features, self.value_weight).squeeze(-1)
        return logits.log_softmax(-1), values

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor) -> ActionEvaluation:
        """log pi(a|s), entropy H(pi(.|s)) and V(s), with gradients, for the update."""
        log_pi, values = self(obs)
        entropy = -(log_pi.exp() * log_pi).sum(-1)
        return ActionEvaluation(log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1), entropy, values)

    def saved(self, env_id: str) -> dict:
        """model.pt's content: what rebuilds this network (load_policy) and its weights."""
        return {
            "env_id": env_id,
            "obs_dim": self.obs_dim,
            "n_actions": self.n_actions,
            "net_arch": list(self.net_arch),
            "activation": self.activation_name,
            "state_dict": {k: v.clone() for k, v in self.state_dict().items()},
        }


def load_policy(run_dir: str | Path, obs_dim: int, n_actions: int) -> ActorCritic:
    """The network saved in run_dir/model.pt, checked to fit the env it is about to act in."""
    saved = load_model(run_dir)
    path = Path(run_dir) / "model.pt"
    if (saved["obs_dim"], saved["n_actions"]) != (obs_dim, n_actions):
        raise ValueError(
            f"{path} was trained on {saved['env_id']} (obs size {saved['obs_dim']}, {saved['n_actions']} actions); "
            f"this env needs obs size {obs_dim} and {n_actions} actions"
        )
    policy = ActorCritic(obs_dim, n_actions, tuple(saved["net_arch"]), saved["activation"])
    try:
        policy.load_state_dict(saved["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit this version's network: {str(err).splitlines()[1].strip()}") from None
    return policy.eval()


def greedy_policy(policy: ActorCritic) -> PolicyFn:
    """argmax over the actor's logits: the deterministic policy that evaluation scores."""
    return NumpyActorCritic(policy).greedy


def saved_greedy_policy(run_dir: str | Path, info: EnvInfo, seed: int = 0) -> PolicyFn:
    """The registry's `actor` of every PPO agent: the greedy policy of a finished run."""
    return greedy_policy(load_policy(run_dir, info.obs_dim, info.n_actions))


class NumpyActorCritic:
    """ActorCritic's forward pass in NumPy, for acting: sampling during collection, argmax in evaluation.

    Holds NumPy views of the torch parameters (no copy): in-place optimizer steps show up here at once.
    Sampling draws from its own seeded NumPy generator, so collection is reproducible.
    """

    def __init__(self, policy: ActorCritic, seed: int = 0):
        def view(p: torch.Tensor) -> np.ndarray:
            return p.detach().numpy()

        self.hidden = [(view(w), view(b)) for w, b in zip(policy.hidden_weights, policy.hidden_biases)]
        self.policy_weight, self.policy_bias = view(policy.policy_weight), view(policy.policy_bias)
        self.value_weight, self.value_bias = view(policy.value_weight), view(policy.value_bias)
        self.activation = NUMPY_ACTIVATIONS[policy.activation_name]
        self.rng = np.random.default_rng(seed)

    def _hidden(self, obs: np.ndarray) -> np.ndarray:
        h = obs.astype(np.float32, copy=False)
        for weight, bias in self.hidden:
            h = np.matmul(h, weight)  # (B, in) or (2, B, in) @ (2, in, out) -> (2, B, out)
            h += bias
            self.activation(h)
        return h

    def _logits(self, features: np.ndarray) -> np.ndarray:
        return features[0] @ self.policy_weight + self.policy_bias

    def _values(self, features: np.ndarray) -> np.ndarray:
        return (features[1] @ self.value_weight + self.value_bias)[:, 0]

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """argmax_a pi(a|s): the deterministic policy used for evaluation."""
        return self._logits(self._hidden(obs)).argmax(-1)

    def values(self, obs: np.ndarray) -> np.ndarray:
        return self._values(self._hidden(obs))

    def act(self, obs: np.ndarray) -> PolicyStep:
        """Sample a ~ pi(.|s) for a batch of observations; log pi(a|s) and V(s) with it."""
        features = self._hidden(obs)
        logits, values = self._logits(features), self._values(features)
        logits -= logits.max(-1, keepdims=True)  # softmax of shifted logits: no overflow in exp
        unnormalized = np.exp(logits)
        total = unnormalized.sum(-1, keepdims=True)
        # Inverse-CDF sampling: the first action whose cumulative (unnormalized) probability exceeds
        # u * total, u ~ U(0, 1). The clamp guards against u * total rounding above the last cumsum.
        threshold = self.rng.random((len(logits), 1), dtype=np.float32) * total
        actions = (np.cumsum(unnormalized, -1) < threshold).sum(-1)
        np.minimum(actions, logits.shape[-1] - 1, out=actions)
        # log pi(a|s) = shifted logit of a - log(sum of exp(shifted logits))
        log_probs = np.take_along_axis(logits, actions[:, None], -1)[:, 0] - np.log(total[:, 0])
        return PolicyStep(actions, log_probs, values)
