# The input functions of compare_waves.smk (comparisons in waves, config `comparisons:`; ppo/comparisons): every
# agent of a comparison trains wave 1's seeds, a test decides each pair or asks for another wave, and the next wave
# trains only the agents of pairs still open. The test is a checkpoint: the next wave's jobs exist only once the
# record of the wave before it does. The runs are ordinary run directories made by the train rules, so a rerun
# reuses every finished one.
import json
import shlex

from ppo.comparisons import comparisons as comparison_specs
from ppo.comparisons.files import stale_record

COMPARISONS = {c.name: c for c in comparison_specs(config)}


def comparison_runs(name, wave, agents):
    """The run.json files of one wave of a comparison, for some of its agents."""
    c = COMPARISONS[name]
    return [
        f"{RUN_DIR.format(env=c.env, agent=agent, seed=seed)}/run.json"
        for agent in agents
        for seed in c.seeds(wave)
    ]


def wave_record(name, wave):
    """The record of a finished wave (made first, if need be: Snakemake re-plans after a checkpoint)."""
    path = checkpoints.compare_wave.get(name=name, k=wave).output[0]
    record = json.loads(Path(path).read_text())
    stale = stale_record(record, COMPARISONS[name], path)
    if stale:
        raise WorkflowError(stale)
    return path, record


def get_wave_runs(wildcards):
    """What the test after wave k reads: the runs the record of wave k - 1 used, then wave k's runs of the
    agents it named (every agent for wave 1)."""
    c, k = COMPARISONS[wildcards.name], int(wildcards.k)
    if k == 1:
        return comparison_runs(c.name, 1, c.agents)
    _, previous = wave_record(c.name, k - 1)
    if previous["next_wave"] != k:
        raise WorkflowError(
            f"comparison {c.name} was decided at wave {k - 1}: it has no wave {k}"
        )
    earlier = [f"{run['run']}/run.json" for run in previous["runs"]]
    return earlier + comparison_runs(c.name, k, previous["next_agents"])


def get_comparison_spec(wildcards):
    return shlex.quote(
        json.dumps(COMPARISONS[wildcards.name].to_dict(), sort_keys=True)
    )


def get_last_waves(wildcards):
    """Each comparison's last wave record: the first that decided every pair, or the last wave allowed."""
    last = []
    for name in COMPARISONS:
        wave = 1
        path, record = wave_record(name, wave)
        while record["next_wave"] is not None:
            wave = record["next_wave"]
            path, record = wave_record(name, wave)
        last.append(path)
    return last
