"""Which network a PPO run uses, and how a finished run's network is rebuilt and acts.

Vector observations: the MLP ActorCritic (policy.py), acting in NumPy. Images: the CNN (cnn.py), acting in
torch. Evaluation scores the greedy policy on vector envs and the stochastic one on pixels (EnvInfo's
evaluation_policy says why; run.json records which).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ppo.agents.ppo.checks import check_settings
from ppo.agents.ppo.cnn import CnnActorCritic, TorchActor
from ppo.agents.ppo.distributions import make_distribution
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic, NumpyActorCritic, action_space_record
from ppo.config import Hyperparameters
from ppo.envs import EnvInfo, action_space_text
from ppo.run.directory import load_model
from ppo.run.evaluate import PolicyFn

Policy = ActorCritic | CnnActorCritic
Actor = NumpyActorCritic | TorchActor


def build_policy(info: EnvInfo, hp: Hyperparameters) -> Policy:
    check_settings(hp, info)
    distribution = make_distribution(info)
    if info.pixels:
        return CnnActorCritic(info.obs_shape, distribution, log_std_init=hp.log_std_init, device=hp.device)
    return ActorCritic(
        info.obs_dim,
        distribution,
        hp.net_arch,
        hp.activation,
        ortho_init=hp.ortho_init,
        log_std_init=hp.log_std_init,
        normalize_observation=hp.normalize_observation,
    )


def build_optimizer(policy: Policy, hp: Hyperparameters) -> FlatAdam:
    """Adam over the policy's flat parameters (optim.py), as a run starts."""
    # Detail: Adam with eps=adam_eps, 1e-5 by default (the PPO reference implementation's value, not PyTorch's 1e-8).
    return FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=hp.learning_rate, eps=hp.adam_eps)


def make_actor(policy: Policy, seed: int) -> Actor:
    """What acts during collection: the network's own weights, a generator seeded for its samples."""
    return TorchActor(policy, seed) if isinstance(policy, CnnActorCritic) else NumpyActorCritic(policy, seed)


def evaluation_actor(policy: Policy, seed: int) -> Actor:
    """The actor evaluations use: a generator of its own (seeded from the run's seed), so evaluating never moves
    the training's random streams."""
    return make_actor(policy, int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]))


def evaluation_policy(actor: Actor, info: EnvInfo) -> PolicyFn:
    """The policy evaluations and videos play (info.evaluation_policy), on raw observations."""
    return actor.sampled if info.evaluation_policy == "stochastic" else actor.greedy


def load_policy(run_dir: str | Path, info: EnvInfo) -> Policy:
    """The network saved in run_dir/model.pt, checked to fit the env it is about to act in."""
    saved = load_model(run_dir)
    path = Path(run_dir) / "model.pt"
    pixels = saved.get("trunk") == "nature-cnn"
    saved_shape = tuple(saved["obs_shape"]) if pixels else (saved["obs_dim"],)
    space = {k: (list(v) if isinstance(v, tuple) else v) for k, v in action_space_record(info).items()}
    saved_space = {k: (list(v) if isinstance(v, tuple) else v) for k, v in saved["action_space"].items()}
    if saved_shape != info.obs_shape or saved_space != space:
        trained = f"{_observation_text(saved_shape)}, actions {action_space_text(**saved_space)}"
        raise ValueError(
            f"{path} was trained on {saved['env_id']} ({trained}); "
            f"{info.env_id} needs {_observation_text(info.obs_shape)} and actions {info.action_text}"
        )
    # The network as the run built it: the MLP's saved settings (the CNN has none), the rest from the weights.
    architecture = () if pixels else ("net_arch", "activation", "ortho_init", "normalize_observation")
    policy = build_policy(info, Hyperparameters(**{name: saved[name] for name in architecture}))
    try:
        policy.load_state_dict(saved["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit this version's network: {str(err).splitlines()[1].strip()}") from None
    return policy.eval()


def _observation_text(shape: tuple[int, ...]) -> str:
    return f"obs size {shape[0]}" if len(shape) == 1 else f"observations {'x'.join(map(str, shape))}"


def saved_evaluation_policy(run_dir: str | Path, info: EnvInfo, seed: int = 0) -> PolicyFn:
    """The registry's `actor` of every PPO agent: the evaluation policy of a finished run."""
    return evaluation_policy(evaluation_actor(load_policy(run_dir, info), seed), info)
