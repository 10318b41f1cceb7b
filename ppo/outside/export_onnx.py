"""Writing ONNX policies that meet onnx_policy.py's contract, from a Stable-Baselines3 PPO model or one of our runs.

One graph holds everything between the env and the action: the observation statistics (SB3's VecNormalize, or
the running statistics our policy saved in model.pt), the clip, the actor's network and its head. Its input is
the observation batch as the env returns it, its output the logits (discrete: greedy play takes the argmax,
stochastic play on pixels samples them) or the Gaussian's mean (continuous: the deterministic action, which
the evaluator clips to the bounds). So the graph plays as the model did, with no env wrapper to copy.

Normalization runs in float64 inside the graph, then casts to float32, as both SB3's VecNormalize (NumPy
float64 statistics) and our RunningMeanStd compute it: the network then sees bitwise the same input as in
Python, and only the network's float32 arithmetic may differ in its last bits.

Every file is written under a temporary name, checked (ONNX's checker, the contract against the env, and the
graph's answers against the model's own on the env's reset observations), and only then renamed to `out`.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ppo.envs import EVAL_SEED_BASE, EnvInfo, make_env
from ppo.outside.onnx_policy import load_onnx_policy
from ppo.run.atomic import atomic_path

INPUT_NAME = "obs"
# A graph agrees with the model it came from when every output is this close (float32 rounding in another order).
RTOL, ATOL = 1e-4, 1e-5


class Normalize(nn.Module):
    """clip((obs - mean) / sqrt(var + epsilon), -clip, clip): in float64, then float32 (see the module's note)."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, epsilon: float, clip: float):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float64)))
        self.register_buffer("std", torch.sqrt(torch.as_tensor(np.asarray(var, np.float64)) + epsilon))
        self.clip = float(clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        normalized = ((obs.double() - self.mean) / self.std).float()
        return normalized.clamp(-self.clip, self.clip)


# -- Stable-Baselines3 ----------------------------------------------------------------------------------------


class SB3Actor(nn.Module):
    """SB3's deterministic actor path (ActorCriticPolicy.get_distribution up to the distribution's parameters),
    after VecNormalize's observation statistics: logits, or the Gaussian's mean."""

    def __init__(self, policy, normalize: Normalize | None):
        super().__init__()
        self.policy, self.normalize = policy, normalize

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        from stable_baselines3.common.policies import BaseModel

        if self.normalize is not None:
            obs = self.normalize(obs)
        # BaseModel's extract_features: SB3's own preprocessing (float, images scaled to [0, 1]) and the actor's
        # features extractor (the shared one, or the actor's own when not shared).
        features = BaseModel.extract_features(self.policy, obs, self.policy.pi_features_extractor)
        return self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))


def load_vecnormalize(path: str | Path | None) -> Any:
    """VecNormalize's pickle (VecNormalize.save, rl-zoo's vecnormalize.pkl, sb3-ppo's vec_normalize.pkl), or None
    for none or a pickled None. Unpickling runs code from the file, as VecNormalize.load does: only for files
    you trust."""
    if path is None:
        return None
    from stable_baselines3.common.vec_env import VecNormalize

    path = Path(path)
    try:
        with open(path, "rb") as f:
            normalizer = pickle.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing") from None
    except Exception as err:
        raise ValueError(f"{path} is not a VecNormalize pickle: {type(err).__name__}: {err}") from None
    if normalizer is not None and not isinstance(normalizer, VecNormalize):
        raise ValueError(f"{path} holds a {type(normalizer).__name__}; expected a pickled VecNormalize (or None)")
    return normalizer


