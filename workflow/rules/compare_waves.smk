# Comparisons in waves: a test after each wave (a checkpoint), then every comparison's decisions for the report.
# Its input functions: compare_waves_inputs.smk.


include: "compare_waves_inputs.smk"


checkpoint compare_wave:
    input:
        get_wave_runs,
    output:
        "results/comparisons/{name}/wave{k}.json",
    log:
        "logs/comparisons/{name}/wave{k}.log",
    wildcard_constraints:
        name="|".join(re.escape(name) for name in COMPARISONS) or "(?!)",
        k=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=get_comparison_spec,
        runs=get_run_dirs,
    shell:
        "python -m ppo decide --spec {params.spec} --wave {wildcards.k} --runs {params.runs} --out {output} "
        "> {log} 2>&1"


rule comparison_decisions:
    input:
        get_last_waves,
    output:
        json="results/comparisons/decisions.json",
        csv="results/comparisons/decisions.csv",
    log:
        "logs/comparisons/decisions.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m ppo decisions --waves {input} --out {output.json} > {log} 2>&1"
