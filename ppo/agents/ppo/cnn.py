"""Actor-critic for image observations: the Nature CNN trunk (Mnih et al. 2015), shared by a policy head and a
value head, as in the PPO paper's Atari agent, rl-baselines3-zoo's CnnPolicy and CleanRL's ppo_atari.py.

The same interface as the MLP ActorCritic (policy.py) towards the update (evaluate_actions, the flat
parameters FlatAdam steps, saved()) and towards the rollout (TorchActor here has NumpyActorCritic's act,
values, normalize and greedy): the update, the buffer and the training loop do not know which they hold.
Acting runs in torch: a convolution in NumPy would cost far more than torch's per-op overhead.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ppo.agents.ppo.distributions import Categorical, DiagGaussian
from ppo.agents.ppo.optim import flatten_parameters
from ppo.agents.ppo.policy import ActionEvaluation, PolicyStep, action_space_record
from ppo.envs import EnvInfo

FEATURES = 512  # the Nature CNN's last (fully connected) layer


def _layer(layer: nn.Conv2d | nn.Linear, gain: float) -> nn.Conv2d | nn.Linear:
    """Detail: orthogonal init with the given gain, biases 0 (sqrt 2 in the trunk, 0.01 on the policy head, 1 on
    the value head)."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class CnnActorCritic(nn.Module):
    """Three convolutions (32 8x8 stride 4, 64 4x4 stride 2, 64 3x3 stride 1) and a 512-unit layer, all ReLU,
    then a policy head and a value head on the same features. Observations are uint8 frame stacks
    (C, H, W); the network scales them to [0, 1] itself, so the buffer keeps bytes."""

    obs_dtype = torch.uint8

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        action: Categorical | DiagGaussian,
        *,
        log_std_init: float = 0.0,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        self.distribution, self.obs_shape = action, tuple(obs_shape)
        gain = np.sqrt(2)
        convolutions = nn.Sequential(
            _layer(nn.Conv2d(obs_shape[0], 32, 8, stride=4), gain),
            nn.ReLU(),
            _layer(nn.Conv2d(32, 64, 4, stride=2), gain),
            nn.ReLU(),
            _layer(nn.Conv2d(64, 64, 3, stride=1), gain),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():  # the flattened size for this frame size (3136 for 84x84)
            n_flat = convolutions(torch.zeros(1, *obs_shape)).shape[1]
        self.trunk = nn.Sequential(convolutions, _layer(nn.Linear(n_flat, FEATURES), gain), nn.ReLU())
        self.policy_head = _layer(nn.Linear(FEATURES, action.head_size), 0.01)
        self.value_head = _layer(nn.Linear(FEATURES, 1), 1.0)
        # Detail: a state-independent, learnable log standard deviation per action dimension (Gaussian only).
        self.log_std = nn.Parameter(torch.full((action.head_size,), float(log_std_init))) if self.continuous else None
        self.to(device)  # before flattening: the flat tensors live on the device (optim.py)
        self.flat_parameters, self.flat_gradient = flatten_parameters(self)
        self.obs_rms = None  # pixels are scaled, never normalized by running statistics

    @property
    def continuous(self) -> bool:
        return isinstance(self.distribution, DiagGaussian)

    @property
    def device(self) -> torch.device:
        return self.flat_parameters.device

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the distribution's parameters (B, head), values (B,)) for uint8 frames (B, C, H, W)."""
        # Detail: pixels scaled to [0, 1] inside the network. Speed: convolutions run ~1.6x faster on one core on
        # channels-last (NHWC) input; the layout changes no number beyond float rounding (docs/speed.md).
        pixels = obs.contiguous(memory_format=torch.channels_last).float() / 255.0
        features = self.trunk(pixels)
        return self.policy_head(features), self.value_head(features).squeeze(-1)

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor) -> ActionEvaluation:
        head, values = self(obs)
        log_probs, entropy = self.distribution.log_prob_and_entropy(head, self.log_std, actions)
        return ActionEvaluation(log_probs, entropy, values)

    def saved(self, info: EnvInfo) -> dict:
        """model.pt's content (networks.load_policy rebuilds it); weights saved on the CPU."""
        return {
            "env_id": info.env_id,
            "trunk": "nature-cnn",
            "obs_shape": list(self.obs_shape),
            "action_space": action_space_record(info),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
        }


class TorchActor:
    """Acting with a CnnActorCritic: sampling during collection, the mode or a sample in evaluation, batched
    over the envs' frames. Sampling draws from its own seeded NumPy generator (the distribution's sample),
    so collection is reproducible."""

    def __init__(self, policy: CnnActorCritic, seed: int = 0):
        self.policy, self.distribution = policy, policy.distribution
        self.rng = np.random.default_rng(seed)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Frames are stored and fed as they are (uint8)."""
        return obs

    @torch.no_grad()
    def _forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        head, values = self.policy(torch.as_tensor(obs, device=self.policy.device))
        return head.cpu().numpy(), values.cpu().numpy()

    def _log_std(self) -> np.ndarray | None:
        return None if self.policy.log_std is None else self.policy.log_std.detach().cpu().numpy()

    def act(self, obs: np.ndarray) -> PolicyStep:
        head, values = self._forward(obs)
        actions, log_probs = self.distribution.sample(head, self._log_std(), self.rng)
        return PolicyStep(actions, log_probs, values)

    def values(self, obs: np.ndarray) -> np.ndarray:
        return self._forward(obs)[1]

    def greedy(self, raw_obs: np.ndarray) -> np.ndarray:
        return self.distribution.to_env(self.distribution.mode(self._forward(raw_obs)[0]))

    def sampled(self, raw_obs: np.ndarray) -> np.ndarray:
        """a ~ pi(.|s), as the env takes it: the evaluation policy for pixels (networks.evaluation_policy)."""
        return self.distribution.to_env(self.act(raw_obs).actions)
