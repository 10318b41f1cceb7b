import math
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from ppo.config import ConfigError
from ppo.agents import AGENTS as REGISTRY
from ppo.agents import EXTERNAL
from ppo.outside.agents import PROGRAM_DIR
from ppo.analysis import COMPARE_FIGURES, COMPARE_TABLES
from ppo.analysis import FIGURE_NAMES as FIGURES
from ppo.workflow_config import (
    RUN_DIR,
    check_config,
    display_arguments,
    coerce_command_line,
    external_agents,
    external_arguments,
    env_agents,
    hyperparameters,
    ladder_envs,
    rollout_agents,
    schema_error_line,
    study_arguments,
    study_settings,
    train_arguments,
    tuning_studies,
    variants,
)


# Validate first: the schema (structure, types, ranges, no unknown keys), then what only the package
# knows (env ids exist and are supported, hyperparameter names and values). One line, then stop.
def _config_error(message):
    sys.exit(f"config error: {message}")


coerce_command_line(config)
try:
    validate(config, "../schemas/config.schema.yaml", set_default=False)
except WorkflowError:
    schema = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
    _config_error(
        schema_error_line(config, schema) or "the config does not match its schema"
    )
try:
    check_config(config)
except ConfigError as err:
    _config_error(str(err))


ENVS = list(config["envs"])
SEEDS = config["seeds"]
# The ablation ladder's envs (none unless the config runs ppo-article-as-written) and the sweeps.
LADDER_ENVS = ladder_envs(config)
SWEEPS = list(config.get("sweeps", {}))
# Tuning studies (config `tuning:`): name -> settings; each study's tuned variant is named after it.
STUDIES = tuning_studies(config)
# Registered agents and the config's variants (each trained by its base, a registered agent); external agents
# (trained by their own command; ppo/outside) have the registry's EXTERNAL record.
EXTERNALS = external_agents(config)
BASES = (
    {name: name for name in REGISTRY}
    | {name: v.base for name, v in variants(config).items()}
    | {name: EXTERNAL.name for name in EXTERNALS}
)


def registered(agent):
    """The registry's record of the agent that trains `agent` (EXTERNAL for an external one)."""
    return EXTERNAL if agent in EXTERNALS else REGISTRY[BASES[agent]]


wildcard_constraints:
    env="|".join(ENVS),
    agent="|".join(re.escape(name) for name in BASES),
    seed=r"\d+",
    study="|".join(re.escape(name) for name in STUDIES) or "(?!)",
    worker=r"\d+",


# Three train rules, one per kind of model file an agent leaves (the registry says which).
def _agents_leaving(model_file):
    names = [
        n
        for n, base in BASES.items()
        if n not in EXTERNALS and REGISTRY[base].model_file == model_file
    ]
    return "|".join(re.escape(n) for n in names) or "(?!)"  # (?!) matches nothing


NO_MODEL_AGENTS = _agents_leaving(None)
TORCH_MODEL_AGENTS = _agents_leaving("model.pt")
# External agents, by whether their program leaves a policy that ppo-bench plays (policy.onnx in the run directory).
EVALUATED_EXTERNALS = (
    "|".join(re.escape(n) for n, a in EXTERNALS.items() if a.evaluated) or "(?!)"
)
UNEVALUATED_EXTERNALS = (
    "|".join(re.escape(n) for n, a in EXTERNALS.items() if not a.evaluated) or "(?!)"
)
SB3_MODEL_AGENTS = _agents_leaving("model.zip")


def run_files(env, agent, seed):
    names = ["episodes.csv", "evals.csv", "run.json"]
    names += registered(agent).actor_files
    if agent in EXTERNALS and EXTERNALS[agent].evaluated:
        names.append("policy.onnx")
    return [
        f"{RUN_DIR.format(env=env, agent=agent, seed=seed)}/{name}" for name in names
    ]


def get_env_runs(env):
    """Every run file of one env: all agents x seeds."""
    return [
        f
        for agent in env_agents(config, env)
        for seed in SEEDS
        for f in run_files(env, agent, seed)
    ]


def parent_dirs(files):
    """The distinct directories holding some files, sorted."""
    return sorted({str(Path(f).parent) for f in files})


def get_run_dirs(wildcards, input):
    """The run directories behind a rule's input files (one per seed)."""
    return parent_dirs(input)


def get_summary_dirs(wildcards, input):
    """The summary directories behind a report rule's tables (one per env)."""
    return parent_dirs(input.tables)


def get_train_arguments(wildcards):
    return train_arguments(config, wildcards.env, wildcards.agent)


def get_external_arguments(wildcards):
    return external_arguments(config, wildcards.env, wildcards.agent)


def get_program_dir(wildcards):
    """{run_dir} of an external agent's command: the program's own directory, beside the run directories."""
    return PROGRAM_DIR.format(**wildcards)


def get_train_inputs(wildcards):
    """A tuned variant's training reads its study's best.yaml; other agents read nothing."""
    if wildcards.agent in STUDIES:
        return {"variant_file": f"results/tuning/{wildcards.agent}/best.yaml"}
    return {}


def get_variant_file_option(wildcards, input):
    return (
        f"--variant-file={input.variant_file}" if "variant_file" in input.keys() else ""
    )


def get_study_arguments(wildcards):
    return study_arguments(config, wildcards.study)


