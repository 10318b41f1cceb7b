"""The compiled update (ppo/agents/ppo/compiled.py): the same PPO math as the eager one, one graph for the whole
run, a failed compile falls back to eager in one warning line, and the auto rule compiles only long runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from ppo.agents import resolve
from ppo.agents.ppo import compiled
from ppo.agents.ppo.buffer import RolloutBatch, padded
from ppo.agents.ppo.distributions import DiagGaussian
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic
from ppo.agents.ppo.update import gradient_step, minibatch_loss, ppo_update
from ppo.config import Hyperparameters

OBS_DIM, ACTION_DIM = 5, 2


@pytest.fixture(scope="module", autouse=True)
def inductor_cache(tmp_path_factory):
    """One cache for this module's compiles (the first compiles cold, the rest load it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.mktemp("inductor")))
        yield


def gaussian_policy(seed=0) -> ActorCritic:
    torch.manual_seed(seed)
    distribution = DiagGaussian(ACTION_DIM, np.full(ACTION_DIM, -1.0), np.full(ACTION_DIM, 1.0))
    return ActorCritic(OBS_DIM, distribution, (16, 16), "tanh")


def rollout(n: int, seed=0) -> RolloutBatch:
    g = torch.Generator().manual_seed(seed)
    return RolloutBatch(
        obs=torch.randn(n, OBS_DIM, generator=g),
        actions=torch.randn(n, ACTION_DIM, generator=g),
        log_probs=torch.randn(n, generator=g) - 2.0,
        values=torch.randn(n, generator=g),
        advantages=torch.randn(n, generator=g),
        returns=torch.randn(n, generator=g),
    )


HP = Hyperparameters(n_envs=1, n_steps=100, batch_size=32, n_epochs=3, total_timesteps=100, compile="on", clip_range_vf=0.2)


def test_padding_changes_no_loss_and_no_gradient():
    """A minibatch padded with zero-weight samples has the loss and the gradient of the unpadded one."""
    batch = rollout(20)
    padded_batch, weights = padded(batch, 32)
    assert len(padded_batch.obs) == 32 and weights.tolist() == [1.0] * 20 + [0.0] * 12
    assert (padded_batch.obs[20:] == 0).all() and torch.equal(padded_batch.obs[:20], batch.obs)
    results = []
    for b, w in ((batch, None), (padded_batch, weights)):
        policy = gaussian_policy()
        terms = minibatch_loss(policy, b, w, 0.2, HP)
        terms.loss.backward()
        results.append((terms.loss.detach(), terms.value_loss.detach(), policy.flat_gradient.clone()))
    (loss, v_loss, grad), (loss_p, v_loss_p, grad_p) = results
    assert torch.allclose(loss, loss_p, atol=1e-6) and torch.allclose(v_loss, v_loss_p, atol=1e-6)
    assert torch.allclose(grad, grad_p, atol=1e-6) and grad.abs().sum() > 0
    # A full rollout needs no padding.
    same, ones = padded(rollout(64), 32)
    assert len(same.obs) == 64 and bool(ones.all())


def test_compiled_update_matches_the_eager_one_and_never_recompiles():
    """One update (3 epochs, last minibatch 4 of 32 real samples) compiled and eager: the same parameters and
    diagnostics up to float rounding; and rollouts of other sizes run the one precompiled graph (its guards
    hold, its size checks pass: no fallback to eager)."""
    runs, warnings = {}, []
    for mode in ("off", "on"):
        policy = gaussian_policy()
        optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=3e-3, eps=1e-5)
        hp = Hyperparameters(**{**HP.to_dict(), "compile": mode})
        step, record = compiled.compile_update(policy, optimizer, hp, pixels=False, warn=warnings.append)
        assert record.compiled == (mode == "on") and (step is None) == (mode == "off")
        stats = ppo_update(policy, optimizer, rollout(100), hp, torch.Generator().manual_seed(1), 0.15, step)
        runs[mode] = (policy.flat_parameters.detach().clone(), stats, step, policy, optimizer, hp)
    (eager_params, eager_stats, *_), (params, stats, step, policy, optimizer, hp) = runs["off"], runs["on"]
    assert not torch.equal(eager_params, gaussian_policy().flat_parameters), "the update moved nothing"
    assert torch.allclose(params, eager_params, atol=1e-5, rtol=1e-4)
    for name, value in eager_stats._asdict().items():
        assert getattr(stats, name) == pytest.approx(value, rel=1e-4, abs=1e-6), name
    for n in (90, 37, 128) * 2:  # other last-minibatch sizes, another annealed clip range
        ppo_update(policy, optimizer, rollout(n, seed=n), hp, torch.Generator().manual_seed(n), 0.1, step)
    assert step.calls > compiled.GUARD_CHECK_EVERY  # the guards were checked more than once
    assert not step.failed and warnings == []


