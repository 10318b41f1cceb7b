"""What a finished study leaves for the workflow and the report, each file written atomically:

- `best.yaml`: the best trial as a variant entry, `{name: {base, label, hyperparameters}}`, that can be pasted
  into a config's `agents:` (its hyperparameters are the base variant's, if any, and the trial's sampled ones;
  never the trial budget: the variant runs at the env's own).
- `trials.csv`: one row per trial (number, state, value, seconds, worker, every sampled parameter).
- `importances.csv`: Optuna's parameter importances (fANOVA) over the complete trials.
- `study.json`: counts by state, core-minutes and wall time, the best trial, the seeds, the budget, the space.

The study is opened with the settings it was made with or not at all (study.open_study): what these files declare
(budget, seeds, space) is what every one of its trials ran with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ppo.run.atomic import write_json, write_text
from ppo.tuning.space import describe
from ppo.tuning.study import StudySettings, open_study


def tuned_variant(settings: StudySettings, best_hyperparameters: dict[str, Any]) -> dict[str, Any]:
    hyperparameters = {**settings.base_overrides, **best_hyperparameters}
    hyperparameters.pop("total_timesteps", None)
    entry = {"base": settings.agent, "label": settings.label or f"PPO tuned ({settings.name})"}
    if settings.colour:
        entry["colour"] = settings.colour
    entry["hyperparameters"] = hyperparameters
    return {settings.name: entry}


def trial_rows(study) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue  # asked by a worker after the study was full, never run
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        )
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "seconds": seconds,
            "worker": t.user_attrs.get("worker"),
            "retry_of": t.user_attrs.get("retry_of"),
        }
        row.update({f"param_{k}": v for k, v in sorted(t.params.items())})
        rows.append(row)
    return rows


def export_study(settings: StudySettings, out_dir: str | Path) -> dict[str, Any]:
    """Write the four files of a study into out_dir; returns study.json's content. Raises ValueError when the
    study has no complete trial (nothing to export)."""
    import optuna
    import pandas as pd

    out_dir = Path(out_dir)
    study = open_study(settings)
    rows = trial_rows(study)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        raise ValueError(f"study {settings.name!r} in {settings.storage} has no complete trial; run its workers first")
    best = study.best_trial
    states = pd.Series([r["state"] for r in rows], dtype=object)
    seconds = [r["seconds"] for r in rows if r["seconds"] is not None]
    starts = [
        t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start and not t.user_attrs.get("surplus")
    ]
    ends = [t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete]
    try:
        importances = optuna.importance.get_param_importances(study) if len(complete) >= 2 else {}
    except (RuntimeError, ValueError):  # e.g. every complete trial with the same parameters
        importances = {}
    summary = {
        "study": settings.name,
        "env": settings.env_id,
        "base": settings.base_label,
        "agent": settings.agent,
        "trials": settings.trials,
        "complete": int((states == "COMPLETE").sum()),
        "pruned": int((states == "PRUNED").sum()),
        "failed": int((states == "FAIL").sum()),
        "core_minutes": sum(seconds) / 60,  # every trial runs on one core
        "wall_minutes": (max(ends) - min(starts)).total_seconds() / 60 if ends and starts else None,
        "best_trial": best.number,
        "best_value": best.value,
        "best_seed_scores": best.user_attrs.get("seed_scores"),
        # The base's own settings, the study's first trial (None if it did not complete, e.g. pruned).
        "base_trial_value": next(
            (t.value for t in complete if t.user_attrs.get("base_point") and t.user_attrs.get("retry_of") is None), None
        ),
        "seeds": list(settings.seeds),
        "total_timesteps": settings.total_timesteps,
        "sampler": f"TPE (multivariate), seed {settings.sampler_seed} + worker",
        "pruner": (
            f"median, from {settings.startup_trials} finished trials on, after {settings.prune_after:.0%} of the budget; "
            f"every trial at the same evaluation points (every {settings.evaluation.every} steps)"
        ),
        "eval_every": settings.evaluation.every,
        "space": [list(row) for row in describe(settings.space, *settings.policy)],
        "best_hyperparameters": best.user_attrs.get("hyperparameters", {}),
        "base_hyperparameters": settings.base_hyperparameters().to_dict(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "trials.csv", pd.DataFrame(rows).to_csv(index=False))
    write_text(
        out_dir / "importances.csv",
        pd.DataFrame(list(importances.items()), columns=["parameter", "importance"]).to_csv(index=False),
    )
    write_json(out_dir / "study.json", summary)
    variant = tuned_variant(settings, best.user_attrs.get("hyperparameters", {}))
    header = (
        f"# Study {settings.name}: best of {summary['complete'] + summary['pruned']} finished trials on {settings.env_id}, "
        f"tuning seeds {list(settings.seeds)} at {settings.total_timesteps} steps each (trial {best.number}: "
        f"{best.value:.2f}).\n# Paste under `agents:` to run it as a variant.\n"
    )
    write_text(out_dir / "best.yaml", header + yaml.safe_dump(variant, sort_keys=False, default_flow_style=None))
    return summary


def read_variant(path: str | Path, name: str) -> dict[str, Any]:
    """The variant entry `name` of a best.yaml: {base, label, hyperparameters}."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or name not in data:
        raise ValueError(f"{path} has no variant {name!r}; it holds {sorted(data) if isinstance(data, dict) else data!r}")
    return data[name]
