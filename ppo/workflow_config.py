"""The workflow's side of the config: checks the schema cannot express, and the arguments of each job.

The Snakefile validates the structure with snakemake.utils.validate (workflow/schemas), then calls
check_config() here, so a bad env id or hyperparameter stops the run before any job starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ppo.agents import AGENTS, get_agent, resolve
from ppo.comparisons import check_comparisons
from ppo.config import ConfigError, check_known_keys
from ppo.envs import EnvError, env_info, resolve_env_id
from ppo.outside.agents import ExternalAgent, external_agent, is_external


def coerce_command_line(config: dict[str, Any]) -> None:
    """`snakemake --config seeds=[0,1]` hands over the list items as strings (Snakemake parses lists with
    YAML's BaseLoader); make integer-looking seeds integers again so the schema sees what users meant."""
    seeds = config.get("seeds")
    if isinstance(seeds, list):
        config["seeds"] = [int(s) if isinstance(s, str) and s.lstrip("-").isdigit() else s for s in seeds]


def schema_error_line(config: dict[str, Any], schema_path: str | Path) -> str | None:
    """The most relevant schema violation as one line, `key.path: message`, or None if valid.
    (Snakemake's validate reports the same error over many lines; this is what users need to read.)"""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    where = error.json_path.removeprefix("$").removeprefix(".") or "config"
    return f"{where}: {error.message}"


# Colours for variants without their own, in order of appearance (seaborn's "dark" and "muted" palettes,
# minus the registry's colours): distinct from the registered agents' and from each other for 16 variants.
VARIANT_COLOURS = (
    "#8172b3", "#937860", "#da8bc3", "#ccb974", "#64b5cd", "#001c7f", "#b1400d", "#12711c",
    "#8c0800", "#591e71", "#592f0d", "#a23582", "#3c3c3c", "#b8850a", "#006374", "#6d904f",
)  # fmt: skip
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
VARIANT_KEYS = ("base", "label", "colour", "hyperparameters")


@dataclass(frozen=True)
class Variant:
    """An agent defined in the config: a registered agent (its base) with its own name, label, colour and
    hyperparameters on top of the base's presets."""

    name: str
    base: str
    label: str
    colour: str
    hyperparameters: dict[str, Any]
    sweep: str | None = None  # the sweep that generated it, and its grid point
    grid_point: dict[str, Any] | None = None
    envs: tuple[str, ...] | None = None  # a sweep's or study's envs; None = wherever the agent list says


_VARIANTS_CACHE: dict[int, tuple[str, dict[str, Variant]]] = {}


def variants(config: dict[str, Any]) -> dict[str, Variant]:
    """Every variant of the config: `agents` entries of the form {name: {base, ...}}, every grid point of every
    sweep, then every tuning study's tuned variant, in config order. Raises ConfigError on a bad name, base or
    key. Built once per config content (the workflow asks for it per job and per env)."""
    fingerprint = json.dumps(config, sort_keys=True, default=str)
    cached = _VARIANTS_CACHE.get(id(config))
    if cached is None or cached[0] != fingerprint:
        cached = _VARIANTS_CACHE[id(config)] = (fingerprint, _build_variants(config))
    return cached[1]


def _build_variants(config: dict[str, Any]) -> dict[str, Variant]:
    out: dict[str, Variant] = {}
    specs = [(name, spec, None) for name, spec in _agent_entries(config) if not is_external(spec)]
    for sweep, spec in config.get("sweeps", {}).items():
        keys = list(spec["grid"])
        for values in itertools.product(*(spec["grid"][k] for k in keys)):
            point = dict(zip(keys, values))
            name = f"{sweep}-" + "-".join(f"{k}{_yaml_scalar(v)}" for k, v in point.items())
            label = f"{spec.get('label', sweep)}: " + ", ".join(f"{k}={_yaml_scalar(v)}" for k, v in point.items())
            merged = {**(spec.get("hyperparameters") or {}), **point}
            specs.append(
                (name, {"base": spec["base"], "label": label, "hyperparameters": merged}, (sweep, point, spec["envs"]))
            )
    for i, (name, spec, sweep) in enumerate(specs):
        where = f"sweeps.{sweep[0]}" if sweep else f"agents.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{where}={spec!r} is not a mapping; allowed: {{base: AGENT, label: ..., hyperparameters: {{...}}}}"
            )
        _check_new_name(where, name, out)
        unknown = sorted(set(spec) - set(VARIANT_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(VARIANT_KEYS)}")
        if spec.get("base") not in AGENTS:
            raise ConfigError(f"{where}.base={spec.get('base')!r} is not a registered agent; allowed: {', '.join(AGENTS)}")
        hyperparameters = dict(spec.get("hyperparameters") or {})
        try:
            check_known_keys(list(hyperparameters))
        except ConfigError as err:
            raise ConfigError(f"{where}.hyperparameters: {err}") from None
        out[name] = Variant(
            name=name,
            base=spec["base"],
            label=str(spec.get("label", name)),
            colour=str(spec.get("colour", VARIANT_COLOURS[i % len(VARIANT_COLOURS)])),
            hyperparameters=hyperparameters,
            sweep=sweep[0] if sweep else None,
            grid_point=sweep[1] if sweep else None,
            envs=tuple(sweep[2]) if sweep else None,
        )
    for i, (name, spec) in enumerate(tuning_studies(config).items(), start=len(specs)):
        where = f"tuning.studies.{name}"
        if name in AGENTS or name in out:
            raise ConfigError(f"{where}: name {name!r} is already taken; allowed: a name no other agent or variant has")
        out[name] = Variant(
            name=name,
            base=_study_base(name, spec, out)[0],
            label=str(spec.get("label") or f"PPO tuned ({name})"),
            colour=str(spec.get("colour", VARIANT_COLOURS[i % len(VARIANT_COLOURS)])),
            hyperparameters={},  # known once the study has run: results/tuning/<name>/best.yaml
            envs=(spec["env"],),
        )
    return out


def _check_new_name(where: str, name: str, taken: dict[str, Any]) -> None:
    """A config-defined agent's name: safe in paths, and not a registered agent's or an earlier entry's."""
    if not VARIANT_NAME.match(name) or len(name) > 100:
        raise ConfigError(f"{where}: name {name!r} is not safe in paths; allowed: lowercase letters, digits, '.', '_', '-'")
    if name in AGENTS or name in taken:
        raise ConfigError(f"{where}: name {name!r} is already taken; allowed: a name no other agent or variant has")


def _agent_entries(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """The `agents:` entries defined in the config ({name: {...}}), as (name, body) pairs."""
    return [(next(iter(e)), e[next(iter(e))]) for e in config["agents"] if isinstance(e, dict)]


def external_agents(config: dict[str, Any]) -> dict[str, ExternalAgent]:
    """The config's external agents (`agents:` entries with a `command:`; ppo/outside/agents.py), checked: a name
    taken, an unknown key, a placeholder typo is one ConfigError line."""
    out: dict[str, ExternalAgent] = {}
    entries = [(name, spec) for name, spec in _agent_entries(config) if is_external(spec)]
    for i, (name, spec) in enumerate(entries, start=len(variants(config))):
        where = f"agents.{name}"
        _check_new_name(where, name, {**variants(config), **out})
        agent = external_agent(name, spec, where)
        if agent.colour is None:  # the palette's next colour after the variants'
            agent = dataclasses.replace(agent, colour=VARIANT_COLOURS[i % len(VARIANT_COLOURS)])
        out[name] = agent
    return out


def external_arguments(config: dict[str, Any], env: str, agent: str) -> str:
    """The `python -m ppo run-external` options of one job, shell-quoted (a Snakemake param: editing the entry or
    the budget reruns its jobs)."""
    spec = external_agents(config)[agent]
    args = [f"--agent={agent}", f"--spec={json.dumps(spec.to_dict(), sort_keys=True)}"]
    args.append(f"--total-timesteps={hyperparameters(config, env, agent)['total_timesteps']}")
    args.append(f"--final-eval-episodes={config['evaluation']['final_episodes']}")
    return " ".join(shlex.quote(arg) for arg in args)


def agent_names(config: dict[str, Any]) -> list[str]:
    """The top-level agents' names (a variant entry stands for its name)."""
    return [next(iter(e)) if isinstance(e, dict) else e for e in config["agents"]]


def base_agent(config: dict[str, Any], agent: str) -> str:
    """The registered agent that trains `agent` (itself, unless it is a variant; `external` for an external one)."""
    if agent in external_agents(config):
        return "external"
    found = variants(config).get(agent)
    return found.base if found else agent


def ladder_rungs(config: dict[str, Any]) -> list[str]:
    """The ablation ladder's rungs (config `ladder:`, in order; ppo/analysis/ladder.py); empty without one."""
    return list(config.get("ladder", []))


def ladder_envs(config: dict[str, Any]) -> list[str]:
    """The envs the ladder runs on: those training its first rung."""
    rungs = ladder_rungs(config)
    return [env for env in config["envs"] if rungs and rungs[0] in env_agents(config, env)]


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError (one line, naming the key and value) for what the JSON schema cannot check."""
    known = variants(config)
    externals = external_agents(config)
    for env in config["envs"]:
        for agent in env_agents(config, env):
            if agent not in AGENTS and agent not in known and agent not in externals:
                where = f"envs.{env}.agents" if "agents" in config["envs"][env] else "agents"
                raise ConfigError(
                    f"{where}: {agent!r} is neither a registered agent nor a variant; allowed: {', '.join(AGENTS)}"
                )
    for sweep, spec in config.get("sweeps", {}).items():
        outside = [env for env in spec["envs"] if env not in config["envs"]]
        if outside:
            raise ConfigError(f"sweeps.{sweep}.envs: {outside[0]!r} is not in envs; allowed: {', '.join(config['envs'])}")
    used = {agent for env in config["envs"] for agent in env_agents(config, env)}
    for agent in sorted(used - set(externals)):
        get_agent(base_agent(config, agent)).check_installed()  # e.g. sb3-ppo without Stable-Baselines3
    for env, settings in config["envs"].items():
        try:
            env_id, _ = resolve_env_id(env)
            env_info(env_id)
        except EnvError as err:
            raise ConfigError(f"envs.{env}: {err}") from None
        if env_id != env:
            raise ConfigError(f"envs.{env}: write the id Gymnasium knows, {env_id!r}, so result paths are unambiguous")
        for agent in env_agents(config, env):
            if agent in externals:  # its settings are its program's own; only the budget is ppo-bench's
                extra = sorted(set(settings.get("hyperparameters", {}).get(agent) or {}) - {"total_timesteps"})
                if extra:
                    raise ConfigError(
                        f"envs.{env}.hyperparameters.{agent}: {extra[0]!r} is a setting of the program, which ppo-bench "
                        "does not pass; allowed for an external agent: total_timesteps (pass others in its command)"
                    )
                continue
            try:
                resolve(base_agent(config, agent), env, hyperparameters(config, env, agent))
            except ConfigError as err:
                where = f"agents.{agent}" if agent in known and agent not in settings.get("hyperparameters", {}) else None
                raise ConfigError(f"{where or f'envs.{env}.hyperparameters.{agent}'}: {err}") from None
        for agent, overrides in settings.get("hyperparameters", {}).items():
            try:
                check_known_keys(list(overrides))
            except ConfigError as err:
                raise ConfigError(f"envs.{env}.hyperparameters.{agent}: {err}") from None
    stray = [rung for rung in ladder_rungs(config) if rung not in used]
    if stray:
        allowed = ", ".join(sorted(used))
        raise ConfigError(f"ladder: {stray[0]!r} does not run on any env; allowed: agents that run ({allowed})")
    unplayable = [a for a in config["rollouts"]["agents"] if a in externals and not externals[a].evaluated]
    if unplayable:
        raise ConfigError(
            f"rollouts.agents: {unplayable[0]!r} leaves no policy (agents.{unplayable[0]}.policy: null), so nothing can "
            "play it; allowed: agents with a policy"
        )
    missing = [agent for agent in config["rollouts"]["agents"] if agent not in used]
    if missing:
        raise ConfigError(
            f"rollouts.agents: {', '.join(missing)} not run on any env (agents: {sorted(used)}); allowed: agents that run"
        )
    check_tuning(config)
    # Comparisons in waves: their agents must train on their env, their seeds stay clear of the tuning seeds.
    tuning_seeds = {f"tuning.studies.{name}.seeds": study_settings(config, name).seeds for name in tuning_studies(config)}
    check_comparisons(config, lambda env: env_agents(config, env), tuning_seeds)
    for name, agent in externals.items():
        for path in agent.requires:
            if not (Path(agent.cwd) / path).exists():
                raise ConfigError(
                    f"agents.{name}.requires: {path} does not exist (relative to {agent.cwd!r}); build it before the "
                    "run (rl-zoo3's environment: make zoo-venv)"
                )
    for i, comparison in enumerate(config.get("comparisons", [])):
        unscored = [a for a in comparison["agents"] if a in externals and not externals[a].evaluated]
        if unscored:
            raise ConfigError(
                f"comparisons[{i}].agents: {unscored[0]!r} leaves no policy (agents.{unscored[0]}.policy: null), so its "
                "runs have no score to compare; allowed: agents evaluated by ppo-bench"
            )


def env_agents(config: dict[str, Any], env: str) -> list[str]:
    """The agents trained on `env`: its own `agents` list when it has one, else the config's; then the
    variants of every sweep over `env`."""
    names = list(config["envs"][env].get("agents", agent_names(config)))
    for spec in tuning_studies(config).values():  # a study's tuned variant is judged beside its base
        if spec["env"] == env and spec["base"] not in names:
            names.append(spec["base"])
    return names + [v.name for v in variants(config).values() if v.envs is not None and env in v.envs]


def rollout_agents(config: dict[str, Any], env: str) -> list[str]:
    """The agents recorded on `env`: rollouts.agents, as far as they run on it."""
    return [agent for agent in config["rollouts"]["agents"] if agent in env_agents(config, env)]


def hyperparameters(config: dict[str, Any], env: str, agent: str) -> dict[str, Any]:
    """The overrides of (env, agent) on its base's preset: the env's budget, a variant's hyperparameters,
    then the env's overrides for the agent."""
    settings = config["envs"][env]
    overrides = {"total_timesteps": settings["total_timesteps"]}
    variant = variants(config).get(agent)
    if variant is not None:
        overrides.update(variant.hyperparameters)
    overrides.update(settings.get("hyperparameters", {}).get(agent, {}) or {})
    return overrides


def train_arguments(config: dict[str, Any], env: str, agent: str) -> str:
    """The `python -m ppo train` options of one job, shell-quoted. Snakemake stores this string as a
    param, so editing one env's or agent's settings reruns exactly the jobs it changes."""
    settings = config["envs"][env]
    args = [f"--eval-every={settings['eval_every']}"]
    if settings.get("solved_threshold") is not None:
        args.append(f"--solved-threshold={settings['solved_threshold']}")
    args.append(f"--eval-episodes={config['evaluation']['episodes']}")
    checkpoints = config.get("checkpoints", {})
    if "minutes" in checkpoints:
        args.append(f"--checkpoint-minutes={checkpoints['minutes']}")
    if "iterations" in checkpoints:
        args.append(f"--checkpoint-iterations={checkpoints['iterations']}")
    args.append(f"--final-eval-episodes={config['evaluation']['final_episodes']}")
    variant = variants(config).get(agent)
    args.append(f"--agent={variant.base if variant else agent}")
    if variant is not None:
        args.append(f"--variant={agent}")  # its label and colour go to the summary (display_arguments), not here
    for key, value in sorted(hyperparameters(config, env, agent).items()):
        args.append(f"--set={key}={_yaml_scalar(value)}")
    return " ".join(shlex.quote(arg) for arg in args)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_yaml_scalar(v) for v in value) + "]"
    return str(value)


# A run's directory, as Snakemake's wildcards spell it: the one place the pattern is written (rules and functions
# format it).
RUN_DIR = "results/runs/{env}/{agent}/seed{seed}"


def rerun_targets(config: dict[str, Any], env: str, agent: str | None = None) -> list[str]:
    """The run.json files of one env's runs (all its agents, or one agent or variant), every seed: what
    `snakemake --forcerun` needs to retrain them from scratch and redo everything downstream."""
    if env not in config["envs"]:
        raise ConfigError(f"env {env!r} is not in the config; allowed: {', '.join(config['envs'])}")
    agents = env_agents(config, env)
    if agent is not None and agent not in agents:
        raise ConfigError(f"agent {agent!r} does not run on {env}; allowed: {', '.join(agents)}")
    chosen = [agent] if agent is not None else agents
    return [f"{RUN_DIR.format(env=env, agent=a, seed=seed)}/run.json" for a in chosen for seed in config["seeds"]]


def display_arguments(config: dict[str, Any], env: str) -> str:
    """`ppo aggregate --display` for the variants of `env`, shell-quoted: a changed label or colour reruns the
    summary and what follows, never the training."""
    known = {**variants(config), **external_agents(config)}
    display = {a: {"label": known[a].label, "colour": known[a].colour} for a in env_agents(config, env) if a in known}
    return f"--display={shlex.quote(json.dumps(display, sort_keys=True))}" if display else ""


# Tuning (config `tuning:`; ppo/tuning): each study is a set of worker jobs sharing one storage, then best.yaml.
TUNING_DIR = "results/tuning"


def tuning_studies(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's studies, name -> settings as written."""
    return dict((config.get("tuning") or {}).get("studies") or {})


def _study_base(name: str, spec: dict[str, Any], known: dict[str, Variant]) -> tuple[str, dict[str, Any], str]:
    """(the registered agent a study trains, the hyperparameters its base carries, the base's label): its base is
    a registered agent or one of the `known` variants."""
    base = spec["base"]
    if base in AGENTS:
        return base, {}, AGENTS[base].label
    if base in known:
        return known[base].base, dict(known[base].hyperparameters), known[base].label
    raise ConfigError(
        f"tuning.studies.{name}.base={base!r} is neither a registered agent nor a variant of `agents:`; "
        f"allowed: {', '.join(AGENTS)} or a variant's name"
    )


def study_settings(config: dict[str, Any], name: str):
    """The StudySettings of the config's study `name` (storage: results/tuning/<name>/study.journal by default)."""
    from ppo.tuning import make_study_settings

    spec = tuning_studies(config)[name]
    agent, base_overrides, base_label = _study_base(name, spec, variants(config))
    options = {key: spec[key] for key in ("sampler_seed", "eval_every", "eval_episodes", "final_eval_episodes",
                                          "startup_trials", "prune_after", "label", "colour") if key in spec}  # fmt: skip
    return make_study_settings(
        name,
        spec["env"],
        agent,
        base_overrides,
        base_label,
        trials=spec["trials"],
        total_timesteps=spec["total_timesteps"],
        storage=spec.get("storage") or f"{TUNING_DIR}/{name}/study.journal",
        **({"seeds": tuple(spec["seeds"])} if "seeds" in spec else {}),  # else make_study_settings's default
        space=spec.get("space"),
        fixed=spec.get("fixed"),
        where=f"tuning.studies.{name}",
        **options,
    )


def check_tuning(config: dict[str, Any]) -> None:
    """ConfigError (one line) for a study that cannot run: its env not in envs, a bad base, search space or
    storage, tuning seeds that overlap the config's seeds, several workers on SQLite, or a study already in its
    journal under other settings (its jobs would refuse it; better before any job)."""
    from ppo.tuning.study import check_stored_study, check_study, check_workers

    for name, spec in tuning_studies(config).items():
        where = f"tuning.studies.{name}"
        if spec["env"] not in config["envs"]:
            raise ConfigError(f"{where}.env={spec['env']!r} is not in envs; allowed: {', '.join(config['envs'])}")
        settings = study_settings(config, name)
        check_study(settings, config["seeds"], where)
        check_workers(settings.storage, spec.get("workers", 1), where)
        check_stored_study(settings)


def study_arguments(config: dict[str, Any], name: str) -> str:
    """The `python -m ppo tune` options of a study's jobs, shell-quoted (a changed setting reruns the study)."""
    spec = tuning_studies(config)[name]
    settings = study_settings(config, name)
    # The base as its registered agent and settings, and the judging seeds, spelled out: the job must not depend on
    # which config file sits in its working directory.
    args = [f"--env={spec['env']}", f"--base={settings.agent}", f"--study={name}", f"--trials={spec['trials']}",
            f"--base-hyperparameters={json.dumps(settings.base_overrides, sort_keys=True)}",
            f"--base-label={settings.base_label}", "--judging-seeds", *map(str, config["seeds"]),
            f"--total-timesteps={spec['total_timesteps']}", "--seeds", *map(str, settings.seeds),
            f"--storage={settings.storage}", f"--sampler-seed={settings.sampler_seed}",
            f"--eval-episodes={settings.eval_episodes}", f"--final-eval-episodes={settings.final_eval_episodes}",
            f"--startup-trials={settings.startup_trials}", f"--prune-after={settings.prune_after}",
            f"--space={json.dumps(spec.get('space') or {}, sort_keys=True)}",
            f"--fixed={json.dumps(spec.get('fixed') or {}, sort_keys=True)}"]  # fmt: skip
    if spec.get("eval_every"):
        args.append(f"--eval-every={spec['eval_every']}")
    args += [f"--{key}={spec[key]}" for key in ("label", "colour") if spec.get(key)]
    return " ".join(shlex.quote(arg) for arg in args)


def judging_seeds(args) -> list[int]:
    """The seeds that judge (`tune --judging-seeds`, else the seeds of --configfile, if it exists): tuning seeds
    must avoid them."""
    if args.judging_seeds is not None:
        return list(args.judging_seeds)
    configfile = args.configfile
    if not configfile or not Path(configfile).is_file():
        return []
    return list((yaml.safe_load(Path(configfile).read_text()) or {}).get("seeds") or [])


def study_settings_from_args(args):
    """StudySettings from `python -m ppo tune`'s options; a variant base is looked up in --configfile."""
    from ppo.tuning import make_study_settings

    env_id, _ = resolve_env_id(args.env)
    env_info(env_id)
    base, base_overrides = args.base, _yaml_mapping(args.base_hyperparameters, "--base-hyperparameters")
    base_label = args.base_label or (AGENTS[base].label if base in AGENTS else base)
    if base not in AGENTS:
        config = yaml.safe_load(Path(args.configfile).read_text()) if Path(args.configfile).is_file() else {"agents": []}
        found = variants({"agents": config.get("agents", []), "envs": {}}).get(base)
        if found is None:
            raise ConfigError(
                f"--base={base!r} is neither a registered agent nor a variant of {args.configfile}; "
                f"allowed: {', '.join(AGENTS)}"
            )
        base, base_overrides, base_label = found.base, {**found.hyperparameters, **base_overrides}, found.label
    options = {"sampler_seed": args.sampler_seed, "eval_episodes": args.eval_episodes, "startup_trials": args.startup_trials,
               "prune_after": args.prune_after,
               "final_eval_episodes": args.final_eval_episodes, "eval_every": args.eval_every or 0}  # fmt: skip
    options.update({key: getattr(args, key) for key in ("label", "colour") if getattr(args, key)})
    return make_study_settings(
        args.study, env_id, base, base_overrides, base_label,
        trials=args.trials, total_timesteps=args.total_timesteps,
        storage=args.storage or str(Path(args.out) / "study.journal"),
        **({"seeds": tuple(args.seeds)} if args.seeds else {}),  # else make_study_settings's default
        space=_yaml_mapping(args.space, "--space"), fixed=_yaml_mapping(args.fixed, "--fixed"), where="tune", **options,
    )  # fmt: skip


def _yaml_mapping(text: str, flag: str) -> dict[str, Any]:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{flag} {text!r} is not valid YAML ({str(err).splitlines()[0]})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{flag}={text!r} is not a mapping; allowed: YAML such as {{key: value}}")
    return value