def test_a_compiled_step_stays_finite_where_the_padding_overflows():
    """A Gaussian of 17 dims at log std -8: the zero-padding sample's log-ratio is +120 (exp: inf in float32). The
    compiled step on the padded minibatch gives the eager step's finite loss, gradient norm and parameters on the
    real samples alone (no 0 x inf = NaN from the padding)."""
    dims, n = 17, 20
    hp = Hyperparameters(**{**HP.to_dict(), "max_grad_norm": None})
    results = []
    for compile_it in (False, True):
        torch.manual_seed(0)
        distribution = DiagGaussian(dims, np.full(dims, -1.0), np.full(dims, 1.0))
        policy = ActorCritic(OBS_DIM, distribution, (16, 16), "tanh", log_std_init=-8.0)
        g = torch.Generator().manual_seed(0)
        obs = torch.randn(n, OBS_DIM, generator=g)
        with torch.no_grad():
            mean, values = policy(obs)
            actions = mean + np.exp(-8.0) * torch.randn(n, dims, generator=g)
            log_probs = policy.evaluate_actions(obs, actions).log_probs
        batch = RolloutBatch(obs, actions, log_probs, values, torch.randn(n, generator=g), torch.randn(n, generator=g))
        optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
        if compile_it:
            step, record = compiled.compile_update(policy, optimizer, hp, pixels=False)
            assert record.compiled
            terms, grad_norm = step(*padded(batch, hp.batch_size), 0.2)
        else:
            terms, grad_norm = gradient_step(policy, optimizer, batch, None, 0.2, hp)
        results.append((terms.loss.detach(), grad_norm, policy.flat_parameters.detach().clone()))
    (eager_loss, eager_norm, eager_params), (loss, norm, params) = results
    assert torch.isfinite(loss) and torch.isfinite(norm) and torch.isfinite(params).all()
    torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm, eager_norm, rtol=1e-5, atol=0.0)
    torch.testing.assert_close(params, eager_params, rtol=1e-4, atol=1e-6)


def test_the_whole_step_compiles_without_graph_breaks():
    """Loss, gradient, clipping and Adam trace as one graph (a break would split it and fall back to Python)."""
    policy = gaussian_policy()
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
    step = compiled._minibatch_step(policy, optimizer, HP)
    batch, weights = padded(rollout(20), 32)
    state = (policy.flat_parameters.clone(), torch.zeros_like(optimizer.exp_avg), torch.zeros_like(optimizer.exp_avg))
    explanation = torch._dynamo.explain(step)(*state, torch.tensor([0.2, 1e-3, 0.03]), batch, weights)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1


FAILED_COMPILE = """
import json, sys
import numpy as np
from ppo.agents.ppo import compiled
from ppo.agents.ppo.distributions import DiagGaussian
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic
from ppo.config import Hyperparameters
if sys.argv[1] == "no-compiler":
    import torch._inductor.config as inductor
    inductor.cpp.cxx = ("/nonexistent/c++",)
policy = ActorCritic(5, DiagGaussian(2, np.full(2, -1.0), np.full(2, 1.0)), (16, 16), "tanh")
hp = Hyperparameters(n_envs=1, n_steps=100, batch_size=32, n_epochs=1, total_timesteps=100, compile="on")
optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
step, record = compiled.compile_update(policy, optimizer, hp, pixels=False)
print(json.dumps({"eager": step is None, **record.__dict__}))
"""


