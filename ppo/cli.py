"""`python -m ppo <verb>`: the argument parser and the entry point; the commands live in ppo/commands.py.

Exit codes: 0 ok, 1 the run failed (e.g. a numerical guard tripped), 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading

from ppo.agents import AGENTS
from ppo.commands import COMMANDS
from ppo.config import Hyperparameters
from ppo.run.stop import handle_sigterm

MAX_SEED = 2**32 - 1  # what every generator here takes (Gymnasium, NumPy, torch)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; allowed: integers >= 0")
    return value


def _seed(text: str) -> int:
    value = _non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is too large; allowed: integers 0 .. {MAX_SEED} (2^32 - 1)")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive; allowed: integers >= 1")
    return value


def _variant_name(text: str) -> str:
    from ppo.workflow_config import VARIANT_NAME

    if not VARIANT_NAME.match(text) or text in AGENTS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a variant name; allowed: lowercase letters, digits, '.', '_', '-', not a registered agent's name"
        )
    return text


def _colour(text: str) -> str:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a colour; allowed: '#rrggbb'")
    return text


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number; allowed: numbers > 0")
    return value


def _hyperparameter_help() -> str:
    lines = ["hyperparameters for --set (defaults depend on the agent's preset for the env):"]
    lines += [f"  {name:<20} {text}" for name, text in Hyperparameters.field_help().items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ppo", description="ppo-bench: train, evaluate and report PPO agents.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    train = verbs.add_parser(
        "train",
        help="train one agent on one env with one seed and write a run directory",
        description="Train one (env, agent, seed): write episodes.csv, evals.csv, run.json and its model.",
        epilog=_hyperparameter_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--env", required=True, help="Gymnasium id, e.g. CartPole-v1, LunarLander-v3 (LunarLander-v2 maps to v3)"
    )
    train.add_argument(
        "--agent",
        required=True,
        choices=list(AGENTS),
        help=" | ".join(f"{name} ({agent.description})" for name, agent in AGENTS.items()),
    )
    train.add_argument(
        "--seed", required=True, type=_seed, help="seeds torch, numpy, the envs and action sampling (0 .. 2^32 - 1)"
    )
    train.add_argument("--out", required=True, help="run directory to write (created if missing)")
    train.add_argument("--total-timesteps", type=_positive_int, help="env steps to train for (overrides the preset)")
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter; VALUE is YAML; repeatable"
    )
    train.add_argument(
        "--eval-every", type=_positive_int, help="env steps between periodic evaluations (default: budget / 20)"
    )
    train.add_argument("--eval-episodes", type=_positive_int, default=10, help="episodes per periodic evaluation (default 10)")
    train.add_argument(
        "--final-eval-episodes", type=_positive_int, default=100, help="episodes of the final evaluation (default 100)"
    )
    train.add_argument(
        "--solved-threshold", type=float, help="evaluation mean that counts as solved (default: Gymnasium's reward_threshold)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    train.add_argument(
        "--checkpoint-minutes",
        type=_positive_float,
        default=5.0,
        help="minutes of the run between checkpoints in OUT/checkpoint.pt (default 5; deleted when the run completes)",
    )
    train.add_argument(
        "--checkpoint-iterations", type=_positive_int, help="also checkpoint every this many iterations (rollout + update)"
    )
    train.add_argument("--no-resume", action="store_true", help="start over even if OUT/checkpoint.pt exists (it is deleted)")
    train.add_argument(
        "--variant",
        type=_variant_name,
        help="train as a variant of --agent with this name (run.json's agent; config variants)",
    )
    train.add_argument(
        "--variant-file",
        help="a tuning study's best.yaml: the --variant entry's hyperparameters (and label) come from it, --set on top",
    )
    train.add_argument("--label", help="the variant's display name in tables and figures (default its name)")
    train.add_argument("--colour", type=_colour, help="the variant's colour in figures, '#rrggbb'")

    evaluate = verbs.add_parser(
        "evaluate",
        help="re-evaluate a saved ppo model greedily on the fixed evaluation seeds",
        description="Load RUN's model and play N episodes (greedy; stochastic on image envs) on the fixed evaluation seeds; "
        "prints a JSON summary.",
    )
    evaluate.add_argument("--run", required=True, help="a finished run directory (with run.json and its model)")
    evaluate.add_argument("--episodes", type=_positive_int, default=100, help="episodes to play (default 100)")
    evaluate.add_argument("--env", help="evaluate on this env instead of the run's own (must match its spaces)")
    evaluate.add_argument("--out", help="also write the per-episode returns to this CSV")

    aggregate = verbs.add_parser("aggregate", help="tidy summary tables of one env's runs (results/summary/ENV)")
    aggregate.add_argument("--env", required=True, help="the env the runs belong to")
    aggregate.add_argument("--runs", required=True, nargs="+", help="run directories (every agent and seed of the env)")
    aggregate.add_argument("--out", required=True, help="summary directory to write")
    aggregate.add_argument("--bootstrap-samples", type=_positive_int, default=2000, help="bootstrap resamples (default 2000)")
    aggregate.add_argument("--random-state", type=_non_negative_int, default=0, help="bootstrap seed (default 0)")
    aggregate.add_argument("--display", help='labels and colours of variants as JSON: {"name": {"label": ..., "colour": ...}}')

    plot = verbs.add_parser("plot", help="the four figures of one env from its summary directory")
    plot.add_argument("--summary", required=True, help="summary directory written by `aggregate`")
    plot.add_argument("--out", required=True, help="figure directory to write (PNG and SVG)")
    plot.add_argument("--random-state", type=_non_negative_int, default=0, help="seed of the plotted bootstrap CIs")

    compare = verbs.add_parser(
        "compare", help="agents compared across envs (rliable): normalized aggregates, P(X > Y), performance profiles"
    )
    compare.add_argument("--summaries", required=True, nargs="+", help="summary directories, one per env")
    compare.add_argument("--out", required=True, help="directory for the comparison tables (CSV)")
    compare.add_argument("--figures", required=True, help="directory for the comparison figures (PNG and SVG)")
    compare.add_argument("--bootstrap-samples", type=_positive_int, default=2000, help="bootstrap resamples (default 2000)")
    compare.add_argument("--random-state", type=_non_negative_int, default=0, help="bootstrap seed (default 0)")

    ladder = verbs.add_parser("ladder", help="the ablation ladder's table and figures (config/article-ablation.yaml)")
    ladder.add_argument("--summaries", required=True, nargs="+", help="summary directories, one per env")
    ladder.add_argument("--config", required=True, help="the resolved workflow config as JSON (its agents are the rungs)")
    ladder.add_argument("--out", required=True, help="directory for ladder.csv")
    ladder.add_argument("--figures", required=True, help="directory for one learning-curve figure per env")

    sweep = verbs.add_parser("sweep", help="one sweep's table and sensitivity figure (config `sweeps:`)")
    sweep.add_argument("--name", required=True, help="the sweep's name in the config")
    sweep.add_argument("--summaries", required=True, nargs="+", help="summary directories of the sweep's envs")
    sweep.add_argument("--config", required=True, help="the resolved workflow config as JSON")
    sweep.add_argument("--out", required=True, help="directory for NAME.csv")
    sweep.add_argument("--figures", required=True, help="directory for NAME.png")

    rerun = verbs.add_parser(
        "rerun",
        help="retrain one env (or one agent or variant on it) from scratch with Snakemake, then redo its reports",
        description="Runs `snakemake --forcerun` on the env's run files: Snakemake alone would answer 'Nothing to be "
        "done' for deleted intermediates under an up-to-date report. Run it from the workflow's directory.",
    )
    rerun.add_argument("--env", required=True, help="the env to retrain, as the config names it")
    rerun.add_argument("--agent", help="only this agent or variant (default: every agent of the env)")
    rerun.add_argument("--configfile", default="config/config.yaml", help="the workflow config (default config/config.yaml)")
    rerun.add_argument("--cores", default="all", help="Snakemake's --cores (default all)")
    rerun.add_argument("--dry-run", action="store_true", help="show the jobs Snakemake would run, run nothing")

    rollout = verbs.add_parser("rollout", help="record the median seed's agent as MP4 + GIF + caption JSON")
    rollout.add_argument("--env", required=True, help="Gymnasium id")
    rollout.add_argument("--agent", required=True, help="agent (or variant) to record, as its runs' run.json names it")
    rollout.add_argument("--runs", required=True, nargs="+", help="the agent's run directories, one per seed")
    rollout.add_argument("--out", required=True, help="directory for AGENT.mp4, AGENT.gif, AGENT.json")
    rollout.add_argument("--max-gif-mb", type=float, default=5.0, help="largest GIF in MB (default 5)")

    report = verbs.add_parser("report", help="Markdown + self-contained HTML report from summaries, figures, rollouts")
    report.add_argument("--summaries", required=True, nargs="+", help="summary directories, one per env")
    report.add_argument("--config", required=True, help="the resolved workflow config as JSON")
    report.add_argument("--out", required=True, help="report directory (figures/ and media/ must be in it)")
    report.add_argument("--markdown", default="README.md", help="Markdown file name inside --out (default README.md)")
    report.add_argument("--html", default="index.html", help="HTML file name inside --out; '' for none")
    report.add_argument("--root", default="", help="path from the Markdown file to the report directory (e.g. '../')")
    report.add_argument("--compare", help="comparison tables written by `compare` (figures in --out/figures/compare)")
    report.add_argument("--ladder", help="ladder.csv's directory, written by `ladder` (figures in --out/figures/ladder)")
    report.add_argument("--sweeps", help="the sweeps' tables, written by `sweep` (figures in --out/figures/sweeps)")
    report.add_argument("--tuning", help="the studies' directories' parent, with verdict.json files (`tuning-report`)")
    report.add_argument("--comparisons", help="decisions.json's directory, written by `decisions` (comparisons in waves)")

    imports = verbs.add_parser(
        "import",
        help="turn existing logs or another results tree into run directories, without rerunning",
        description="Two forms. Logs (TensorBoard events, SB3 monitor.csv files or an episodes.csv) with --out and "
        "--env/--agent/--seed: one run directory; a policy.onnx in SOURCE (or --policy) is evaluated by ppo-bench, "
        "otherwise the run shows its training curve and stays out of the final scores. A ppo-bench results tree "
        "(results/runs of any checkout) with --out-root: every complete run copied as ENV/AGENT/seedS, AGENT renamed "
        "by --rename or given --agent-suffix, so an older version sits beside today's (docs/bring-your-own.md).",
    )
    imports.add_argument("source", help="a folder of logs, or a ppo-bench results tree (results/runs)")
    where = imports.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="logs: the run directory to write, e.g. results/runs/ENV/NAME/seedS")
    where.add_argument("--out-root", help="results tree: the runs directory to copy into, e.g. results/runs")
    imports.add_argument("--env", help="logs: the Gymnasium id the runs trained on")
    imports.add_argument("--agent", help="logs: the agent's name in tables (letters, digits, . _ @ + -)")
    imports.add_argument("--seed", type=_seed, help="logs: the run's seed")
    imports.add_argument("--label", help="logs: the agent's display name (default its name)")
    imports.add_argument("--colour", type=_colour, help="logs: the agent's colour in figures, '#rrggbb'")
    imports.add_argument("--policy", help="logs: an ONNX policy to evaluate (default SOURCE/policy.onnx if present)")
    imports.add_argument("--format", default="auto", help="logs: auto|csv|tensorboard|monitor (default auto)")
    imports.add_argument("--return-tag", help="logs: TensorBoard tag of episode returns (default charts/episodic_return)")
    imports.add_argument("--length-tag", help="logs: TensorBoard tag of episode lengths (default charts/episodic_length)")
    imports.add_argument(
        "--column", action="append", default=[], metavar="NAME=THEIRS", help="logs: episodes.csv column mapping; repeatable"
    )
    imports.add_argument(
        "--final-eval-episodes", type=_positive_int, default=100, help="logs with a policy: evaluation episodes (default 100)"
    )
    imports.add_argument("--agent-suffix", default="", help="results tree: appended to every agent's name, e.g. @v1")
    imports.add_argument(
        "--rename", action="append", default=[], metavar="OLD=NEW", help="results tree: rename one agent; repeatable"
    )

    external = verbs.add_parser(
        "run-external",
        help="train an external agent by its own command, then read its logs and play its ONNX policy",
        description="One run of an agent declared in the config with a `command:` (docs/bring-your-own.md): the command "
        "runs with its placeholders filled in (shell-quoted), writes into --program-dir, and the run directory --out is "
        "written from what it left, as every agent's: training episodes, the final evaluation by ppo-bench, run.json.",
    )
    external.add_argument("--env", required=True, help="Gymnasium id")
    external.add_argument("--seed", type=_seed, required=True)
    external.add_argument("--agent", required=True, help="the agent's name (its config entry's key)")
    external.add_argument("--spec", required=True, help="the agent's config entry as JSON")
    external.add_argument("--total-timesteps", type=_positive_int, required=True, help="the env-step budget")
    external.add_argument("--out", required=True, help="the run directory, results/runs/ENV/AGENT/seedS")
    external.add_argument("--program-dir", required=True, help="the program's own directory ({run_dir} in its command)")
    external.add_argument("--final-eval-episodes", type=_positive_int, default=100, help="final evaluation episodes")

    tune = verbs.add_parser(
        "tune",
        help="an Optuna study of one (env, base agent): trials on tuning seeds, then best.yaml (a variant entry)",
        description="Runs trials until the study holds --trials finished (complete or pruned) trials, sharing the "
        "storage with any other worker of the same study, then writes best.yaml, trials.csv, importances.csv and "
        "study.json into --out. Rerun after a kill: the study continues where it stopped.",
    )
    tune.add_argument("--env", required=True, help="Gymnasium id")
    tune.add_argument(
        "--base", required=True, help="the agent (or, with --configfile, variant) whose preset the search starts from"
    )
    tune.add_argument(
        "--base-hyperparameters", default="{}", help="settings on top of the base's preset, as YAML (a variant's, by hand)"
    )
    tune.add_argument("--base-label", help="the base's display name (default the agent's or variant's label)")
    tune.add_argument("--study", required=True, type=_variant_name, help="the study's name, and the tuned variant's")
    tune.add_argument("--trials", required=True, type=_positive_int, help="finished trials the study ends with")
    tune.add_argument("--total-timesteps", required=True, type=_positive_int, help="env steps per trial and seed")
    tune.add_argument(
        "--seeds",
        nargs="+",
        type=_seed,
        default=None,
        help="tuning seeds, disjoint from the config's (default 1000 1001)",
    )
    tune.add_argument("--out", required=True, help="directory for best.yaml, trials.csv, importances.csv, study.json")
    tune.add_argument("--storage", help="a journal file path or a database URL (default OUT/study.journal)")
    tune.add_argument(
        "--space", default="{}", help="search-space changes as YAML: {key: {low, high} | {choices} | {kind, ...}}"
    )
    tune.add_argument("--fixed", default="{}", help="settings held fixed as YAML: {key: value}")
    tune.add_argument("--sampler-seed", type=_non_negative_int, default=0, help="TPE's seed (worker k uses seed + k)")
    tune.add_argument(
        "--eval-every", type=_positive_int, help="env steps between a trial's periodic evaluations (default budget / 10)"
    )
    tune.add_argument("--eval-episodes", type=_positive_int, default=5, help="episodes per periodic evaluation (default 5)")
    tune.add_argument(
        "--final-eval-episodes",
        type=_positive_int,
        default=20,
        help="episodes of a trial's final evaluation per seed (default 20)",
    )
    tune.add_argument(
        "--prune-after", type=float, default=1 / 3, help="share of the budget before a trial may be pruned (default 1/3)"
    )
    tune.add_argument(
        "--startup-trials", type=_non_negative_int, default=5, help="finished trials before the pruner prunes (default 5)"
    )
    tune.add_argument(
        "--configfile",
        default="config/config.yaml",
        help="the workflow config whose seeds judge (refused as tuning seeds) and variants",
    )
    tune.add_argument(
        "--worker", type=_non_negative_int, default=0, help="this worker's slot; a rerun of a slot retries its killed trial"
    )
    tune.add_argument(
        "--judging-seeds",
        nargs="*",
        type=_seed,
        help="the seeds that judge (default: --configfile's), refused as tuning seeds",
    )
    tune.add_argument("--label", help="the tuned variant's display name in best.yaml (default 'PPO tuned (STUDY)')")
    tune.add_argument("--colour", type=_colour, help="the tuned variant's colour in best.yaml, '#rrggbb'")
    tune.add_argument("--marker", help="write this JSON marker after the trials instead of exporting (the workflow's workers)")
    tune.add_argument("--export-only", action="store_true", help="run no trial: export the study as it is")
    tune.add_argument("--quiet", action="store_true", help="no per-trial lines")

    tuning_report = verbs.add_parser(
        "tuning-report", help="one study's verdict on fresh seeds (JSON) and its figure, for the report's Tuning section"
    )
    tuning_report.add_argument("--study-dir", required=True, help="the study's directory (study.json, trials.csv, ...)")
    tuning_report.add_argument("--summary", required=True, help="the summary directory of the study's env")
    tuning_report.add_argument("--tuned", required=True, help="the tuned variant's name")
    tuning_report.add_argument("--base", required=True, help="the base agent's (or variant's) name")
    tuning_report.add_argument("--out", required=True, help="verdict JSON to write")
    tuning_report.add_argument("--figure", required=True, help="PNG to write (SVG beside it)")
    tuning_report.add_argument("--bootstrap-samples", type=_positive_int, default=2000, help="bootstrap resamples")
    tuning_report.add_argument("--random-state", type=_non_negative_int, default=0, help="bootstrap seed")

    decide = verbs.add_parser(
        "decide", help="one comparison's AdaStop test after a wave (config `comparisons:`): decisions, the next wave"
    )
    decide.add_argument("--spec", required=True, help="the comparison as JSON (the workflow's resolved entry)")
    decide.add_argument("--wave", required=True, type=_positive_int, help="the wave just finished (1-based)")
    decide.add_argument("--runs", required=True, nargs="+", help="run directories of waves 1..WAVE of the comparison")
    decide.add_argument("--out", required=True, help="the wave's JSON record to write")

    decisions = verbs.add_parser("decisions", help="every comparison's last wave record as decisions.json and .csv")
    decisions.add_argument("--waves", required=True, nargs="+", help="each comparison's last waveK.json")
    decisions.add_argument("--out", required=True, help="decisions.json to write (decisions.csv beside it)")

    bench = verbs.add_parser(
        "bench", help="training speed side by side: raw vector env, our PPO, Stable-Baselines3 PPO (same settings)"
    )
    bench.add_argument(
        "--envs",
        nargs="+",
        default=None,
        help="Gymnasium ids (default: CartPole-v1 LunarLander-v3 LunarLanderContinuous-v3 HalfCheetah-v5)",
    )
    bench.add_argument(
        "--steps", type=_positive_int, default=None, help="env steps per measurement (default: a tenth of the budget)"
    )
    bench.add_argument("--repeats", type=_positive_int, default=1, help="interleaved repeats; medians are reported")
    bench.add_argument("--no-sb3", action="store_true", help="leave Stable-Baselines3 out even when installed")
    bench.add_argument("--no-compile", action="store_true", help="leave the compiled column (and its compile timings) out")
    bench.add_argument("--out", default="results/benchmarks/speed.json", help="JSON file to write")
    bench.add_argument("--readme", default=None, help="Markdown file whose speed-table section is rewritten")

    export_onnx = verbs.add_parser(
        "export-onnx",
        help="write a Stable-Baselines3 PPO model or one of our ppo runs as one ONNX policy (normalization inside)",
        description="One graph from raw observations to logits (discrete) or the mean action (continuous), checked "
        "against the env before it is written: the policy file an outside run leaves for ppo-bench's evaluation.",
    )
    source = export_onnx.add_mutually_exclusive_group(required=True)
    source.add_argument("--sb3-model", help="a Stable-Baselines3 PPO model zip (model.save, rl-zoo's ENV.zip)")
    source.add_argument("--run", help="one of our ppo run directories (its model.pt)")
    export_onnx.add_argument(
        "--vecnormalize", help="with --sb3-model: VecNormalize's pickle (VecNormalize.save, rl-zoo's vecnormalize.pkl)"
    )
    export_onnx.add_argument("--env", required=True, help="the Gymnasium id the policy plays (checked against it)")
    export_onnx.add_argument("--out", required=True, help="ONNX file to write, e.g. RUN_DIR/policy.onnx")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a scheduler preempting or cancelling the job, `kill`) would end Python without unwinding:
        # the handler exits through SystemExit (so `finally` blocks delete temporary files), or lets a running
        # training loop save a checkpoint first.
        signal.signal(signal.SIGTERM, handle_sigterm)
    try:
        return COMMANDS[args.verb](args)
    except KeyboardInterrupt:
        print(
            "error: interrupted; no results were written (a rerun resumes from the last checkpoint, if any)", file=sys.stderr
        )
        return 128 + signal.SIGINT
    except (ValueError, OSError) as err:  # bad input (ConfigError, EnvError, ResultsError are ValueErrors)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:
        print(f"error: training stopped: {err}", file=sys.stderr)
        return 1
