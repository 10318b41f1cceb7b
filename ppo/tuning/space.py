"""The search space: every tunable setting, its range and its scale, in one table, and one function that
samples a trial's settings from it (rl-baselines3-zoo's `sample_ppo_params`).

The default is the zoo's PPO space (rl_zoo3/hyperparams_opt.py at 0a9df50): batch size and rollout length from
powers of two, 1 - gamma and 1 - lambda on a log scale (what matters is the horizon 1 / (1 - gamma), not gamma),
learning rate and entropy coefficient on a log scale, clip range, epochs, gradient-norm clip, network size and
activation. Two of the zoo's older keys come back because PPO users tune them: the value coefficient, and, for
continuous actions only, the initial log std and whether observations and rewards are normalized.

The space follows the policy: the Gaussian head's keys only where actions are continuous, and on image envs
(the Nature CNN, whose layers are fixed) none of the MLP's keys nor observation normalization, which the agent
refuses there: sampled anyway, most trials of an Atari study would be refused and counted as pruned.

A config narrows a range (`{low, high}` or `{choices}`), adds a key (a full dimension), or fixes a key to one
value (`fixed:`); anything else is refused before a trial starts, naming the key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ppo.agents.ppo.checks import MLP_ONLY
from ppo.config import ConfigError, Hyperparameters, check_known_keys

if TYPE_CHECKING:
    import optuna

# Network sizes by name (the zoo's): a categorical of names keeps Optuna's choices hashable and readable.
NET_ARCHS = {"tiny": (64,), "small": (64, 64), "medium": (256, 256)}
# A pseudo-setting of the space: both of Hyperparameters' normalization switches at once (the zoo's `normalize`).
NORMALIZE = "normalize"
KINDS = ("float", "int", "categorical")
# What the CNN of an image env refuses (ppo/agents/ppo/checks.py): the MLP's own settings, observation normalization.
VECTOR_ONLY = (*MLP_ONLY, NORMALIZE, "normalize_observation")


@dataclass(frozen=True)
class Dimension:
    """One tuned setting. `complement`: sample 1 - value on the given scale (gamma, gae_lambda)."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    complement: bool = False
    choices: tuple[Any, ...] | None = None
    continuous_only: bool = False  # only for envs with continuous actions (a Gaussian policy)

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        low, high = (1 - self.high, 1 - self.low) if self.complement else (self.low, self.high)
        scale = ", 1 - x on a log scale" if self.complement and self.log else (", log scale" if self.log else "")
        return f"[{low:g}, {high:g}]{scale}"


def _categorical(*choices: Any, continuous_only: bool = False) -> Dimension:
    return Dimension("categorical", choices=tuple(choices), continuous_only=continuous_only)


# The default space, in the zoo's names and ranges (SB3 names as everywhere in ppo-bench).
DEFAULT_SPACE: dict[str, Dimension] = {
    "n_steps": _categorical(32, 64, 128, 256, 512, 1024, 2048),
    "batch_size": _categorical(32, 64, 128, 256, 512),  # at most one rollout: see sample_settings
    "n_epochs": _categorical(1, 5, 10, 20),
    # 1 - gamma in [1e-4, 0.1]: the zoo's range ends at 0.03 (gamma 0.97), which leaves out its own Pendulum setting
    # (0.9, in its older space's choices); the horizon 1 / (1 - gamma) spans 10 to 10,000 steps.
    "gamma": Dimension("float", 0.0001, 0.1, log=True, complement=True),
    "gae_lambda": Dimension("float", 0.0001, 0.1, log=True, complement=True),  # 1 - lambda in [1e-4, 0.1]
    "learning_rate": Dimension("float", 1e-5, 0.002, log=True),
    "ent_coef": Dimension("float", 1e-8, 0.1, log=True),
    "clip_range": _categorical(0.1, 0.2, 0.3, 0.4),
    "max_grad_norm": Dimension("float", 0.3, 2.0),
    "vf_coef": Dimension("float", 0.1, 1.0),  # the zoo's older space ([0, 1]); 0 would train no critic
    "net_arch": _categorical(*NET_ARCHS),
    "activation": _categorical("tanh", "relu"),
    "log_std_init": Dimension("float", -4.0, 1.0, continuous_only=True),
    NORMALIZE: _categorical(True, False, continuous_only=True),
}
DIMENSION_KEYS = ("kind", "low", "high", "log", "complement", "choices")


