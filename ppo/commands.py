"""The commands behind `python -m ppo <verb>` (ppo/cli.py parses the arguments): each calls one package
function and writes its outputs. They raise ValueError/OSError on bad input; cli.main turns those into exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ppo.agents import get_agent, player, resolve
from ppo.config import ConfigError, parse_overrides
from ppo.envs import EVAL_SEED_BASE, env_info, resolve_env_id
from ppo.run import tensorboard


def cmd_train(args: argparse.Namespace) -> int:
    from ppo import __version__
    from ppo.run.atomic import check_writable_dir
    from ppo.run.checkpoint import Checkpointer, CheckpointSettings
    from ppo.run.directory import write_run
    from ppo.run.log import EvalSettings, Progress
    from ppo.run.provenance import git_commit
    from ppo.run.stop import stop_at_safe_points

    # Everything is checked before anything is written or any env step is taken.
    env_id, notice = resolve_env_id(args.env)
    info = env_info(env_id)
    overrides = parse_overrides(args.set)
    if args.variant_file:  # a tuning study's best.yaml: its hyperparameters first, --set on top
        overrides = {**_variant_file_hyperparameters(args), **overrides}
    if args.total_timesteps is not None:
        overrides["total_timesteps"] = args.total_timesteps
    agent = get_agent(args.agent)
    agent.check_installed()
    hp, tuned = resolve(args.agent, env_id, overrides)
    check_writable_dir(args.out)
    if notice:
        print(notice, file=sys.stderr)
    if not tuned:
        print(f"note: no tuned {args.agent} settings for {env_id}; training with the general defaults", file=sys.stderr)

    evaluation = EvalSettings(
        every=args.eval_every or max(hp.rollout_size, hp.total_timesteps // 20),
        episodes=args.eval_episodes,
        final_episodes=args.final_eval_episodes,
        threshold=info.solved_threshold if args.solved_threshold is None else args.solved_threshold,
    )
    progress = Progress(
        hp.trained_timesteps,
        f"{args.variant or args.agent} {env_id} seed {args.seed}",
        enabled=not args.quiet,
        tensorboard_dir=Path(args.out) / tensorboard.SUBDIR if tensorboard.available() else None,
    )
    meta = {
        "env": env_id,
        "env_requested": args.env,
        "agent": args.variant or args.agent,
        "seed": args.seed,
        "tuned_preset": tuned,
        "hyperparameters": hp.to_dict(),
        "evaluation": {**evaluation.__dict__, "seed_base": EVAL_SEED_BASE, "policy": info.evaluation_policy},
        "solved_threshold": evaluation.threshold,
    }
    if args.variant:
        meta["variant"] = {"base": args.agent, "label": args.label or args.variant, "colour": args.colour}
    # A checkpoint resumes only a run of the same env, agent, seed, settings, evaluation and code.
    identity = {key: meta[key] for key in ("env", "agent", "seed", "hyperparameters", "evaluation")}
    identity["code"] = f"ppo {__version__}, commit {git_commit()}"
    settings = CheckpointSettings(60 * args.checkpoint_minutes, args.checkpoint_iterations, resume=not args.no_resume)
    checkpoints = Checkpointer(args.out, identity, settings)
    # On SIGTERM, a resumable agent stops at its next checkpoint, any other at the next env step (ppo.run.stop).
    try:
        with stop_at_safe_points(saves_checkpoints=agent.resumable):
            result = agent.train(env_id, hp, args.seed, evaluation, progress, checkpoints if agent.resumable else None)
    except BaseException:
        # A failed run leaves nothing behind, unless a checkpoint will resume it (then its curves go on).
        if progress.tensorboard is not None:
            progress.tensorboard.close() if checkpoints.exists() else progress.tensorboard.discard()
        raise
    run_json = write_run(args.out, result, meta)
    checkpoints.remove()  # the run is complete: run.json is written
    final = run_json["final_eval"]
    returns = f"final {info.evaluation_policy} return {final['mean_return']:.1f} ± {final['std_return']:.1f}"
    returns += f" over {final['episodes']} episodes"
    speed = (
        f"{run_json['total_steps']} steps in {run_json['train_seconds']:.1f} s ({run_json['steps_per_second']:.0f} steps/s)"
    )
    print(
        f"{meta['agent']} {env_id} seed {args.seed}: {returns}; {speed}, evaluation {run_json['eval_seconds']:.1f} s",
        file=sys.stderr,
    )
    return 0


def _variant_file_hyperparameters(args: argparse.Namespace) -> dict:
    from ppo.tuning.export import read_variant

    if not args.variant:
        raise ConfigError(f"--variant-file {args.variant_file} needs --variant NAME: the entry of the file to train")
    entry = read_variant(args.variant_file, args.variant)
    if entry.get("base") != args.agent:
        raise ConfigError(
            f"{args.variant_file}: {args.variant} is a variant of {entry.get('base')!r}, not of --agent {args.agent}"
        )
    args.label = args.label or entry.get("label")
    args.colour = args.colour or entry.get("colour")
    return dict(entry.get("hyperparameters") or {})


def cmd_tune(args: argparse.Namespace) -> int:
    """Run trials of one study until it holds --trials finished trials (several processes may share it), then
    export best.yaml, trials.csv, importances.csv and study.json into --out; --marker FILE skips the export
    (the workflow's workers), --export-only runs no trial."""
    from ppo.run.atomic import write_json
    from ppo.tuning.export import export_study
    from ppo.tuning.study import check_study, run_worker
    from ppo.workflow_config import judging_seeds, study_settings_from_args

    settings = study_settings_from_args(args)
    check_study(settings, judging_seeds(args), where="tune")
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    finished = []
    if not args.export_only:
        finished = run_worker(settings, args.worker, log)
    if args.marker:
        write_json(args.marker, {"study": settings.name, "worker": args.worker, "finished_trials": finished})
        return 0
    summary = export_study(settings, args.out)
    print(
        f"study {settings.name}: {summary['complete']} complete, {summary['pruned']} pruned, {summary['failed']} failed; "
        f"best trial {summary['best_trial']}: {summary['best_value']:.2f}; {summary['core_minutes']:.1f} core-minutes; "
        f"best.yaml in {args.out}",
        file=sys.stderr,
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ppo.run.directory import read_run_json, summarize_returns, write_csv
    from ppo.run.evaluate import Evaluator

    run = read_run_json(args.run)
    env_id, notice = resolve_env_id(args.env or run["env"])
    if notice:
        print(notice, file=sys.stderr)
    info = env_info(env_id)
    agent = player(run)
    if not agent.has_model:
        raise FileNotFoundError(
            f"{args.run} is a run of {agent.name}, which saves no model; only runs that saved a model can be evaluated"
        )
    act = agent.evaluation_policy(args.run, info, run["seed"])
    evaluator = Evaluator(env_id, min(args.episodes, 20))
    episodes = evaluator.run(act, args.episodes)
    evaluator.close()
    if args.out:
        rows = [(k, float(r), int(n)) for k, (r, n) in enumerate(zip(episodes.returns, episodes.lengths))]
        write_csv(Path(args.out), rows, ("episode", "return", "length"))
    print(json.dumps({"env": env_id, "run": str(args.run), **summarize_returns(episodes)}))
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    from ppo.analysis.aggregate import write_summary

    display = json.loads(args.display) if args.display else None
    write_summary(args.env, args.runs, args.out, args.bootstrap_samples, args.random_state, display)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from ppo.analysis.plots import write_figures

    write_figures(args.summary, args.out, args.random_state)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ppo.analysis.compare import summary_styles, write_comparison
    from ppo.analysis.compare_plots import write_compare_figures

    tables = write_comparison(args.summaries, args.out, args.bootstrap_samples, args.random_state)
    write_compare_figures(tables, summary_styles(args.summaries), args.figures)
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    from ppo.analysis.compare import summary_styles
    from ppo.analysis.ladder import write_ladder
    from ppo.workflow_config import ladder_rungs

    config = json.loads(Path(args.config).read_text())
    write_ladder(args.summaries, ladder_rungs(config), summary_styles(args.summaries), args.out, args.figures)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ppo.analysis.sweeps import write_sweep
    from ppo.workflow_config import variants

    config = json.loads(Path(args.config).read_text())
    points = {v.name: v.grid_point for v in variants(config).values() if v.sweep == args.name}
    if not points:
        raise ConfigError(f"--name={args.name!r} is not a sweep of the config; allowed: {', '.join(config.get('sweeps', {}))}")
    write_sweep(args.name, args.summaries, points, args.out, args.figures)
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    import subprocess

    import yaml

    from ppo.workflow_config import rerun_targets

    try:
        config = yaml.safe_load(Path(args.configfile).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"--configfile={args.configfile!r} does not exist; run from the workflow's directory"
        ) from None
    targets = rerun_targets(config, args.env, args.agent)
    command = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile", args.configfile]
    command += ["--forcerun", *targets] + (["--dry-run"] if args.dry_run else [])
    print(" ".join(command), file=sys.stderr)
    return subprocess.run(command).returncode


def cmd_rollout(args: argparse.Namespace) -> int:
    from ppo.analysis.video import write_rollout

    caption = write_rollout(args.env, args.agent, args.runs, args.out, args.max_gif_mb)
    print(json.dumps(caption))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ppo.analysis.report import write_report

    config = json.loads(Path(args.config).read_text())
    summaries = [Path(s) for s in args.summaries]
    rollouts = [Path(args.out) / args.root / "media" / s.name for s in summaries]
    extras = {
        name: Path(value)
        for name, value in (
            ("compare", args.compare),
            ("ladder", args.ladder),
            ("sweeps", args.sweeps),
            ("tuning", args.tuning),
            ("comparisons", args.comparisons),
        )
        if value
    }
    write_report(summaries, rollouts, config, Path(args.out), args.markdown, args.html or None, args.root, extras)
    return 0


def cmd_tuning_report(args: argparse.Namespace) -> int:
    from ppo.analysis.tuning import write_study_report

    result = write_study_report(
        args.study_dir, args.summary, args.tuned, args.base, args.out, args.figure, args.bootstrap_samples, args.random_state
    )
    tuned, base = result["tuned_fresh"], result["base_fresh"]
    print(f"{args.tuned}: IQM {tuned['iqm']:.1f} on the fresh seeds; {args.base}: {base['iqm']:.1f}", file=sys.stderr)
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from ppo.comparisons import Comparison
    from ppo.comparisons.files import write_wave

    comparison = Comparison.from_dict(json.loads(args.spec))
    record = write_wave(comparison, args.wave, args.runs, args.out)
    pairs = "; ".join(f"{' vs '.join(p['agents'])}: {p['decision']}" for p in record["pairs"])
    then = f"wave {record['next_wave']} for {', '.join(record['next_agents'])}" if record["next_wave"] else "finished"
    print(f"{comparison.name} after wave {args.wave}: {pairs}; {then}", file=sys.stderr)
    return 0


def cmd_decisions(args: argparse.Namespace) -> int:
    from ppo.comparisons.files import write_decisions

    write_decisions(args.waves, args.out, Path(args.out).with_suffix(".csv"))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ppo.run.atomic import check_writable_dir, write_json, write_text
    from ppo.speed import (
        DEFAULT_ENVS,
        SB3_MISSING,
        markdown_table,
        readme_table_span,
        replace_readme_table,
        run_speed_benchmark,
        sb3_available,
        speed_cases,
        speed_report,
    )

    env_ids = []
    for name in args.envs or DEFAULT_ENVS:
        env_id, notice = resolve_env_id(name)
        env_info(env_id)  # supported?
        if notice:
            print(notice, file=sys.stderr)
        env_ids.append(env_id)
    cases = speed_cases(tuple(env_ids), args.steps)
    readme = Path(args.readme).read_text() if args.readme else None
    if readme is not None:
        readme_table_span(readme)  # fails now, not after minutes of measuring, if the markers are missing
    check_writable_dir(Path(args.out).parent)
    with_sb3 = not args.no_sb3 and sb3_available()
    sb3_note = None if with_sb3 else ("Stable-Baselines3 left out (--no-sb3)" if args.no_sb3 else SB3_MISSING)
    if sb3_note:
        print(f"note: {sb3_note}", file=sys.stderr)
    results = run_speed_benchmark(
        cases, args.repeats, with_sb3, log=lambda line: print(line, file=sys.stderr), with_compile=not args.no_compile
    )
    command = " ".join(
        ["python -m ppo bench --envs", *env_ids]
        + ([f"--steps {args.steps}"] if args.steps else [])
        + [f"--repeats {args.repeats}"]
        + (["--no-sb3"] if args.no_sb3 else [])
        + (["--no-compile"] if args.no_compile else [])
    )
    report = speed_report(results, args.repeats, sb3_note, command)
    write_json(args.out, report)
    table = markdown_table(report)
    if readme is not None:
        write_text(args.readme, replace_readme_table(readme, table))
    print(table)
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from ppo.outside.export_onnx import export_run, export_sb3

    if args.vecnormalize and not args.sb3_model:
        raise ConfigError("--vecnormalize goes with --sb3-model (our runs keep their statistics in model.pt)")
    env_id, notice = resolve_env_id(args.env)
    if notice:
        print(notice, file=sys.stderr)
    info = env_info(env_id)
    if args.sb3_model:
        written = export_sb3(args.sb3_model, info, args.out, args.vecnormalize)
    else:
        written = export_run(args.run, info, args.out)
    print(json.dumps(written))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Logs -> one run directory (--out), or a results tree -> run directories (--out-root); see ppo/outside/importer.py."""
    from ppo.outside.episodes import EpisodeSource
    from ppo.outside.importer import import_logs, import_results_tree

    def pairs(values: list[str], flag: str) -> dict[str, str]:
        bad = [v for v in values if v.count("=") != 1 or not all(v.split("="))]
        if bad:
            raise ValueError(f"{flag} {bad[0]!r} is not a pair; allowed: NAME=OTHER")
        return dict(v.split("=") for v in values)

    logs_only = ("env", "agent", "seed", "label", "colour", "policy", "return_tag", "length_tag")
    if args.out_root:
        given = [f"--{k.replace('_', '-')}" for k in logs_only if getattr(args, k) is not None]
        given += ["--column"] if args.column else []
        if given:
            raise ValueError(
                f"{given[0]} is for importing logs (--out); a results tree (--out-root) takes --agent-suffix, --rename"
            )
        done = import_results_tree(
            args.source, args.out_root, agent_suffix=args.agent_suffix, rename=pairs(args.rename, "--rename")
        )
        for path in done.skipped:
            print(f"skipped {path}: no run.json (a run that did not finish)", file=sys.stderr)
        print(f"imported {len(done.written)} run directories into {args.out_root}", file=sys.stderr)
        return 0
    missing = [f"--{k}" for k in ("env", "agent", "seed") if getattr(args, k) is None]
    if missing:
        raise ValueError(f"importing logs needs {', '.join(missing)}; see python -m ppo import --help")
    if args.agent_suffix or args.rename:
        raise ValueError("--agent-suffix and --rename are for a results tree (--out-root); logs take --agent")
    spec = {"format": args.format, "columns": pairs(args.column, "--column")}
    spec |= {k: getattr(args, k) for k in ("return_tag", "length_tag") if getattr(args, k) is not None}
    run = import_logs(
        args.source, args.out, args.env, args.agent, args.seed,
        episodes=EpisodeSource.from_config(spec), label=args.label, colour=args.colour, policy=args.policy,
        final_episodes=args.final_eval_episodes,
    )  # fmt: skip
    final = run["final_eval"]
    score = (
        f"final return {final['mean_return']:.1f} over {final['episodes']} episodes"
        if final
        else "not evaluated (no policy.onnx)"
    )
    print(f"{run['agent']} {run['env']} seed {run['seed']}: {run['training_episodes']} episodes, {score}", file=sys.stderr)
    return 0


def cmd_run_external(args: argparse.Namespace) -> int:
    """One external agent's run: its command, then its logs and policy as an import (ppo/outside/runner.py)."""
    from ppo.outside.agents import external_agent
    from ppo.outside.runner import run_external

    agent = external_agent(args.agent, json.loads(args.spec), f"agents.{args.agent}")
    run = run_external(
        agent, args.env, args.seed, args.total_timesteps, args.out, args.program_dir,
        final_episodes=args.final_eval_episodes,
    )  # fmt: skip
    final = run["final_eval"]
    score = f"final return {final['mean_return']:.1f} over {final['episodes']} episodes" if final else "not evaluated"
    outside = run["outside"]
    origin = (
        f"the program ran {outside['wall_seconds']:.1f} s ({outside['cpu_seconds']:.1f} CPU s)"
        if outside["kind"] == "command"
        else f"imported from {outside['source']}"
    )
    print(
        f"{run['agent']} {run['env']} seed {run['seed']}: {run['training_episodes']} episodes, {score}; {origin}",
        file=sys.stderr,
    )
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "aggregate": cmd_aggregate,
    "plot": cmd_plot,
    "compare": cmd_compare,
    "ladder": cmd_ladder,
    "sweep": cmd_sweep,
    "rerun": cmd_rerun,
    "rollout": cmd_rollout,
    "report": cmd_report,
    "bench": cmd_bench,
    "tune": cmd_tune,
    "tuning-report": cmd_tuning_report,
    "decide": cmd_decide,
    "decisions": cmd_decisions,
    "import": cmd_import,
    "run-external": cmd_run_external,
    "export-onnx": cmd_export_onnx,
}
