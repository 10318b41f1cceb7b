import pytest

from ppo.cli import main

BASE = ["train", "--agent", "ppo", "--seed", "0", "--quiet", "--total-timesteps", "1024"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "CartPol-v1"], "error: unknown env id 'CartPol-v1'; did you mean CartPole-v1"),
        (["--env", "Blackjack-v1"], "has observations Tuple(Discrete(32), Discrete(11), Discrete(2)); supported: flat Box"),
        (["--env", "PPOBenchMultiDiscrete-v0"], "has action space MultiDiscrete([2 3]); supported: Discrete or a 1-D Box"),
        (["--env", "CartPole-v1", "--set", "lr=0.1"], "unknown hyperparameter 'lr'"),
        (["--env", "CartPole-v1", "--set", "device=cuda"], "device='cuda' applies to image (CNN) policies"),
        (["--env", "CartPole-v1", "--set", "device=tpu"], "device='tpu' is out of range; allowed: cpu | cuda | cuda:N | mps"),
        (
            ["--env", "CartPole-v1", "--set", "compile=sometimes"],
            "compile='sometimes' is out of range; allowed: auto | on | off",
        ),
        (["--env", "CartPole-v1", "--set", "learning_rate=fast"], "learning_rate='fast' has the wrong type; allowed: float"),
        (["--env", "CartPole-v1", "--set", "clip_range=-1"], "clip_range=-1 is out of range; allowed: > 0"),
        (["--env", "CartPole-v1", "--set", "batch_size=100000"], "batch_size=100000 is out of range"),
        (["--env", "CartPole-v1", "--set", "gamma"], "--set 'gamma' is not key=value"),
        (
            ["--env", "CartPole-v1", "--set", "net_arch=64"],
            "net_arch=64 has the wrong type; allowed: a non-empty list of positive",
        ),
        (["--env", "CartPole-v1", "--set", "learning_rate=inf"], "learning_rate=inf is not finite; allowed: a finite number"),
        (["--env", "CartPole-v1", "--set", "log_std_init=.nan"], "log_std_init=nan is not finite; allowed: a finite number"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main([*BASE, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], "argument --seed: -1 is negative; allowed: integers >= 0"),
        (
            ["--seed", "99999999999999999999"],
            "argument --seed: 99999999999999999999 is too large; allowed: integers 0 .. 4294967295",
        ),
        (["--checkpoint-minutes", "0"], "argument --checkpoint-minutes: 0 is not a positive number"),
        (["--agent", "dqn"], "argument --agent: invalid choice: 'dqn'"),
        (["--total-timesteps", "0"], "argument --total-timesteps: 0 is not positive"),
    ],
)
def test_argument_errors_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main([*BASE, "--env", "CartPole-v1", "--out", str(tmp_path / "run"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main([*BASE, "--env", "CartPole-v1", "--out", str(blocker / "run")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_evaluate_refuses_a_model_from_another_env(tmp_path, capsys):
    assert main([*BASE, "--env", "CartPole-v1", "--out", str(tmp_path / "cp"), "--final-eval-episodes", "2"]) == 0
    assert main(["evaluate", "--run", str(tmp_path / "cp"), "--env", "Acrobot-v1", "--episodes", "2"]) == 2
    assert (
        "was trained on CartPole-v1 (obs size 4, actions 2 discrete); Acrobot-v1 needs obs size 6 and actions 3 discrete"
        in capsys.readouterr().err
    )


def test_evaluate_needs_a_finished_run(tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path / "nothing")]) == 2
    assert "run.json is missing" in capsys.readouterr().err


def test_help_lists_every_hyperparameter(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name in ("n_envs", "clip_range_vf", "max_grad_norm", "net_arch", "lr_schedule"):
        assert name in out


def test_nan_observation_stops_training_with_the_step_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--env", "PPOBenchNaN-v0", "--agent", "ppo", "--seed", "0", "--out", str(out), "--quiet"]
    assert main([*args, "--set", "n_envs=2", "--set", "n_steps=16", "--set", "batch_size=32"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: training stopped: non-finite observation or reward from the env in steps 0..32"
    assert list(out.iterdir()) == []