@pytest.mark.parametrize("broken", ["no-compiler", "cache-under-a-file"])
def test_a_failed_compile_warns_in_one_line_and_runs_eagerly(broken, tmp_path):
    """No C++ compiler, or a cache directory that cannot be made: one warning line, then the eager path (in a fresh
    process: a failed compile leaves Inductor's in-process state unusable for later compiles)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = blocker / "cache" if broken == "cache-under-a-file" else tmp_path / "cache"
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", FAILED_COMPILE, broken], env=env, capture_output=True, text=True, check=True)
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record["eager"] and not record["compiled"] and "eager" in record["reason"]
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: compiling the update failed")


CACHE_PLACE = """
import json, os, tempfile
import torch._dynamo  # writes torch's own default cache directory (under /tmp) into the environment
from ppo.agents.ppo import compiled
from ppo.agents.ppo.distributions import DiagGaussian
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic
from ppo.config import Hyperparameters
import numpy as np
default = os.environ["TORCHINDUCTOR_CACHE_DIR"]
policy = ActorCritic(3, DiagGaussian(1, np.full(1, -1.0), np.full(1, 1.0)), (8,), "tanh")
hp = Hyperparameters(n_envs=1, n_steps=16, batch_size=16, n_epochs=1, total_timesteps=16, compile="on")
optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
step, record = compiled.compile_update(policy, optimizer, hp, pixels=False)
print(json.dumps({"default": default, "compiled": record.compiled, "cache_dir": record.cache_dir}))
"""


def test_the_compile_cache_lands_in_results_compile_cache(tmp_path):
    """With TORCHINDUCTOR_CACHE_DIR unset (torch._dynamo's import then writes torch's /tmp default into the
    environment), the compile caches under ./results/compile-cache, and writes nothing under torch's default
    (the C++ wrapper's precompiled header included: 141 MB there otherwise)."""
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    env["TMPDIR"] = str(tmp_path / "tmp")  # torch's default lives under the temp directory: a private one here
    (tmp_path / "tmp").mkdir()
    out = subprocess.run([sys.executable, "-c", CACHE_PLACE], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout.strip().splitlines()[-1])
    expected = tmp_path / "results" / "compile-cache"
    assert record["compiled"] and record["cache_dir"] == str(expected)
    assert record["default"].startswith(str(tmp_path / "tmp"))
    assert any(path.suffix == ".so" for path in expected.rglob("*"))
    assert not [path for path in (tmp_path / "tmp").rglob("*") if path.is_file() and "torchinductor" in str(path)]


@pytest.mark.parametrize(
    "agent, env, overrides, pixels, expected",
    [
        ("ppo-zoo", "CartPole-v1", {}, False, False),  # 100k steps: 7,800 minibatch steps save ~4 s, less than a compile
        ("ppo-zoo", "LunarLander-v3", {}, False, True),  # 1M steps: 62k minibatch steps save ~31 s
        ("ppo-zoo", "HalfCheetah-v5", {}, False, True),  # ~313k minibatch steps of the 256-256 networks
        ("ppo", "Hopper-v5", {"compile": "off"}, False, False),
        ("ppo-zoo", "CartPole-v1", {"compile": "on"}, False, True),
        # The CNN saves ~10 ms a minibatch step: 10M steps compile, a 4k-step smoke run (64 steps) does not.
        ("ppo-zoo", "BreakoutNoFrameskip-v4", {}, True, True),
        ("ppo-zoo", "BreakoutNoFrameskip-v4", {"total_timesteps": 4096}, True, False),
    ],
)
def test_auto_compiles_only_where_the_gain_exceeds_the_compile(agent, env, overrides, pixels, expected):
    hp, _ = resolve(agent, env, overrides)
    wanted, reason = compiled.decide(hp, pixels=pixels)
    assert wanted is expected and reason.startswith("auto" if "compile" not in overrides else "compile=")


@pytest.mark.slow
def test_compiled_runs_are_reproducible_and_record_the_compile(tmp_path):
    """Two compiled runs of one seed write identical logs; run.json says it compiled, and why."""

    def train(out):
        args = ["--env", "Pendulum-v1", "--agent", "ppo", "--seed", "0", "--total-timesteps", "4096", "--quiet"]
        args += ["--set", "compile=on", "--set", "n_envs=2", "--set", "n_steps=256", "--set", "batch_size=100"]
        args += ["--eval-every", "2048", "--eval-episodes", "2", "--final-eval-episodes", "2", "--out", str(out)]
        subprocess.run([sys.executable, "-m", "ppo", "train", *args], check=True, capture_output=True)
        return out

    first, second = train(tmp_path / "a"), train(tmp_path / "b")
    run = json.loads((first / "run.json").read_text())
    assert run["compile"]["compiled"] and run["compile"]["reason"] == "compile=on"
    for name in ("episodes.csv", "evals.csv"):
        a, b = (pd.read_csv(d / name).drop(columns="wall_s") for d in (first, second))
        pd.testing.assert_frame_equal(a, b)
    assert json.loads((second / "run.json").read_text())["last_update"] == run["last_update"]


def test_a_compiled_cnn_update_matches_the_eager_one():
    """The image policy's step (convolutions, uint8 frames, categorical head) compiled: the same update as eager
    up to float rounding (small frames: the Nature CNN on 36x36 ends in one 1x1 map)."""
    from ppo.agents.ppo.cnn import CnnActorCritic
    from ppo.agents.ppo.distributions import Categorical

    g = torch.Generator().manual_seed(3)
    n = 40
    batch = RolloutBatch(
        obs=torch.randint(0, 256, (n, 4, 36, 36), generator=g, dtype=torch.uint8),
        actions=torch.randint(0, 4, (n,), generator=g),
        log_probs=torch.full((n,), -1.3),
        values=torch.randn(n, generator=g),
        advantages=torch.randn(n, generator=g),
        returns=torch.randn(n, generator=g),
    )
    hp = Hyperparameters(n_envs=1, n_steps=n, batch_size=16, n_epochs=2, total_timesteps=n, compile="on", ent_coef=0.01)
    results = []
    for mode in ("off", "on"):
        torch.manual_seed(0)
        policy = CnnActorCritic((4, 36, 36), Categorical(4))
        optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3, eps=1e-5)
        step, record = compiled.compile_update(policy, optimizer, hp, pixels=True) if mode == "on" else (None, None)
        assert mode == "off" or record.compiled
        stats = ppo_update(policy, optimizer, batch, hp, torch.Generator().manual_seed(1), 0.1, step)
        results.append((policy.flat_parameters.clone(), stats))
    (eager_params, eager_stats), (params, stats) = results
    torch.manual_seed(0)
    assert not torch.allclose(eager_params, CnnActorCritic((4, 36, 36), Categorical(4)).flat_parameters)
    assert torch.allclose(params, eager_params, atol=1e-5, rtol=1e-4)
    for name, value in eager_stats._asdict().items():
        assert getattr(stats, name) == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_the_update_flushes_denormals_and_only_the_update():
    """Inside ppo_update denormal floats read as zero (Adam's decaying moments stay fast); the envs' arithmetic
    after it is IEEE again."""
    from ppo.agents.ppo.update import denormals_flushed

    tiny = torch.tensor([1e-40])
    assert tiny.item() > 0
    with denormals_flushed():
        with denormals_flushed():
            assert (tiny * 1.0).item() == 0.0
        assert (tiny * 1.0).item() == 0.0  # an inner block leaves the outer one's state
    assert (tiny * 1.0).item() > 0
    seen = []
    policy = gaussian_policy()
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
    real_step = optimizer.step
    optimizer.step = lambda: (seen.append((tiny * 1.0).item()), real_step())
    hp = Hyperparameters(**{**HP.to_dict(), "compile": "off"})
    ppo_update(policy, optimizer, rollout(64), hp, torch.Generator().manual_seed(0))
    assert seen and set(seen) == {0.0}
    assert (tiny * 1.0).item() > 0


