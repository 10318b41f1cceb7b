rule resolved_config:
    output:
        "results/config.json",
    log:
        "logs/resolved_config.log",
    localrule: True
    params:
        config=config,
    run:
        from ppo.run.atomic import write_json

        write_json(output[0], params.config)


rule env_report:
    input:
        unpack(lambda wildcards: get_report_inputs([wildcards.env])),
    output:
        "report/envs/{env}.md",
    log:
        "logs/report/{env}.log",
    benchmark:
        "results/benchmarks/report/{env}.tsv"
    group:
        "report"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        summaries=get_summary_dirs,
        tuning=get_tuning_option,
    shell:
        "python -m ppo report --summaries {params.summaries} --config {input.config} --out report/envs "
        "--markdown {wildcards.env}.md --html '' --root ../ {params.tuning} > {log} 2>&1"


rule report:
    input:
        unpack(lambda wildcards: get_report_inputs(ENVS, compare=True)),
    output:
        markdown="report/README.md",
        html=report(
            "report/index.html", caption="../report/index.rst", category="Report"
        ),
    log:
        "logs/report/all.log",
    benchmark:
        "results/benchmarks/report/all.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        summaries=get_summary_dirs,
        out=subpath(output.markdown, parent=True),
        extras=get_report_extras,
    shell:
        "python -m ppo report --summaries {params.summaries} --config {input.config} --out {params.out} "
        "{params.extras} > {log} 2>&1"
