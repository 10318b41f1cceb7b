"""Settings our PPO cannot run on a given env, refused in one line before any job or file (no torch import here:
the workflow's checks call it for every job)."""

from __future__ import annotations

from collections.abc import Collection

from ppo.config import ConfigError, Hyperparameters
from ppo.envs import EnvInfo

MLP_ONLY = ("net_arch", "activation", "ortho_init")  # settings of the MLP; the CNN has its own, fixed


def check_settings(hp: Hyperparameters, info: EnvInfo, preset: str | None = None, overrides: Collection[str] = ()) -> None:
    """ConfigError for a device the run cannot use, or an MLP setting on an image env (refused, not ignored).
    `preset`: the agent whose preset hp comes from, `overrides` the settings set on top of it: an MLP setting the
    preset gave is refused as the preset's, with what to do, not as if the user had written it."""
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
            setting = f"{name}={getattr(hp, name)!r}"
            if preset is not None and name not in overrides:
                raise ConfigError(
                    f"{setting} comes from {preset}'s preset, for MLP policies; {info.env_id} uses the Nature CNN and "
                    f"{preset} has no settings for image envs: use an agent that has them ({', '.join(image_agents())})"
                )
            raise ConfigError(f"{setting} applies to MLP policies; {info.env_id} uses the Nature CNN")


def image_agents() -> list[str]:
    """Our PPO agents whose presets have image-env settings (an `atari` entry), in the registry's order."""
    from ppo.agents import AGENTS  # here: the registry imports this module's path, not the module

    return [a.name for a in AGENTS.values() if a.env_settings_check == f"{__name__}:check_settings" and "atari" in a.presets]