@dataclass(frozen=True)
class SearchSpace:
    dimensions: dict[str, Dimension]
    fixed: dict[str, Any]
    configured: tuple[str, ...] = ()  # the keys a config wrote: refused, not dropped, where the policy has no use

    def for_env(self, continuous: bool, pixels: bool = False) -> dict[str, Dimension]:
        """The dimensions that apply to an env's policy: the continuous-only ones only where actions are
        continuous, the MLP's (and normalization) only on vector observations."""
        return {k: d for k, d in self.dimensions.items() if not_applicable(k, d, continuous, pixels) is None}


def not_applicable(key: str, d: Dimension, continuous: bool, pixels: bool) -> str | None:
    """Why a dimension does not apply to an env's policy (None: it does)."""
    if pixels and key in VECTOR_ONLY:
        return "applies to vector observations (an MLP policy); an image env's policy is the Nature CNN"
    if not continuous and d.continuous_only:
        return "applies to continuous actions (a Gaussian policy); this env's actions are discrete"
    return None


def build_space(overrides: dict[str, Any] | None = None, fixed: dict[str, Any] | None = None, where: str = "") -> SearchSpace:
    """The default space with a config's changes: each entry of `overrides` narrows a default dimension
    (`{low, high}`, `{choices}`) or adds a new one (with its `kind`); each key of `fixed` leaves the space
    and takes that value. Raises ConfigError (one line, naming the key) on an unknown key or an empty range."""
    dimensions = dict(DEFAULT_SPACE)
    prefix = f"{where}." if where else ""
    for key, spec in (overrides or {}).items():
        where = f"{prefix}space"
        _check_key(key, f"{where}.{key}")
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{where}.{key}={spec!r} is not a mapping; allowed: {{low, high}}, {{choices: [...]}}, or a kind"
            )
        unknown = sorted(set(spec) - set(DIMENSION_KEYS))
        if unknown:
            raise ConfigError(f"{where}.{key}: unknown key {unknown[0]!r}; allowed: {', '.join(DIMENSION_KEYS)}")
        base = dimensions.get(key)
        if base is None and "kind" not in spec:
            raise ConfigError(f"{where}.{key} is not in the default space; allowed: add it with a kind ({', '.join(KINDS)})")
        if base is not None and spec.get("kind", base.kind) != base.kind:
            base = None  # a new kind replaces the default dimension entirely
        if "choices" in spec:
            spec = {**spec, "choices": tuple(spec["choices"]) if isinstance(spec["choices"], list) else spec["choices"]}
        if base is not None:
            merged = dataclasses.replace(base, **spec)
        else:  # a new dimension, or a new kind for a default key: which policies it applies to stays the default's
            merged = Dimension(**spec, continuous_only=key in DEFAULT_SPACE and DEFAULT_SPACE[key].continuous_only)
        dimensions[key] = _checked(merged, f"{where}.{key}")
    fixed = dict(fixed or {})
    for key in fixed:
        _check_key(key, f"{prefix}fixed.{key}")
        dimensions.pop(key, None)
    return SearchSpace(dimensions, fixed, tuple(k for k in (overrides or {}) if k not in fixed))


def _check_key(key: str, where: str) -> None:
    if key in (NORMALIZE,):
        return
    try:
        check_known_keys([key])
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _checked(d: Dimension, where: str) -> Dimension:
    if d.kind not in KINDS:
        raise ConfigError(f"{where}.kind={d.kind!r} is unknown; allowed: {', '.join(KINDS)}")
    if d.kind == "categorical":
        if not isinstance(d.choices, tuple) or not d.choices:
            raise ConfigError(f"{where}.choices={d.choices!r} is an empty range; allowed: a non-empty list")
        return d
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (d.low, d.high)):
        raise ConfigError(f"{where}: low={d.low!r}, high={d.high!r}; allowed: two finite numbers")
    if not d.low < d.high:
        raise ConfigError(f"{where}: low={d.low!r} >= high={d.high!r} is an empty range; allowed: low < high")
    if d.log and d.low <= 0:
        raise ConfigError(f"{where}: low={d.low!r} on a log scale; allowed: low > 0")
    return d


