"""Actor and critic: two MLPs over the same observation (no shared parameters), any action distribution.

Two implementations of one network, over one set of weights:
- ActorCritic (torch): the update's forward and backward passes, on minibatches.
- NumpyActorCritic: acting during collection and evaluation, one call per vector step on a handful of
  observations. There torch's per-op dispatch costs far more than the
  arithmetic; the same forward in NumPy takes a fraction of the time. It reads the torch parameters'
  memory through NumPy views, so it always acts with the weights the optimizer just wrote.

Actions come from distributions.py (categorical or diagonal Gaussian): the actor's head outputs its
parameters (logits or the mean), and a Gaussian's log standard deviation is one more parameter here.

Observation normalization, when on, belongs to the policy: its running mean and variance are buffers of
this module, saved in model.pt with the weights, and NumpyActorCritic applies them to raw observations
(normalize). The torch forward takes normalized observations, as the rollout buffer stores them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ppo.agents.ppo.distributions import Categorical, DiagGaussian
from ppo.agents.ppo.normalization import RunningMeanStd
from ppo.agents.ppo.optim import flatten_parameters
from ppo.envs import EnvInfo

ACTIVATION_FUNCTIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x}
# In place on a NumPy array.
NUMPY_ACTIVATIONS = {"tanh": lambda x: np.tanh(x, out=x), "relu": lambda x: np.maximum(x, 0.0, out=x), "identity": lambda x: x}


class PolicyStep(NamedTuple):
    """What the rollout stores from one forward pass over the vector env's observations."""

    actions: np.ndarray  # (n_envs,) int64 or (n_envs, action_dim) float32, as sampled (never clipped)
    log_probs: np.ndarray  # (n_envs,) float32 log pi(a|s) under the acting policy
    values: np.ndarray | None  # (n_envs,) float32 V(s), or None from an actor that leaves V to the rollout's end


class ActionEvaluation(NamedTuple):
    log_probs: torch.Tensor  # (B,) log pi(a|s)
    entropy: torch.Tensor  # (B,) H(pi(.|s)), or one value () where it is the same for every state (Gaussian)
    values: torch.Tensor  # (B,) V(s)


def _orthogonal(shape: tuple[int, int], gain: float) -> torch.Tensor:
    """An (in, out) weight for x @ W, orthogonally initialized."""
    weight = torch.empty(shape[1], shape[0])
    nn.init.orthogonal_(weight, gain=gain)
    return weight.T.contiguous()