def get_study_workers(wildcards):
    """The worker markers of a study: `workers` jobs (default 1) share its storage."""
    workers = STUDIES[wildcards.study].get("workers", 1)
    return [
        f"results/tuning/{wildcards.study}/workers/{k}.json" for k in range(workers)
    ]


def tuning_runtime_minutes(wildcards):
    """SLURM runtime of a worker: its share of the study's trials, every trial at its full budget on every
    tuning seed, at the registry's conservative speed, plus 10 minutes."""
    settings = study_settings(config, wildcards.study)
    steps = settings.total_timesteps * len(settings.seeds)
    per_worker = math.ceil(settings.trials / len(get_study_workers(wildcards))) + 1
    speed = REGISTRY[BASES[wildcards.study]].cluster_speed(
        STUDIES[wildcards.study]["env"]
    )
    return 10 + math.ceil(per_worker * steps / speed / 60)


def get_study_env_summary(wildcards):
    return f"results/summary/{STUDIES[wildcards.study]['env']}/runs.csv"


def get_study_base(wildcards):
    return STUDIES[wildcards.study]["base"]


def train_runtime_minutes(wildcards):
    """SLURM runtime of a training job: its step budget at the registry's conservative speed, plus 5
    minutes of headroom."""
    external = EXTERNALS.get(wildcards.agent)
    if external is not None and external.runtime is not None:
        return external.runtime
    steps = hyperparameters(config, wildcards.env, wildcards.agent)["total_timesteps"]
    speed = registered(wildcards.agent).cluster_speed(wildcards.env)
    return 5 + math.ceil(steps / speed / 60)


def agent_conda_env(wildcards):
    """The software environment of a job that loads the agent's model: the peers' one for SB3's."""
    if registered(wildcards.agent).requires is not None:
        return "../envs/peers.yaml"
    return "../../environment.yml"


def get_rollout_models(wildcards):
    """The files the agent's actor reads from each seed's run (none for the random agent)."""
    return [
        f"{RUN_DIR.format(env=wildcards.env, agent=wildcards.agent, seed=seed)}/{name}"
        for seed in SEEDS
        for name in registered(wildcards.agent).actor_files
    ] + [
        # An external agent's actor plays the ONNX policy its program left, copied into the run directory.
        f"{RUN_DIR.format(env=wildcards.env, agent=wildcards.agent, seed=seed)}/policy.onnx"
        for seed in SEEDS
        if wildcards.agent in EXTERNALS
    ]


def get_report_inputs(envs, compare=False):
    """Everything a report over `envs` reads: summaries, figures, rollouts, the resolved config, and
    (compare=True) the comparison across envs."""
    inputs = {
        "config": "results/config.json",
        "tables": [f"results/summary/{env}/table.csv" for env in envs],
        "metas": [f"results/summary/{env}/meta.json" for env in envs],
        "figures": [
            f"report/figures/{env}/{name}.png" for env in envs for name in FIGURES
        ],
        "rollouts": [
            f"report/media/{env}/{agent}.{ext}"
            for env in envs
            for agent in rollout_agents(config, env)
            for ext in ("gif", "mp4", "json")
        ],
    }
    # A study's section goes wherever its env is reported.
    studies = [name for name, spec in STUDIES.items() if spec["env"] in envs]
    inputs["tuning"] = [f"results/tuning/{name}/verdict.json" for name in studies]
    inputs["tuning_figures"] = [f"report/figures/tuning/{name}.png" for name in studies]
    if compare:
        inputs["compare"] = [f"results/compare/{name}.csv" for name in COMPARE_TABLES]
        inputs["compare_figures"] = [
            f"report/figures/compare/{name}.png" for name in COMPARE_FIGURES
        ]
        inputs["ladder"] = ["results/ladder/ladder.csv"] if LADDER_ENVS else []
        inputs["ladder_figures"] = [
            f"report/figures/ladder/{env}.png" for env in LADDER_ENVS
        ]
        inputs["sweeps"] = [f"results/sweeps/{name}.csv" for name in SWEEPS]
        inputs["sweep_figures"] = [
            f"report/figures/sweeps/{name}.png" for name in SWEEPS
        ]
        # Comparisons in waves (compare_waves.smk): their decisions, when the config has any.
        inputs["comparisons"] = (
            ["results/comparisons/decisions.json"] if config.get("comparisons") else []
        )
    return inputs


def summary_files(envs):
    """What the ladder and sweep rules read of each env's summary."""
    names = ("table.csv", "runs.csv", "meta.json", "curves_grid.csv")
    return [f"results/summary/{env}/{name}" for env in envs for name in names]


def get_report_extras(wildcards, input):
    """The report's --compare, --ladder and --sweeps options, for the sections this config has."""
    extras = {
        "compare": input.compare,
        "ladder": input.ladder,
        "sweeps": input.sweeps,
        "comparisons": input.comparisons,
    }
    options = [
        f"--{name} {parent_dirs(files)[0]}" for name, files in extras.items() if files
    ]
    return " ".join([*options, get_tuning_option(wildcards, input)])


def get_tuning_option(wildcards, input):
    """The report's --tuning option: the studies' directories' parent, for the studies of its envs."""
    if not input.tuning:
        return ""
    return f"--tuning {Path(parent_dirs(input.tuning)[0]).parent}"


def get_final_output():
    """The report, and one Markdown page per env."""
    return ["report/README.md", "report/index.html"] + [
        f"report/envs/{env}.md" for env in ENVS
    ]