def sb3_actor(model_path: str | Path, info: EnvInfo, vecnormalize: str | Path | None = None) -> SB3Actor:
    """The SB3 PPO model at model_path (and its VecNormalize statistics) as one torch module, checked to fit the env."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution

    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path} is missing")
    try:
        model = PPO.load(model_path, device="cpu")
    except Exception as err:
        raise ValueError(f"{model_path} is not a Stable-Baselines3 PPO model: {type(err).__name__}: {err}") from None
    policy = model.policy.eval()
    obs_space, act_space = model.observation_space, model.action_space
    found = f"observations {obs_space.shape}, actions {_space_text(act_space)}"
    wanted = f"observations {info.obs_shape}, actions {info.action_text}"
    if tuple(obs_space.shape) != info.obs_shape or _space_text(act_space) != _space_text_of(info):
        raise ValueError(f"{model_path} was trained for {found}; {info.env_id} has {wanted}")
    if not isinstance(policy.action_dist, CategoricalDistribution | DiagGaussianDistribution):
        # gSDE's distribution also has the mean as its mode, unless it squashes it through tanh.
        if policy.squash_output or type(policy.action_dist).__name__ != "StateDependentNoiseDistribution":
            raise ValueError(
                f"{model_path} acts through {type(policy.action_dist).__name__}"
                f"{' with squash_output' if policy.squash_output else ''}; exported: Categorical, DiagGaussian or "
                "unsquashed gSDE policies"
            )

    normalizer = load_vecnormalize(vecnormalize)
    normalize = None
    if normalizer is not None and normalizer.norm_obs:
        rms = normalizer.obs_rms
        if isinstance(rms, dict) or tuple(np.shape(rms.mean)) != info.obs_shape:
            shape = "a dict of statistics" if isinstance(rms, dict) else f"statistics of shape {np.shape(rms.mean)}"
            raise ValueError(f"{vecnormalize} holds {shape}; {info.env_id} needs statistics of shape {info.obs_shape}")
        normalize = Normalize(rms.mean, rms.var, normalizer.epsilon, normalizer.clip_obs)
    return SB3Actor(policy, normalize).eval()


def _space_text(space) -> str:
    if hasattr(space, "n"):
        return f"{int(space.n)} discrete"
    return f"{space.shape[0] if len(space.shape) == 1 else space.shape}-dim continuous"


def _space_text_of(info: EnvInfo) -> str:
    return f"{info.n_actions} discrete" if not info.continuous else f"{info.action_dim}-dim continuous"


def export_sb3(model_path: str | Path, info: EnvInfo, out: str | Path, vecnormalize: str | Path | None = None) -> dict:
    """Write the SB3 PPO model (with VecNormalize's statistics, optional) as one ONNX graph to `out`; returns what
    was written (see write_onnx)."""
    actor = sb3_actor(model_path, info, vecnormalize)
    dtype = actor.policy.observation_space.dtype
    source = f"stable-baselines3 PPO {Path(model_path).name}" + (f" + {Path(vecnormalize).name}" if vecnormalize else "")
    return write_onnx(actor, info, out, source, obs_dtype=dtype, normalized=actor.normalize is not None)


# -- our runs -------------------------------------------------------------------------------------------------


class MlpActor(nn.Module):
    """The actor half of our ActorCritic (slot 0 of its stacked hidden layers, then the policy head), after its
    saved observation statistics: what NumpyActorCritic.greedy computes before the mode."""

    def __init__(self, policy):
        super().__init__()
        from ppo.agents.ppo.normalization import CLIP, EPSILON
        from ppo.agents.ppo.policy import ACTIVATION_FUNCTIONS

        rms = policy.obs_rms
        self.normalize = None if rms is None else Normalize(rms.mean, rms.var, EPSILON, CLIP)
        self.weights = nn.ParameterList(nn.Parameter(w.detach()[0].clone()) for w, _ in policy.hidden_layers)
        self.biases = nn.ParameterList(nn.Parameter(b.detach()[0].clone()) for _, b in policy.hidden_layers)
        self.head_weight = nn.Parameter(policy.policy_weight.detach().clone())
        self.head_bias = nn.Parameter(policy.policy_bias.detach().clone())
        self.activation = ACTIVATION_FUNCTIONS[policy.activation_name]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = obs.float() if self.normalize is None else self.normalize(obs)
        for weight, bias in zip(self.weights, self.biases):
            h = self.activation(h @ weight + bias)
        return h @ self.head_weight + self.head_bias


class CnnActor(nn.Module):
    """The actor of our CnnActorCritic: uint8 frames scaled to [0, 1], the Nature CNN trunk, the policy head."""

    def __init__(self, policy):
        super().__init__()
        self.trunk, self.head = policy.trunk, policy.policy_head

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(obs.float() / 255.0))


def run_actor(run_dir: str | Path, info: EnvInfo) -> nn.Module:
    """The actor of our run in run_dir (model.pt, through networks.load_policy, which checks it fits the env)."""
    from ppo.agents.ppo.cnn import CnnActorCritic
    from ppo.agents.ppo.networks import load_policy

    policy = load_policy(run_dir, info).to("cpu")
    return (CnnActor(policy) if isinstance(policy, CnnActorCritic) else MlpActor(policy)).eval()


def export_run(run_dir: str | Path, info: EnvInfo, out: str | Path) -> dict:
    """Write the actor of one of our ppo runs (run_dir/model.pt, observation statistics inside) as one ONNX graph."""
    actor = run_actor(run_dir, info)
    # Our actors take float32 observations (NumpyActorCritic casts to it) and uint8 frames.
    dtype = np.uint8 if info.pixels else np.float32
    normalized = isinstance(actor, MlpActor) and actor.normalize is not None
    return write_onnx(actor, info, out, f"ppo run {Path(run_dir)}", obs_dtype=dtype, normalized=normalized)


# -- writing --------------------------------------------------------------------------------------------------


def reset_observations(info: EnvInfo, n: int = 8) -> np.ndarray:
    """The first n evaluation episodes' reset observations, (n, *obs_shape)."""
    env = make_env(info.env_id)
    try:
        return np.stack([env.reset(seed=EVAL_SEED_BASE + k)[0] for k in range(n)])
    finally:
        env.close()


def write_onnx(actor: nn.Module, info: EnvInfo, out: str | Path, source: str, *, obs_dtype, normalized: bool) -> dict:
    """Export `actor` (observations -> logits or mean actions) to `out`: a dynamic batch axis, metadata saying
    where it came from, checked against the env and against the actor's own answers before it is renamed."""
    import onnx

    output_name = "action" if info.continuous else "logits"
    obs = reset_observations(info).astype(obs_dtype)
    with torch.no_grad():
        expected = actor(torch.as_tensor(obs)).numpy()
    out = Path(out)
    with atomic_path(out) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter (dynamo=False) warns that it is legacy; the dynamo one needs onnxscript.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                actor,
                (torch.as_tensor(obs[:1]),),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=[output_name],
                dynamic_axes={INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}},
                dynamo=False,
            )
        graph = onnx.load(str(tmp))
        graph.producer_name, graph.doc_string = "ppo-bench export-onnx", f"{source} for {info.env_id}"
        metadata = {"source": source, "env": info.env_id, "output": output_name, "normalization_inside": str(normalized)}
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(graph)
        onnx.save(graph, str(tmp))
        got = load_onnx_policy(tmp, info).outputs(obs)
        if not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
            worst = float(np.abs(got - expected).max())
            raise ValueError(f"the graph exported from {source} answers up to {worst:.3g} away from the model; not written")
    return {"out": str(out), "env": info.env_id, "source": source, "output": output_name, "normalization_inside": normalized}