def _pytorch_default(shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """An (in, out) weight and its bias as nn.Linear initializes them: U(-1/sqrt(in), 1/sqrt(in)) for both
    (kaiming_uniform with a = sqrt(5))."""
    bound = 1.0 / np.sqrt(shape[0])
    return torch.empty(shape).uniform_(-bound, bound), torch.empty(shape[1]).uniform_(-bound, bound)


class ActorCritic(nn.Module):
    """Two MLPs of the same shape, one for the policy and one for the value, that share no parameters.

    Speed: their hidden layers are stored stacked, weight (2, n_in, n_out) with slot 0 = actor and
    slot 1 = critic, so one batched matmul (baddbmm) runs a layer of both networks. That halves the op
    count of every forward and backward pass, which on one CPU core costs as much as the arithmetic.

    `action` is a distribution (distributions.py) or, for discrete actions, the number of actions.
    """

    obs_dtype = torch.float32  # what the rollout buffer stores and the forward takes (normalized observations)

    def __init__(
        self,
        obs_dim: int,
        action: int | Categorical | DiagGaussian,
        net_arch: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        *,
        ortho_init: bool = True,
        log_std_init: float = 0.0,
        normalize_observation: bool = False,
    ):
        super().__init__()
        self.distribution = Categorical(action) if isinstance(action, int) else action
        self.obs_dim, self.net_arch = obs_dim, tuple(net_arch)
        self.activation_name, self.ortho_init = activation, ortho_init
        self.activation = ACTIVATION_FUNCTIONS[activation]
        sizes, head = [obs_dim, *net_arch], self.distribution.head_size
        if ortho_init:
            # Detail: orthogonal init with gain sqrt(2) on hidden layers, 0.01 on the policy head (a near-
            # uniform initial policy, or a Gaussian mean near 0), 1 on the value head; biases 0.
            hidden = [
                (torch.stack([_orthogonal((n_in, n_out), np.sqrt(2)) for _ in range(2)]), torch.zeros(2, 1, n_out))
                for n_in, n_out in zip(sizes[:-1], sizes[1:])
            ]
            policy_head = (_orthogonal((net_arch[-1], head), 0.01), torch.zeros(head))
            value_head = (_orthogonal((net_arch[-1], 1), 1.0), torch.zeros(1))
        else:  # PyTorch's default init (rl-zoo's ortho_init: false), e.g. the zoo's MuJoCo settings
            hidden = []
            for n_in, n_out in zip(sizes[:-1], sizes[1:]):
                actor, critic = _pytorch_default((n_in, n_out)), _pytorch_default((n_in, n_out))
                hidden.append((torch.stack([actor[0], critic[0]]), torch.stack([actor[1], critic[1]])[:, None]))
            policy_head, value_head = _pytorch_default((net_arch[-1], head)), _pytorch_default((net_arch[-1], 1))
        self.hidden_weights = nn.ParameterList(nn.Parameter(w) for w, _ in hidden)
        self.hidden_biases = nn.ParameterList(nn.Parameter(b) for _, b in hidden)
        self.policy_weight, self.policy_bias = nn.Parameter(policy_head[0]), nn.Parameter(policy_head[1])
        self.value_weight, self.value_bias = nn.Parameter(value_head[0]), nn.Parameter(value_head[1])
        # Detail: a state-independent, learnable log standard deviation per action dimension (Gaussian only).
        self.log_std = nn.Parameter(torch.full((head,), float(log_std_init))) if self.continuous else None
        # All parameters live in one flat tensor, their gradients in another (see ppo/agents/ppo/optim.py). Loading a
        # state dict copies into these tensors in place, so the layout survives it.
        self.flat_parameters, self.flat_gradient = flatten_parameters(self)
        # Observation statistics (not parameters: the optimizer never sees them); updated in place by training.
        self.obs_rms = RunningMeanStd.in_module(self, "obs", (obs_dim,)) if normalize_observation else None

    @property
    def continuous(self) -> bool:
        return isinstance(self.distribution, DiagGaussian)

    @property
    def obs_shape(self) -> tuple[int]:
        return (self.obs_dim,)

    @property
    def hidden_layers(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        """((weight, bias) of every hidden layer). Read from the lists' own dicts: iterating a ParameterList
        costs a string index and a getattr per item (~9 us a forward pass), and a functional call
        (torch.func.functional_call, the compiled update) swaps the tensors in exactly these dicts."""
        return tuple(zip(self.hidden_weights._parameters.values(), self.hidden_biases._parameters.values()))

    def _hidden(self, obs: torch.Tensor) -> torch.Tensor:
        """(2, B, last hidden size): features of the actor (slot 0) and of the critic (slot 1)."""
        h = obs.expand(2, *obs.shape)
        for weight, bias in self.hidden_layers:
            h = self.activation(torch.baddbmm(bias, h, weight))
        return h

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the distribution's parameters from the actor's head: logits (B, A) or means (B, action_dim);
        values (B,)), for normalized observations."""
        actor_features, critic_features = self._hidden(obs).unbind(0)  # one backward op (stack), not two
        head = torch.addmm(self.policy_bias, actor_features, self.policy_weight)
        values = torch.addmm(self.value_bias, critic_features, self.value_weight).squeeze(-1)
        return head, values

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor) -> ActionEvaluation:
        """log pi(a|s), entropy H(pi(.|s)) and V(s), with gradients, for the update."""
        head, values = self(obs)
        log_probs, entropy = self.distribution.log_prob_and_entropy(head, self.log_std, actions)
        return ActionEvaluation(log_probs, entropy, values)

    def saved(self, info: EnvInfo) -> dict:
        """model.pt's content: what rebuilds this network (load_policy), its weights and its observation
        statistics (in the state dict)."""
        return {
            "env_id": info.env_id,
            "obs_dim": self.obs_dim,
            "action_space": action_space_record(info),
            "net_arch": list(self.net_arch),
            "activation": self.activation_name,
            "ortho_init": self.ortho_init,
            "normalize_observation": self.obs_rms is not None,
            "state_dict": {k: v.clone() for k, v in self.state_dict().items()},
        }


def action_space_record(info: EnvInfo) -> dict:
    """model.pt's record of the action space; its keys are action_space_text's arguments."""
    return {"n_actions": info.n_actions, "action_dim": info.action_dim, "low": info.action_low, "high": info.action_high}


class NumpyActorCritic:
    """ActorCritic's forward pass in NumPy, for acting: sampling during collection, the mode in evaluation.

    Holds NumPy views of the torch parameters and observation statistics (no copy): in-place optimizer
    steps and statistics updates show up here at once. Sampling draws from its own seeded NumPy
    generator, so collection is reproducible.

    The actor and the critic run apart: acting and the greedy policy need the actor alone, V(s) the critic alone
    (act says why the critic is left out of acting).
    """

    def __init__(self, policy: ActorCritic, seed: int = 0):
        def view(p: torch.Tensor) -> np.ndarray:
            return p.detach().numpy()

        hidden = [(view(w), view(b)) for w, b in policy.hidden_layers]
        # Slot 0 of every stacked hidden layer is the actor's, slot 1 the critic's (ActorCritic); still views.
        self.actor_layers = [(w[0], b[0]) for w, b in hidden]
        self.critic_layers = [(w[1], b[1]) for w, b in hidden]
        self.policy_weight, self.policy_bias = view(policy.policy_weight), view(policy.policy_bias)
        self.value_weight, self.value_bias = view(policy.value_weight), view(policy.value_bias)
        self.log_std = None if policy.log_std is None else view(policy.log_std)
        self.obs_rms = policy.obs_rms
        self.distribution = policy.distribution
        self.activation = NUMPY_ACTIVATIONS[policy.activation_name]
        self.rng = np.random.default_rng(seed)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """The policy's input for raw env observations: float32, normalized when the policy normalizes."""
        obs = obs.astype(np.float32, copy=False)
        return obs if self.obs_rms is None else self.obs_rms.normalize(obs)

    def _features(self, obs: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """The last hidden layer's output of the actor's or the critic's MLP (actor_layers or critic_layers)."""
        h = obs
        for weight, bias in layers:
            h = h @ weight
            h += bias
            self.activation(h)
        return h

    def _head(self, obs: np.ndarray) -> np.ndarray:
        return self._features(obs, self.actor_layers) @ self.policy_weight + self.policy_bias

    def greedy(self, raw_obs: np.ndarray) -> np.ndarray:
        """The deterministic policy used for evaluation, on raw env observations; actions as env.step takes them."""
        mode = self.distribution.mode(self._head(self.normalize(raw_obs)))
        return self.distribution.to_env(mode)

    def values(self, obs: np.ndarray) -> np.ndarray:
        """V(s) of normalized observations (normalize()), of any number of them: one step's, or a whole rollout's."""
        return (self._features(obs, self.critic_layers) @ self.value_weight + self.value_bias)[:, 0]

    def act(self, obs: np.ndarray) -> PolicyStep:
        """Sample a ~ pi(.|s) for a batch of normalized observations (normalize()), with log pi(a|s); values None.

        Why no V(s) here: the weights do not change within a rollout, so V of every step's observation can as well
        be computed in one batched pass once the rollout is complete (RolloutBuffer.fill_values, train.py): the
        same function of the same inputs, up to float rounding. Acting then runs half the matmuls (HalfCheetah's
        256-256 networks: 13.7 -> 8.3 us a step, one env), and the critic's pass over 512 stored observations
        costs 0.8 us a row."""
        actions, log_probs = self.distribution.sample(self._head(obs), self.log_std, self.rng)
        return PolicyStep(actions, log_probs, None)
