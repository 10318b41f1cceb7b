# Tuning studies (config `tuning:`; ppo/tuning): `workers` jobs per study share one Optuna storage (a journal
# file under results/tuning/<study>/, not a declared output: it is the study itself, kept across reruns) and run
# trials until the study holds its finished trials; then best.yaml, which the tuned variant's training reads.
# The study keeps the settings it was made with: the config check refuses a changed study whose journal exists
# (delete results/tuning/<study>/ or rename it), so a rerun never mixes two searches.


rule tune_worker:
    output:
        "results/tuning/{study}/workers/{worker}.json",
    log:
        "logs/tuning/{study}/worker{worker}.log",
    benchmark:
        "results/benchmarks/tuning/{study}/worker{worker}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=tuning_runtime_minutes,
    params:
        args=get_study_arguments,
        out=subpath(output[0], ancestor=2),
    shell:
        "python -m ppo tune {params.args} --out {params.out} --worker {wildcards.worker} --marker {output} "
        "> {log} 2>&1"


rule tune_best:
    input:
        get_study_workers,
    output:
        best="results/tuning/{study}/best.yaml",
        trials="results/tuning/{study}/trials.csv",
        importances="results/tuning/{study}/importances.csv",
        summary="results/tuning/{study}/study.json",
    log:
        "logs/tuning/{study}/best.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        args=get_study_arguments,
        out=subpath(output.best, parent=True),
    shell:
        "python -m ppo tune {params.args} --out {params.out} --export-only > {log} 2>&1"


rule tuning_report:
    input:
        summary="results/tuning/{study}/study.json",
        trials="results/tuning/{study}/trials.csv",
        importances="results/tuning/{study}/importances.csv",
        runs=get_study_env_summary,
    output:
        verdict="results/tuning/{study}/verdict.json",
        figure="report/figures/tuning/{study}.png",
    log:
        "logs/tuning/{study}/report.log",
    # With its env's summary and page: the page shows the verdict, and the verdict reads the summary.
    group:
        "report"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        study_dir=subpath(input.summary, parent=True),
        env_summary=subpath(input.runs, parent=True),
        base=get_study_base,
        samples=config["statistics"]["bootstrap_samples"],
        random_state=config["statistics"]["random_state"],
    shell:
        "python -m ppo tuning-report --study-dir {params.study_dir} --summary {params.env_summary} "
        "--tuned {wildcards.study} --base {params.base} --out {output.verdict} --figure {output.figure} "
        "--bootstrap-samples {params.samples} --random-state {params.random_state} > {log} 2>&1"
