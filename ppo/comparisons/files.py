"""The comparisons' files: one record per comparison and finished wave (results/comparisons/NAME/waveK.json, read
by the workflow to plan the next wave), and the decisions of every comparison (results/comparisons/decisions.json
and .csv, read by the report)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ppo.comparisons.decide import decide
from ppo.comparisons.spec import Comparison
from ppo.run.atomic import write_json, write_text
from ppo.run.directory import read_run_json

CSV_COLUMNS = (
    "comparison", "env", "agent", "other", "decision", "decided_at", "waves_used", "runs_used", "runs_max", "alpha",
    "statistic", "boundary", "mean_agent", "mean_other",
)  # fmt: skip


def wave_record(comparison: Comparison, wave: int, run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """The test after `wave` over the runs of waves 1..wave (their run.json: agent, seed, final_eval.mean_return).
    Raises ValueError for a run of another env, agent or seed, or when the runs are not exactly the waves' runs
    of the agents that needed them."""
    c = comparison
    runs = []
    for run_dir in run_dirs:
        meta = read_run_json(run_dir)
        where = f"{run_dir}/run.json"
        if meta["env"] != c.env or meta["agent"] not in c.agents:
            raise ValueError(f"{where}: a run of {meta['agent']} on {meta['env']}; allowed: {', '.join(c.agents)} on {c.env}")
        run_wave = c.wave_of(meta["seed"])
        if run_wave is None or run_wave > wave:
            allowed = f"{c.seeds(1)[0]} .. {c.seeds(wave)[-1]}"
            raise ValueError(f"{where}: seed {meta['seed']} is not a seed of waves 1..{wave} of {c.name}; allowed: {allowed}")
        if meta.get("final_eval") is None:  # e.g. an external program that left no policy: no score to compare
            raise ValueError(f"{where}: the run has no final evaluation by ppo-bench, so no score; allowed: evaluated runs")
        score = meta["final_eval"]["mean_return"]
        runs.append({"agent": meta["agent"], "wave": run_wave, "seed": meta["seed"], "score": score, "run": str(run_dir)})
    runs.sort(key=lambda r: (c.agents.index(r["agent"]), r["seed"]))
    scores: dict[str, list[list[float]]] = {agent: [] for agent in c.agents}
    for agent in c.agents:
        for k in range(1, wave + 1):
            wave_scores = [r["score"] for r in runs if r["agent"] == agent and r["wave"] == k]
            if wave_scores:
                scores[agent].append(wave_scores)
    result = decide(c, scores)
    if result["waves_done"] != wave:
        raise ValueError(f"{c.name}: the runs given end at wave {result['waves_done']}, not at wave {wave}")
    next_seeds = c.seeds(result["next_wave"]) if result["next_wave"] else []
    return {"comparison": c.to_dict(), **result, "next_seeds": next_seeds, "runs": runs}


def stale_record(record: dict[str, Any], comparison: Comparison, path: str | Path) -> str | None:
    """One line if a wave record was decided under settings other than the comparison's now (its alpha, waves,
    seeds...), naming the first difference and how to decide afresh; else None. A decision is only as good as
    the settings it was made under, and Snakemake may not notice they changed (--rerun-triggers mtime, a lost
    .snakemake folder)."""
    then, now = record.get("comparison") or {}, comparison.to_dict()
    changed = next((key for key in now if key != "label" and then.get(key) != now[key]), None)  # a label is a name
    if changed is None:
        return None
    return (
        f"{path} was decided with {changed}={then.get(changed)!r}, and comparison {comparison.name} now has "
        f"{changed}={now[changed]!r}; delete {Path(path).parent} to decide afresh (finished runs are kept)"
    )


def write_wave(comparison: Comparison, wave: int, run_dirs: Sequence[str | Path], out: str | Path) -> dict[str, Any]:
    record = wave_record(comparison, wave, run_dirs)
    write_json(out, record)
    return record


def write_decisions(wave_files: Sequence[str | Path], out_json: str | Path, out_csv: str | Path) -> list[dict[str, Any]]:
    """Every comparison's last wave record, as decisions.json ({"comparisons": [...]}, each with its pairs and the
    runs it used, with their wave and seed) and one CSV row per pair (CSV_COLUMNS)."""
    records = [json.loads(Path(path).read_text()) for path in wave_files]
    rows = []
    for record in records:
        c = record["comparison"]
        for pair in record["pairs"]:
            means = [_mean(pair_scores(record, pair, agent)) for agent in pair["agents"]]
            rows.append([c["name"], c["env"], *pair["agents"], pair["decision"], pair["decided_at"], pair["waves_used"],
                         pair["runs_used"], pair["runs_max"], pair["alpha"], pair["statistic"], pair["boundary"],
                         *means])  # fmt: skip
    write_json(out_json, {"comparisons": records})
    lines = [",".join(CSV_COLUMNS)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    write_text(out_csv, "\n".join(lines) + "\n")
    return records


def pair_scores(record: dict[str, Any], pair: dict[str, Any], agent: str) -> list[float]:
    """The scores of `agent` the pair's test used: its runs of the waves up to the pair's last (the first agent
    may have run more waves, for the family's other pairs)."""
    return [r["score"] for r in record["runs"] if r["agent"] == agent and r["wave"] <= pair["waves_used"]]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
