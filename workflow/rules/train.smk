rule train:
    input:
        unpack(get_train_inputs),
    output:
        episodes=f"{RUN_DIR}/episodes.csv",
        evals=f"{RUN_DIR}/evals.csv",
        run=f"{RUN_DIR}/run.json",
        model=f"{RUN_DIR}/model.pt",
    log:
        "logs/train/{env}/{agent}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{env}/{agent}/seed{seed}.tsv"
    wildcard_constraints:
        agent=TORCH_MODEL_AGENTS,
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=train_runtime_minutes,
    params:
        args=get_train_arguments,
        variant_file=get_variant_file_option,
        out=subpath(output.run, parent=True),
    shell:
        "python -m ppo train --env {wildcards.env} --seed {wildcards.seed} --out {params.out} {params.args} "
        "{params.variant_file} > {log} 2>&1"


use rule train as train_random with:
    output:
        episodes=f"{RUN_DIR}/episodes.csv",
        evals=f"{RUN_DIR}/evals.csv",
        run=f"{RUN_DIR}/run.json",
    wildcard_constraints:
        agent=NO_MODEL_AGENTS,


# Stable-Baselines3's PPO (a peer): its model in SB3's own format, and its own software environment.
use rule train as train_sb3 with:
    output:
        episodes=f"{RUN_DIR}/episodes.csv",
        evals=f"{RUN_DIR}/evals.csv",
        run=f"{RUN_DIR}/run.json",
        model=f"{RUN_DIR}/model.zip",
        # VecNormalize's statistics (a pickled None when the run does not normalize): evaluation refuses without it.
        normalizer=f"{RUN_DIR}/vec_normalize.pkl",
    wildcard_constraints:
        agent=SB3_MODEL_AGENTS,
    conda:
        "../envs/peers.yaml"


# An external agent (config `agents:` entry with a `command:`; docs/bring-your-own.md): its program trains in a
# directory of its own, then ppo-bench reads its episodes and plays its ONNX policy (python -m ppo run-external).
rule train_external:
    output:
        episodes=f"{RUN_DIR}/episodes.csv",
        evals=f"{RUN_DIR}/evals.csv",
        run=f"{RUN_DIR}/run.json",
        policy=f"{RUN_DIR}/policy.onnx",
    log:
        "logs/train/{env}/{agent}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{env}/{agent}/seed{seed}.tsv"
    wildcard_constraints:
        agent=EVALUATED_EXTERNALS,
    # ppo-bench's environment runs the job (the evaluation, export-onnx for an SB3 model: the peers' one, which has
    # Stable-Baselines3); the program names its own in its command.
    conda:
        "../envs/peers.yaml"
    threads: lambda wildcards: EXTERNALS[wildcards.agent].threads
    resources:
        mem_mb=lambda wildcards: EXTERNALS[wildcards.agent].mem_mb,
        runtime=train_runtime_minutes,
    params:
        args=get_external_arguments,
        program_dir=get_program_dir,
        out=subpath(output.run, parent=True),
    shell:
        "python -m ppo run-external --env {wildcards.env} --seed {wildcards.seed} --out {params.out} "
        "--program-dir {params.program_dir} {params.args} > {log} 2>&1"


# The same for a program that leaves no policy: its training curve only, marked "not evaluated by ppo-bench".
use rule train_external as train_external_unevaluated with:
    output:
        episodes=f"{RUN_DIR}/episodes.csv",
        evals=f"{RUN_DIR}/evals.csv",
        run=f"{RUN_DIR}/run.json",
    wildcard_constraints:
        agent=UNEVALUATED_EXTERNALS,
