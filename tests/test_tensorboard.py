"""TensorBoard scalars beside a run's CSVs (ppo/run/tensorboard.py): what a live view plots, once per update."""

import pandas as pd
import pytest

from ppo.cli import main

pytest.importorskip("tensorboard", reason="the tensorboard extra is part of the lock: CI has it")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_run_writes_its_curves_for_tensorboard(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--env", "CartPole-v1", "--agent", "ppo", "--seed", "0", "--quiet", "--out", str(out)]
    args += ["--total-timesteps", "4096", "--eval-every", "1024", "--eval-episodes", "2", "--final-eval-episodes", "3"]
    assert main(args) == 0
    logged = scalars(out / "tensorboard")
    for tag in ("train/episode_return", "update/policy_loss", "update/value_loss", "update/approx_kl",
                "update/clip_fraction", "update/entropy", "speed/steps_per_second"):  # fmt: skip
        assert logged.get(tag), f"{tag} missing: {sorted(logged)}"
    # Evaluations: the same steps and means as evals.csv.
    evals = pd.read_csv(out / "evals.csv")
    periodic = evals[evals.phase == "periodic"].groupby("step")["return"].mean()
    assert [step for step, _ in logged["eval/mean_return"]] == list(periodic.index)
    assert [value for _, value in logged["eval/mean_return"]] == pytest.approx(list(periodic.values))
    final = evals[evals.phase == "final"]["return"].mean()
    assert logged["eval/final_mean_return"] == [(4096, pytest.approx(final))]
    # One point per update (16 rollouts of the preset's 8 x 32) for the update's diagnostics, none at step 0.
    assert [step for step, _ in logged["update/approx_kl"]] == list(range(256, 4097, 256))
