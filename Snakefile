# ppo-bench: PPO agents and random baselines on Gymnasium envs, evaluated, aggregated, plotted and
# reported. `snakemake --cores 8` runs the full benchmark; see README.md for one env on its own.
from snakemake.utils import min_version

min_version("9.0")


# The default config unless --configfile names others: Snakemake merges config files key by key, so a
# --configfile on top of this one would inherit its envs.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/compare_waves.smk"
include: "workflow/rules/summarize.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
