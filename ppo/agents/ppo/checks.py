"""Settings our PPO cannot run on a given env, refused in one line before any job or file (no torch import here:
the workflow's checks call it for every job)."""

from __future__ import annotations

from ppo.config import ConfigError, Hyperparameters
from ppo.envs import EnvInfo

MLP_ONLY = ("net_arch", "activation", "ortho_init")  # settings of the MLP; the CNN has its own, fixed


def check_settings(hp: Hyperparameters, info: EnvInfo) -> None:
    """ConfigError for a device the run cannot use, or an MLP setting on an image env (refused, not ignored)."""
    if hp.device != "cpu":
        if not info.pixels:
            raise ConfigError(f"device={hp.device!r} applies to image (CNN) policies; vector policies act in NumPy: use 'cpu'")
        import torch

        try:
            torch.empty(0, device=hp.device)
        except (RuntimeError, AssertionError) as err:
            raise ConfigError(f"device={hp.device!r} is not usable here ({str(err).splitlines()[0]}); use 'cpu'") from None
    if not info.pixels:
        return
    if hp.normalize_observation:
        raise ConfigError(f"normalize_observation=True on {info.env_id}: images are scaled to [0, 1], not normalized")
    defaults = Hyperparameters()
    for name in MLP_ONLY:
        if getattr(hp, name) != getattr(defaults, name):
            raise ConfigError(f"{name}={getattr(hp, name)!r} applies to MLP policies; {info.env_id} uses the Nature CNN")
