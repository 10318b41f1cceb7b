rule aggregate:
    input:
        lambda wildcards: get_env_runs(wildcards.env),
    output:
        table="results/summary/{env}/table.csv",
        meta="results/summary/{env}/meta.json",
        episodes="results/summary/{env}/episodes.csv",
        curves="results/summary/{env}/eval_curves.csv",
        grid="results/summary/{env}/curves_grid.csv",
        final="results/summary/{env}/final.csv",
        runs="results/summary/{env}/runs.csv",
    log:
        "logs/aggregate/{env}.log",
    benchmark:
        "results/benchmarks/aggregate/{env}.tsv"
    group:
        "report"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=get_run_dirs,
        out=subpath(output.table, parent=True),
        samples=config["statistics"]["bootstrap_samples"],
        random_state=config["statistics"]["random_state"],
        display=lambda wildcards: display_arguments(config, wildcards.env),
    shell:
        "python -m ppo aggregate --env {wildcards.env} --runs {params.runs} --out {params.out} {params.display} "
        "--bootstrap-samples {params.samples} --random-state {params.random_state} > {log} 2>&1"


rule compare:
    input:
        expand("results/summary/{env}/runs.csv", env=ENVS),
    output:
        tables=expand("results/compare/{name}.csv", name=COMPARE_TABLES),
        figures=expand("report/figures/compare/{name}.png", name=COMPARE_FIGURES),
    log:
        "logs/compare.log",
    benchmark:
        "results/benchmarks/compare.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        summaries=get_run_dirs,
        samples=config["statistics"]["bootstrap_samples"],
        random_state=config["statistics"]["random_state"],
    shell:
        "python -m ppo compare --summaries {params.summaries} --out results/compare --figures report/figures/compare "
        "--bootstrap-samples {params.samples} --random-state {params.random_state} > {log} 2>&1"


rule ladder:
    input:
        config="results/config.json",
        tables=summary_files(LADDER_ENVS),
    output:
        table="results/ladder/ladder.csv",
        figures=expand("report/figures/ladder/{env}.png", env=LADDER_ENVS),
    log:
        "logs/ladder.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        summaries=lambda wildcards, input: parent_dirs(input.tables),
    shell:
        "python -m ppo ladder --summaries {params.summaries} --config {input.config} --out results/ladder "
        "--figures report/figures/ladder > {log} 2>&1"


rule sweep:
    input:
        config="results/config.json",
        tables=lambda wildcards: summary_files(
            config["sweeps"][wildcards.sweep]["envs"]
        ),
    output:
        table="results/sweeps/{sweep}.csv",
        figure="report/figures/sweeps/{sweep}.png",
    log:
        "logs/sweeps/{sweep}.log",
    wildcard_constraints:
        sweep="|".join(SWEEPS) or "(?!)",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        summaries=lambda wildcards, input: parent_dirs(input.tables),
    shell:
        "python -m ppo sweep --name {wildcards.sweep} --summaries {params.summaries} --config {input.config} "
        "--out results/sweeps --figures report/figures/sweeps > {log} 2>&1"


rule plot:
    input:
        rules.aggregate.output,
    output:
        report(
            "report/figures/{env}/episode_rewards.png",
            caption="../report/episode_rewards.rst",
            category="{env}",
        ),
        report(
            "report/figures/{env}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="{env}",
        ),
        report(
            "report/figures/{env}/final_returns.png",
            caption="../report/final_returns.rst",
            category="{env}",
        ),
        report(
            "report/figures/{env}/wall_clock.png",
            caption="../report/wall_clock.rst",
            category="{env}",
        ),
    log:
        "logs/plot/{env}.log",
    benchmark:
        "results/benchmarks/plot/{env}.tsv"
    group:
        "report"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        summary=lambda wildcards, input: str(Path(input[0]).parent),
        out=lambda wildcards, output: str(Path(output[0]).parent),
        random_state=config["statistics"]["random_state"],
    shell:
        "python -m ppo plot --summary {params.summary} --out {params.out} "
        "--random-state {params.random_state} > {log} 2>&1"


rule rollout:
    input:
        lambda wildcards: [
            f"{RUN_DIR.format(env=wildcards.env, agent=wildcards.agent, seed=seed)}/run.json"
            for seed in SEEDS
        ],
        models=get_rollout_models,
    output:
        mp4=report(
            "report/media/{env}/{agent}.mp4",
            caption="../report/rollout.rst",
            category="{env}",
        ),
        gif="report/media/{env}/{agent}.gif",
        caption="report/media/{env}/{agent}.json",
    log:
        "logs/rollout/{env}/{agent}.log",
    benchmark:
        "results/benchmarks/rollout/{env}/{agent}.tsv"
    group:
        "report"
    conda:
        agent_conda_env
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        runs=get_run_dirs,
        out=subpath(output.caption, parent=True),
        max_gif_mb=config["rollouts"]["max_gif_mb"],
    shell:
        "python -m ppo rollout --env {wildcards.env} --agent {wildcards.agent} --runs {params.runs} "
        "--out {params.out} --max-gif-mb {params.max_gif_mb} > {log} 2>&1"