def fit_constraints(settings: dict[str, Any], base: dict[str, Any]) -> dict[str, int]:
    """Resolve, in place, what would make a combination of `settings` over `base` (a preset's settings)
    invalid: a rollout is at most the budget, a minibatch at most one rollout (the zoo's "TODO: account when
    using multiple envs"). Returns what was capped, key -> new value."""
    value = {key: settings.get(key, base.get(key, getattr(Hyperparameters, key))) for key in _CONSTRAINED}
    capped = {}
    if value["n_envs"] * value["n_steps"] > value["total_timesteps"]:
        capped["n_steps"] = value["n_steps"] = max(1, value["total_timesteps"] // value["n_envs"])
    if value["batch_size"] > value["n_envs"] * value["n_steps"]:
        capped["batch_size"] = value["n_envs"] * value["n_steps"]
    settings.update(capped)
    return capped


_CONSTRAINED = ("n_envs", "n_steps", "batch_size", "total_timesteps")


def sample_settings(
    trial: optuna.Trial, space: SearchSpace, base: dict[str, Any], continuous: bool, pixels: bool = False
) -> dict[str, Any]:
    """One trial's settings: the overrides on the base preset that a variant would carry.

    Constraints are resolved here (fit_constraints), never left to crash a trial; what was capped is kept as a
    user attribute of the trial.
    """
    settings: dict[str, Any] = {}
    for key, d in space.for_env(continuous, pixels).items():
        settings[key] = _suggest(trial, key, d)
    settings.update(space.fixed)

    if "net_arch" in settings and isinstance(settings["net_arch"], str):
        settings["net_arch"] = list(NET_ARCHS[settings["net_arch"]])
    if NORMALIZE in settings:
        normalize = settings.pop(NORMALIZE)
        settings["normalize_observation"] = settings["normalize_reward"] = bool(normalize)

    for key, value in fit_constraints(settings, base).items():
        trial.set_user_attr(f"{key}_capped_to", value)
    return settings


def _suggest(trial: optuna.Trial, key: str, d: Dimension) -> Any:
    if d.kind == "categorical":
        return trial.suggest_categorical(key, list(d.choices))
    if d.kind == "int":
        return trial.suggest_int(key, int(d.low), int(d.high), log=d.log)
    if d.complement:  # stored in the study under its own name, e.g. one_minus_gamma, as the zoo does
        value = 1.0 - trial.suggest_float(f"one_minus_{key}", d.low, d.high, log=d.log)
        trial.set_user_attr(key, value)
        return value
    return trial.suggest_float(key, d.low, d.high, log=d.log)


def base_point(space: SearchSpace, base: dict[str, Any], continuous: bool, pixels: bool = False) -> dict[str, Any]:
    """The base's settings as a point of the space (Optuna's parameter names), for the study's first trial:
    the search starts from the base, so its best trial is never worse than the base on the tuning seeds. A base
    value outside a float range is moved to the nearer end (an entropy coefficient of 0 to 1e-8); a categorical
    value that is not a choice is left for the sampler."""
    point: dict[str, Any] = {}

    def setting(key: str) -> Any:  # the base's value, else the Hyperparameters default, as fit_constraints reads it
        return base.get(key, getattr(Hyperparameters, key, None))

    for key, d in space.for_env(continuous, pixels).items():
        if key == NORMALIZE:
            value = bool(setting("normalize_observation"))
        elif key == "net_arch":
            value = next((name for name, sizes in NET_ARCHS.items() if sizes == tuple(setting("net_arch"))), None)
        else:
            value = setting(key)
        if value is None:
            continue
        if d.kind == "categorical":
            if value in d.choices:
                point[key] = value
            continue
        if d.complement:
            point[f"one_minus_{key}"] = min(max(1.0 - value, d.low), d.high)
        else:
            point[key] = min(max(value, d.low), d.high)
    return point


def describe(space: SearchSpace, continuous: bool, pixels: bool = False) -> list[tuple[str, str]]:
    """(setting, range) rows for docs and the report."""
    rows = [(key, d.describe()) for key, d in space.for_env(continuous, pixels).items()]
    return rows + [(key, f"fixed at {value!r}") for key, value in space.fixed.items()]