def test_a_compiled_update_continues_from_restored_state_as_if_never_stopped():
    """What a resumed run does: compile first, then load the checkpoint's weights and Adam state into the same
    tensors. The compiled step must read them (not the ones it was warmed up on): two updates in one go equal
    one update, a save, a restore into a fresh policy and optimizer, and the second update, bit for bit."""
    hp = Hyperparameters(**{**HP.to_dict(), "compile": "on"})

    def fresh():
        policy = gaussian_policy()
        optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=3e-3, eps=1e-5)
        return policy, optimizer, compiled.compile_update(policy, optimizer, hp, pixels=False)[0]

    policy, optimizer, step = fresh()
    generator = torch.Generator().manual_seed(5)
    ppo_update(policy, optimizer, rollout(100, seed=1), hp, generator, 0.2, step)
    saved = ({k: v.clone() for k, v in policy.state_dict().items()}, optimizer.state_dict(), generator.get_state())
    ppo_update(policy, optimizer, rollout(100, seed=2), hp, generator, 0.2, step)

    restored, restored_optimizer, restored_step = fresh()
    restored.load_state_dict(saved[0])
    restored_optimizer.load_state_dict(saved[1])
    resumed_generator = torch.Generator()
    resumed_generator.set_state(saved[2])
    ppo_update(restored, restored_optimizer, rollout(100, seed=2), hp, resumed_generator, 0.2, restored_step)
    assert torch.equal(restored.flat_parameters, policy.flat_parameters)
    assert torch.equal(restored_optimizer.exp_avg_sq, optimizer.exp_avg_sq)
    assert float(restored_optimizer.step_count) == float(optimizer.step_count) > 0


