"""PPO hyperparameters and `--set key=value` overrides (the presets behind agent names: ppo/agents/presets.py).

Names follow Stable-Baselines3 / rl-baselines3-zoo, so a zoo config can be pasted. Defaults live here
and only here (the workflow schema has none).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml


class ConfigError(ValueError):
    """A setting is invalid; the message is one line naming the value and what is allowed."""


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class Hyperparameters:
    """Every setting of one PPO run. Derived values are properties, never stored."""

    n_envs: int = field(default=8, metadata=_help("parallel environments in the training vector env"))
    n_steps: int = field(default=256, metadata=_help("rollout length per env; one rollout = n_envs * n_steps transitions"))
    batch_size: int = field(default=256, metadata=_help("minibatch size (transitions) for each gradient step"))
    n_epochs: int = field(default=10, metadata=_help("passes over each rollout"))
    learning_rate: float = field(default=3e-4, metadata=_help("Adam step size (initial value under lr_schedule=linear)"))
    lr_schedule: str = field(default="constant", metadata=_help("constant | linear (annealed to 0 at total_timesteps)"))
    gamma: float = field(default=0.99, metadata=_help("discount factor, in (0, 1]"))
    gae_lambda: float = field(default=0.95, metadata=_help("GAE lambda, in [0, 1]: 0 = one-step TD, 1 = Monte Carlo"))
    clip_range: float = field(default=0.2, metadata=_help("PPO ratio clip epsilon, > 0"))
    clip_range_schedule: str = field(
        default="constant", metadata=_help("constant | linear (clip_range annealed to 0 at total_timesteps, zoo's lin_)")
    )
    clip_range_vf: float | None = field(default=None, metadata=_help("value clip around old values; null = no value clipping"))
    ent_coef: float = field(default=0.0, metadata=_help("entropy bonus coefficient"))
    vf_coef: float = field(default=0.5, metadata=_help("value loss coefficient"))
    max_grad_norm: float | None = field(default=0.5, metadata=_help("global gradient norm clip; null = no clipping"))
    normalize_advantage: bool = field(default=True, metadata=_help("normalize advantages per minibatch"))
    net_arch: tuple[int, ...] = field(default=(64, 64), metadata=_help("hidden layer sizes of actor and critic"))
    activation: str = field(default="tanh", metadata=_help("tanh | relu | identity (no nonlinearity: a linear network)"))
    ortho_init: bool = field(default=True, metadata=_help("orthogonal init (false = PyTorch's default init)"))
    log_std_init: float = field(default=0.0, metadata=_help("initial log standard deviation of Gaussian actions"))
    normalize_observation: bool = field(
        default=False, metadata=_help("running mean/std observation normalization, clipped to +-10 (saved with the model)")
    )
    normalize_reward: bool = field(
        default=False, metadata=_help("rewards divided by the running std of the discounted return, clipped to +-10")
    )
    total_timesteps: int = field(
        default=100_000, metadata=_help("env steps to train for (all envs together; Atari: agent steps of 4 frames)")
    )
    compile: str = field(
        default="auto",
        metadata=_help("auto | on | off: torch.compile the update's minibatch step (auto: where the run is long enough)"),
    )
    device: str = field(
        default="cpu", metadata=_help("torch device of image (CNN) policies: cpu | cuda | cuda:N | mps (vector policies: cpu)")
    )
    # Ablation switches: implementation details, each on (correct) by default; off reproduces a known mistake
    # (the article's among them: ppo/agents/article.py). Each lives in one `if` where the detail is applied.
    adam_eps: float = field(
        default=1e-5, metadata=_help("Adam's epsilon (PPO2 / SB3 / CleanRL: 1e-5; PyTorch's default 1e-8)")
    )
    shuffle_minibatches: bool = field(default=True, metadata=_help("shuffle the rollout every epoch (false = time order)"))
    bootstrap_truncation: bool = field(
        default=True, metadata=_help("bootstrap from V(final obs) at time limits (false = truncation treated as termination)")
    )
    bootstrap_rollout_end: bool = field(
        default=True, metadata=_help("bootstrap from V(next obs) at the rollout's end (false = last step's advantage is 0)")
    )
    gae_episode_boundaries: bool = field(
        default=True, metadata=_help("the GAE sum stops at episode ends (false = it runs on into the next episode)")
    )

    def __post_init__(self) -> None:
        # Coerce YAML lists to tuples so the dataclass stays hashable and comparable.
        object.__setattr__(self, "net_arch", tuple(self.net_arch) if isinstance(self.net_arch, list) else self.net_arch)
        _coerce_yaml11_floats(self)
        # YAML 1.1 reads `compile: on` / `off` as booleans; users mean the words.
        if isinstance(self.compile, bool):
            object.__setattr__(self, "compile", "on" if self.compile else "off")
        _check_types(self)
        _check_ranges(self)

    @property
    def rollout_size(self) -> int:
        """Transitions collected per iteration."""
        return self.n_envs * self.n_steps

    @property
    def n_iterations(self) -> int:
        """Rollout + update cycles; total_timesteps is rounded down to whole rollouts."""
        return self.total_timesteps // self.rollout_size

    @property
    def trained_timesteps(self) -> int:
        """Env steps a run takes: total_timesteps rounded down to whole rollouts."""
        return self.n_iterations * self.rollout_size

    # The schedules, as a function of the share of the run still ahead when an update starts. Our update of
    # iteration i (0-based) runs with remaining = 1 - i / n_iterations: 1 at the first update, 1/n at the last
    # (CleanRL). Stable-Baselines3 counts the rollout just collected as done (1 - 1/n first, 0 last); the
    # sb3-ppo agent shifts its schedules by one rollout to match these (ppo/agents/sb3.py).
    def progress_remaining(self, iteration: int) -> float:
        return 1.0 - iteration / self.n_iterations

    def learning_rate_at(self, remaining: float) -> float:
        # Detail: linear learning-rate annealing from learning_rate to 0 over the run.
        return self.learning_rate * remaining if self.lr_schedule == "linear" else self.learning_rate

    def clip_range_at(self, remaining: float) -> float:
        # rl-zoo's lin_ clip range: epsilon annealed to 0 the same way (constant by default).
        return self.clip_range * remaining if self.clip_range_schedule == "linear" else self.clip_range

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["net_arch"] = list(self.net_arch)
        return out

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}


def _type_name(f: dataclasses.Field) -> str:
    return str(f.type).replace(" | None", " or null")


def _coerce_yaml11_floats(hp: Hyperparameters) -> None:
    """PyYAML reads `3e-4` (no dot) as a string, following YAML 1.1; users mean a float."""
    for f in dataclasses.fields(hp):
        value = getattr(hp, f.name)
        if str(f.type).startswith("float") and isinstance(value, str):
            try:
                object.__setattr__(hp, f.name, float(value))
            except ValueError:
                pass  # left as is: the type check names it


def _check_types(hp: Hyperparameters) -> None:
    for f in dataclasses.fields(hp):
        value = getattr(hp, f.name)
        allows_none = "None" in str(f.type)
        if value is None:
            ok = allows_none
        elif f.name == "net_arch":
            ok = isinstance(value, (list, tuple)) and len(value) > 0
            ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        elif str(f.type).startswith("int"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif str(f.type).startswith("float"):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and not math.isfinite(value):  # YAML reads .inf and .nan; no setting means them
                raise ConfigError(f"{f.name}={value!r} is not finite; allowed: a finite number")
        elif str(f.type).startswith("bool"):
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            allowed = "a non-empty list of positive integers, e.g. [64, 64]" if f.name == "net_arch" else _type_name(f)
            raise ConfigError(f"{f.name}={value!r} has the wrong type; allowed: {allowed}")


def _check_ranges(hp: Hyperparameters) -> None:
    def need(ok: bool, name: str, allowed: str) -> None:
        if not ok:
            raise ConfigError(f"{name}={getattr(hp, name)!r} is out of range; allowed: {allowed}")

    need(hp.n_envs >= 1, "n_envs", ">= 1")
    need(hp.n_steps >= 1, "n_steps", ">= 1")
    need(hp.n_epochs >= 1, "n_epochs", ">= 1")
    need(hp.learning_rate > 0, "learning_rate", "> 0")
    need(hp.lr_schedule in ("constant", "linear"), "lr_schedule", "constant | linear")
    need(0 < hp.gamma <= 1, "gamma", "0 < gamma <= 1")
    need(0 <= hp.gae_lambda <= 1, "gae_lambda", "0 <= gae_lambda <= 1")
    need(hp.clip_range > 0, "clip_range", "> 0")
    need(hp.clip_range_schedule in ("constant", "linear"), "clip_range_schedule", "constant | linear")
    need(hp.clip_range_vf is None or hp.clip_range_vf > 0, "clip_range_vf", "> 0 or null")
    need(hp.ent_coef >= 0, "ent_coef", ">= 0")
    need(hp.vf_coef > 0, "vf_coef", "> 0")
    need(hp.max_grad_norm is None or hp.max_grad_norm > 0, "max_grad_norm", "> 0 or null")
    need(hp.activation in ("tanh", "relu", "identity"), "activation", "tanh | relu | identity")
    need(re.fullmatch(r"cpu|cuda(:\d+)?|mps", hp.device) is not None, "device", "cpu | cuda | cuda:N | mps")
    need(hp.compile in ("auto", "on", "off"), "compile", "auto | on | off")
    need(hp.adam_eps > 0, "adam_eps", "> 0")
    need(1 <= hp.batch_size <= hp.rollout_size, "batch_size", f"1 .. n_envs * n_steps = {hp.rollout_size}")
    need(hp.total_timesteps >= hp.rollout_size, "total_timesteps", f">= one rollout, n_envs * n_steps = {hp.rollout_size}")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["lr=3e-4", "net_arch=[64,64]"]` -> dict; values are read as YAML (never evaluated as code)."""
    names = [f.name for f in dataclasses.fields(Hyperparameters)]
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {pair!r} is not key=value; allowed keys: {', '.join(names)}")
        check_known_keys([key])
        try:
            out[key] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {pair!r}: the value is not valid YAML ({str(err).splitlines()[0]})") from None
    return out


def check_known_keys(keys: list[str]) -> None:
    names = [f.name for f in dataclasses.fields(Hyperparameters)]
    for key in keys:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"allowed: {', '.join(names)}"
            raise ConfigError(f"unknown hyperparameter {key!r}; {hint}")
