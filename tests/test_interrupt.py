"""A training process killed part-way leaves nothing that looks complete, and a rerun completes it
with the same logs as an uninterrupted run."""

import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

RUN_FILES = ("episodes.csv", "evals.csv", "model.pt", "run.json")


def train_command(out, steps, *extra):
    return [sys.executable, "-m", "ppo", "train", "--env", "CartPole-v1", "--agent", "ppo", "--seed", "7",
            "--out", str(out), "--total-timesteps", str(steps), "--final-eval-episodes", "5", *extra]  # fmt: skip


def logs(run_dir):
    return [pd.read_csv(run_dir / name).drop(columns="wall_s") for name in ("episodes.csv", "evals.csv")]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_killed_training_leaves_no_complete_looking_files_and_reruns_identically(tmp_path, sig, code):
    out = tmp_path / "run"
    # A shell without job control starts background commands with SIGINT ignored, and a child inherits that
    # (Python then never raises KeyboardInterrupt): give the child the default disposition, as a terminal would.
    process = subprocess.Popen(
        train_command(out, 200_000, "--eval-every", "512"),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Wait until training is under way (the step-0 evaluation is logged), then interrupt it.
    for line in process.stderr:
        if "periodic evaluation at step" in line and "step 0:" not in line:
            break
    time.sleep(0.5)
    process.send_signal(sig)
    # communicate() keeps reading stderr: a child blocked on a full pipe could not write its last message.
    process.communicate(timeout=60)
    assert process.returncode == code
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not any(name in left for name in RUN_FILES) and not any(".tmp" in name for name in left), left

    # SIGTERM left a checkpoint of the 200k-step run (see test_resume.py); this rerun is another run: start over.
    subprocess.run(train_command(out, 8192, "--no-resume"), check=True, capture_output=True)
    subprocess.run(train_command(tmp_path / "reference", 8192), check=True, capture_output=True)
    assert all((out / name).stat().st_size > 0 for name in RUN_FILES)
    for rerun, reference in zip(logs(out), logs(tmp_path / "reference")):
        pd.testing.assert_frame_equal(rerun, reference)