@pytest.mark.parametrize("max_grad_norm", [None, 0.5])
def test_one_compiled_step_is_the_eager_step(max_grad_norm):
    """One minibatch, twice, the learning rate changed between the calls (annealing), a large eps (its placement
    matters at this size): the compiled step's clipping and Adam give the eager step's parameters, moments and
    step count to 1e-6."""
    hp = Hyperparameters(**{**HP.to_dict(), "max_grad_norm": max_grad_norm, "compile": "on"})
    batch, weights = padded(rollout(20), 32)
    results = []
    for compile_it in (False, True):
        policy = gaussian_policy()
        optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-2, eps=0.1)
        step = compiled.compile_update(policy, optimizer, hp, pixels=False)[0] if compile_it else None
        norms = []
        for lr in (1e-2, 3e-3):
            optimizer.lr = lr
            if step is None:
                norms.append(float(gradient_step(policy, optimizer, batch, weights, 0.2, hp)[1]))
            else:
                norms.append(float(step(batch, weights, 0.2)[1]))
        results.append((policy.flat_parameters.clone(), optimizer.exp_avg_sq.clone(), float(optimizer.step_count), norms))
    (eager_params, eager_v, eager_t, eager_norms), (params, v, t, norms) = results
    assert eager_t == t == 2.0 and norms == pytest.approx(eager_norms, rel=1e-5)
    assert max_grad_norm is None or eager_norms[0] > max_grad_norm  # the clipping did clip
    assert torch.allclose(params, eager_params, atol=1e-6, rtol=0) and torch.allclose(v, eager_v, rtol=1e-5, atol=1e-12)


def compiled_and_eager_twins():
    """(compiled step, its record, policy, optimizer, warnings) and an eager (policy, optimizer) from the same
    initial weights, to compare a step taken either way."""
    eager_policy = gaussian_policy()
    eager_optimizer = FlatAdam(eager_policy.flat_parameters, eager_policy.flat_gradient, lr=1e-2)
    policy = gaussian_policy()
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-2)
    warnings = []
    step, record = compiled.compile_update(policy, optimizer, HP, pixels=False, warn=warnings.append)
    return (step, record, policy, optimizer, warnings), (eager_policy, eager_optimizer)


@pytest.mark.parametrize("good_calls_first", [0, 1])
def test_a_compiled_step_failing_mid_run_warns_once_and_goes_on_eagerly(good_calls_first):
    """A minibatch the step was not compiled for (here of another size) is refused before the graph writes
    anything, by the guard check on the first call or by the compiled code's own size assertions later: the
    step is then taken eagerly, counted once, and every later step too, after one warning line."""
    batch, weights = padded(rollout(20), 32)
    other_batch, other_weights = padded(rollout(10), 16)
    (step, record, policy, optimizer, warnings), (eager_policy, eager_optimizer) = compiled_and_eager_twins()
    assert record.compiled and step.graph is not None
    for b, w in [(batch, weights)] * good_calls_first + [(other_batch, other_weights), (batch, weights)]:
        step(b, w, 0.2)
        gradient_step(eager_policy, eager_optimizer, b, w, 0.2, HP)
    assert len(warnings) == 1 and warnings[0].startswith("warning: the compiled update failed mid-run")
    assert step.failed and float(optimizer.step_count) == 2.0 + good_calls_first
    assert torch.allclose(policy.flat_parameters, eager_policy.flat_parameters, atol=1e-6, rtol=0)


def test_the_guards_refuse_what_the_compiled_code_cannot_see():
    """The compiled C++ asserts sizes and strides but not dtypes: advantages in float64 (same shape) would be read
    as float32 garbage. The guard check of the first call refuses them: one warning, the step taken eagerly."""
    batch, weights = padded(rollout(20), 32)
    batch = batch._replace(advantages=batch.advantages.double())
    (step, _, policy, _, warnings), (eager_policy, eager_optimizer) = compiled_and_eager_twins()
    step(batch, weights, 0.2)
    gradient_step(eager_policy, eager_optimizer, batch, weights, 0.2, HP)
    assert len(warnings) == 1 and step.failed
    assert torch.allclose(policy.flat_parameters, eager_policy.flat_parameters, atol=1e-6, rtol=0)
