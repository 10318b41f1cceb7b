"""Checkpoints and resume: a killed run goes on from its last checkpoint, with complete, gap-free logs."""

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from test_interrupt import train_command

from ppo.cli import main
from ppo.run.directory import CHECKPOINT

pytestmark = pytest.mark.slow


def start(out, steps, *extra):
    return subprocess.Popen(train_command(out, steps, "--eval-every", "2048", *extra), stderr=subprocess.PIPE, text=True)


def wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def check_gap_free(run_dir, total_steps):
    episodes, evals = (pd.read_csv(run_dir / name) for name in ("episodes.csv", "evals.csv"))
    assert episodes["episode"].tolist() == list(range(len(episodes)))  # numbered once each, in order
    assert episodes["step"].is_monotonic_increasing and episodes["wall_s"].is_monotonic_increasing
    periodic = evals[evals.phase == "periodic"].groupby("step").size()
    assert periodic.index.tolist() == list(range(0, total_steps + 1, 2048))  # every evaluation step exactly once
    assert (periodic == periodic.iloc[0]).all()


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path):
    out, steps = tmp_path / "run", 16_384
    process = start(out, steps, "--checkpoint-iterations", "8")
    wait_for(out / CHECKPOINT)
    time.sleep(0.3)
    process.kill()  # SIGKILL: no handler runs, no checkpoint is written on the way out
    process.communicate(timeout=30)
    assert not (out / "run.json").exists()

    rerun = subprocess.run(train_command(out, steps, "--eval-every", "2048", "--checkpoint-iterations", "8"),
                           capture_output=True, text=True)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    resumed = [line for line in rerun.stderr.splitlines() if line.startswith("resuming from the checkpoint at step")]
    assert len(resumed) == 1, rerun.stderr
    step = int(resumed[0].split("step ")[1].split()[0])
    run = json.loads((out / "run.json").read_text())
    assert run["resumed_at_steps"] == [step] and 0 < step < steps
    assert run["total_steps"] == steps and not (out / CHECKPOINT).exists()
    check_gap_free(out, steps)


def test_sigterm_saves_a_checkpoint_before_exiting(tmp_path):
    out = tmp_path / "run"
    process = start(out, 200_000)  # default interval (5 minutes): only SIGTERM can cause a checkpoint
    for line in process.stderr:
        if "periodic evaluation at step" in line and "step 0:" not in line:
            break
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    assert (out / CHECKPOINT).exists() and not (out / "run.json").exists()


def test_a_checkpoint_of_other_settings_is_refused_and_no_resume_starts_over(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--env", "CartPole-v1", "--agent", "ppo", "--seed", "1", "--out", str(out), "--quiet"]
    args += ["--final-eval-episodes", "2", "--checkpoint-iterations", "1"]
    process = subprocess.Popen([sys.executable, "-m", "ppo", *args, "--total-timesteps", "200000"], stderr=subprocess.PIPE)
    wait_for(out / CHECKPOINT)
    process.kill()
    process.communicate(timeout=30)
    other = [*args, "--total-timesteps", "4096"]
    assert main(other) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "was saved by a run with another hyperparameters" in err and "--no-resume" in err
    assert not (out / "run.json").exists()
    assert main([*other, "--no-resume"]) == 0
    assert json.loads((out / "run.json").read_text())["resumed_at_steps"] == []


@pytest.fixture
def busy_other_core():
    """A busy loop on the other core for the duration of a test: a signal test must pass under load, where a
    signal lands at other bytecodes than on an idle machine."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    busy.kill()
    busy.wait()


def seconds_to_stop_on_sigterm(process: subprocess.Popen, hung: str, timeout: float = 60) -> float:
    """SIGTERM, then the seconds until the process exits; the test fails with `hung` if it is still running after
    `timeout` (then it is killed, so a hang never outlives the test)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{hung} (killed after {timeout:.0f} s)")
    return time.monotonic() - started


# Repeats of the SIGTERM test: without the safe points, a signal landing inside TensorBoard's writer queue hung the
# run in 2 of 9 attempts under load (then the run waits forever joining the writer's thread); ten repeats, each with
# its own delay into the run, catch that with probability ~0.9.
SIGTERM_REPEATS = 10


def test_an_agent_without_checkpoints_exits_at_once_on_sigterm_wherever_it_lands(tmp_path, busy_other_core):
    for attempt in range(SIGTERM_REPEATS):
        out = tmp_path / f"random{attempt}"
        command = [sys.executable, "-m", "ppo", "train", "--env", "CartPole-v1", "--agent", "random", "--seed", "0",
                   "--out", str(out), "--total-timesteps", "5000000", "--eval-every", "4096"]  # fmt: skip
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        for line in process.stderr:
            if "periodic evaluation at step" in line and "step 0:" not in line:
                break
        time.sleep(0.037 * attempt)  # a different point of the loop each attempt
        seconds = seconds_to_stop_on_sigterm(process, f"attempt {attempt}: the run hung after SIGTERM")
        assert process.returncode == 143, f"attempt {attempt}: exit {process.returncode}"
        assert seconds < 10, f"attempt {attempt}: {seconds:.1f} s to stop"
        assert not (out / "run.json").exists() and not (out / CHECKPOINT).exists()


def test_sigterm_during_the_final_evaluation_stops_a_checkpointing_agent_at_once(tmp_path):
    """After its loop a checkpointing agent saves no more: a SIGTERM in its final evaluation (minutes on Atari) stops
    it at the next evaluation step, instead of waiting for a save that never comes (then SIGKILL)."""
    out = tmp_path / "run"
    process = start(out, 4096, "--eval-every", "4096", "--final-eval-episodes", "20000")
    for line in process.stderr:
        if "periodic evaluation at step 4096" in line:  # the last one: the final evaluation follows
            break
    time.sleep(1.0)
    seconds = seconds_to_stop_on_sigterm(process, "the final evaluation went on after SIGTERM")
    assert process.returncode == 143 and seconds < 10
    assert not (out / "run.json").exists()
