"""The update's minibatch step compiled by torch.compile (Inductor), cached on disk, used where it pays.

Why: on one CPU core a minibatch step of the MLPs here is ~125 small eager ops at 5-15 us each, plus the
autograd engine's bookkeeping; compiled, the step becomes a few fused C++ kernels around the matmuls (docs/
speed.md has the measurements). What is compiled: the whole step, the loss (update.minibatch_loss), its
gradient (torch.func.grad), global gradient-norm clipping and Adam, as one graph (fullgraph: a graph break is
an error, not a silent slowdown), compiled ahead of time with Inductor's C++ wrapper so that a step is one call
into C++ (CompiledStep's constructor). CompiledStep says why the whole step, not the loss alone.

Shapes: every minibatch has batch_size samples (update.py pads the last one with zero-weight samples), and the
annealed clip range and Adam's per-step scalars are tensors, so one compiled graph serves the whole run: no
recompilation.

The cache: Inductor keeps what it compiled in TORCHINDUCTOR_CACHE_DIR. ppo-bench points it at
results/compile-cache unless the variable is set (a cluster's shared filesystem: export it in the profile), so
every job of a benchmark shares one cache: the first job with given shapes and settings compiles cold (13-18 s
on one core here, up to 25 s on a loaded machine), the rest load it warm (~5 s: Dynamo traces the step again,
Inductor loads its kernels).

When: `compile` is auto (default), on or off. auto compiles a run when the time the compiled step is expected
to save over the run, minibatch steps x the saving per step (SAVED_SECONDS_PER_STEP, by network), exceeds
WARM_COMPILE_SECONDS (the cold compile is paid once per machine, shapes and settings). A compile that fails
(no C++ compiler, an unwritable cache) prints one warning line and the run goes on eagerly.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ppo.agents.ppo.buffer import RolloutBatch
from ppo.agents.ppo.optim import FlatAdam, adam_update_, clip_coefficient
from ppo.agents.ppo.update import LossTerms, gradient_step, minibatch_loss
from ppo.config import Hyperparameters

DEFAULT_CACHE = Path("results") / "compile-cache"
# The auto rule's numbers, measured on this project's 2-core VM, one thread (docs/speed.md, "The compiled update",
# 2026-11-30), rounded down: the time saved per minibatch step, eager minus compiled (the precompiled step), on an
# MLP (LunarLander's 64-64 tanh networks at minibatch 64: 0.73 -> 0.17 ms; CartPole's at 256: 1.14 -> 0.55 ms;
# HalfCheetah's 256-256 ReLU ones at 64: 1.5 -> 0.75 ms) and on the Atari CNN at minibatch 256 (144-146 -> 132-138 ms);
# and a warm compile (Dynamo's trace plus loading Inductor's cached kernels: ~5 s, up to 12 s on a loaded
# machine).
SAVED_SECONDS_PER_STEP = {"mlp": 0.5e-3, "cnn": 10e-3}
WARM_COMPILE_SECONDS = 8.0
# Dynamo's guards (do the inputs and the closed-over policy still match what was compiled?) cost ~100 us per check
# on HalfCheetah's step, a seventh of the step: checked on the first call and every this many after.
GUARD_CHECK_EVERY = 64


@dataclass
class CompileRecord:
    """What run.json records under `compile`."""

    setting: str  # auto | on | off
    compiled: bool
    reason: str
    cache_dir: str | None = None
    compile_seconds: float | None = None  # importing the compiler, compiling (or loading the cache), one warm-up step


def minibatch_steps(hp: Hyperparameters) -> int:
    """Gradient steps over the run (autoreset steps, masked out, make the real count a little lower)."""
    return hp.n_iterations * hp.n_epochs * math.ceil(hp.rollout_size / hp.batch_size)


def decide(hp: Hyperparameters, pixels: bool) -> tuple[bool, str]:
    """(compile?, why) for the run's `compile` setting."""
    if hp.compile != "auto":
        return hp.compile == "on", f"compile={hp.compile}"
    network = "cnn" if pixels else "mlp"
    steps, per_step = minibatch_steps(hp), SAVED_SECONDS_PER_STEP[network]
    saved = steps * per_step
    verdict = "compiled" if saved > WARM_COMPILE_SECONDS else "eager"
    return saved > WARM_COMPILE_SECONDS, (
        f"auto: {steps:,} minibatch steps x {per_step * 1e3:g} ms saved ({network}) = {saved:.1f} s "
        f"{'>' if verdict == 'compiled' else '<='} {WARM_COMPILE_SECONDS:g} s of warm compile: {verdict}"
    )


def cache_dir() -> Path:
    """Where Inductor caches: TORCHINDUCTOR_CACHE_DIR when the user set it, else results/compile-cache (set
    here, before anything compiles). Importing torch._dynamo writes torch's own default (a directory under
    /tmp) into the environment, so that value counts as unset. Nothing is imported here: importing Inductor
    creates the directory the variable names, and a bad one must fail inside compile_update's try."""
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    # torch can only have written its default if its cache helpers are loaded already
    torch_cache = sys.modules.get("torch._inductor.runtime.cache_dir_utils")
    if current is None or (torch_cache and os.path.abspath(current) == os.path.abspath(torch_cache.default_cache_dir())):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = current = str(DEFAULT_CACHE.resolve())
    return Path(current)


def _print_warning(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _one_line(err: Exception) -> str:
    """'Type: the message's first line', at most 200 characters of it, for a one-line warning."""
    first_line = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first_line[:200]}"


class CompiledStep:
    """One minibatch's whole gradient step as one compiled graph: the PPO loss (update.minibatch_loss), its
    gradient, global gradient-norm clipping and Adam, the same math as update.gradient_step.

    Why the whole step: compiling only the loss left its backward to the autograd engine, the clipping and Adam
    to eager ops, and each piece's per-call overhead (Dynamo's guards, AOTAutograd's wrapper, the engine) cost
    what the fused kernels saved; on 256-wide networks more (docs/speed.md). Here the gradient comes from
    torch.func.grad over the parameters inside the graph, so Inductor sees one function from the minibatch to
    the updated parameters and fuses clipping and Adam into one loop over the flat vectors.

    Adam's per-step scalars (its step size with the bias corrections folded in, 1 / sqrt(1 - beta2^t)) and the
    annealed clip range enter as one small tensor written in place before each call: as Python numbers they
    would be constants to the compiler (a recompile per step), and computed in the graph Inductor would
    recompute the powers for every element. The gradient stays inside the graph: the policy's flat_gradient is
    not written on this path (nothing reads it).
    """

    def __init__(self, policy, optimizer: FlatAdam, hp: Hyperparameters, warn=None):
        """Compiles the step ahead of time (torch.compile's aot_compile) with Inductor's C++ wrapper, for
        minibatches of hp.batch_size. Why not a plain torch.compile'd function: each call of one runs Dynamo's
        frame hook and its guards (~80 us on HalfCheetah's step) and Inductor's Python wrapper (~100 us: a Python
        call per kernel and buffer); precompiled, the step is one call into C++ (HalfCheetah's minibatch step
        0.93 -> 0.69 ms, docs/speed.md). The guards are then checked every GUARD_CHECK_EVERY calls instead of
        every call; the C++ wrapper asserts every input's size and stride on every call, so a minibatch of
        another shape raises instead of being misread."""
        import torch._inductor.config as inductor  # here, not at the top: importing Inductor creates its cache

        self.policy, self.optimizer, self.hp = policy, optimizer, hp
        self.warn = warn or _print_warning
        self.failed = False  # a call failed mid-run: the rest of the run steps eagerly
        self.calls = 0
        device = optimizer.params.device
        # clip range, Adam's step size lr / (1 - beta1^t), 1 / sqrt(1 - beta2^t): written in place before each call
        self.scalars = torch.zeros(3, device=device)
        self._host_scalars = self.scalars if device.type == "cpu" else torch.zeros(3)
        self._scalar_values = self._host_scalars.numpy()  # a view: writing it costs no torch op
        function = torch.compile(_minibatch_step(policy, optimizer, hp), fullgraph=True, dynamic=False)
        example = (optimizer.params, optimizer.exp_avg, optimizer.exp_avg_sq, self.scalars, *zero_minibatch(policy, hp))
        # No precompiled header: torch keeps it outside the cache directory (141 MB under /tmp), and without it the
        # cold compile took 13.7 s instead of 12.9.
        with inductor.patch(cpp_wrapper=True, cpp_cache_precompile_headers=False):
            self.graph = function.aot_compile((example, {}))
        self.graph.disable_guard_check()  # checked by __call__ instead, every GUARD_CHECK_EVERY calls

    def __call__(self, batch: RolloutBatch, weights: torch.Tensor, clip_range: float) -> tuple[LossTerms, torch.Tensor]:
        """(the minibatch's loss terms, the gradient norm before clipping); the policy's parameters and Adam's
        moments are updated in place. Should a call fail mid-run (its guards no longer hold, or its inputs' shapes
        do not match; both raise before the graph writes anything), one warning line, and the run goes on
        eagerly."""
        opt = self.optimizer
        if self.failed:
            return gradient_step(self.policy, opt, batch, weights, clip_range, self.hp)
        step_size, inverse_bias_correction2_sqrt = opt.next_step_scalars()
        self._scalar_values[:] = (clip_range, step_size, inverse_bias_correction2_sqrt)
        if self._host_scalars is not self.scalars:
            self.scalars.copy_(self._host_scalars)
        args = (opt.params, opt.exp_avg, opt.exp_avg_sq, self.scalars, batch, weights)
        try:
            if self.calls % GUARD_CHECK_EVERY == 0 and not self.graph.guard_check(*args):
                raise RuntimeError("the compiled step's guards no longer hold")
            result = self.graph(*args)
        except Exception as err:  # eager is always correct
            self.failed = True
            self.warn(f"warning: the compiled update failed mid-run ({_one_line(err)}); going on eagerly")
            return gradient_step(self.policy, opt, batch, weights, clip_range, self.hp)
        self.calls += 1
        opt.count_step()
        return result


class _PolicyLoss(nn.Module):
    """minibatch_loss as a module over the policy's parameters, for torch.func.functional_call."""

    def __init__(self, policy: nn.Module, hp: Hyperparameters):
        super().__init__()
        self.policy, self.hp = policy, hp

    def forward(self, batch: RolloutBatch, weights: torch.Tensor, clip_range: torch.Tensor) -> LossTerms:
        return minibatch_loss(self.policy, batch, weights, clip_range, self.hp)


def _minibatch_step(policy: nn.Module, optimizer: FlatAdam, hp: Hyperparameters):
    """The function CompiledStep compiles, over the flat parameters and Adam's flat moments (optim.py)."""
    loss_module = _PolicyLoss(policy, hp)
    # The flat vector's layout: the parameters in module order, as flatten_parameters laid them out.
    names, shapes = zip(*((f"policy.{name}", p.shape) for name, p in policy.named_parameters()))
    sizes = [shape.numel() for shape in shapes]
    betas, eps, max_norm = optimizer.betas, optimizer.eps, hp.max_grad_norm

    def loss_of(params: dict, batch, weights, clip_range):
        # tie_weights=False: no tied parameters here, and untying walks every buffer through a set (traced, a
        # 0-d buffer turns into a float Dynamo then restarts its analysis to specialize).
        terms = torch.func.functional_call(loss_module, params, (batch, weights, clip_range), tie_weights=False)
        return terms.loss, terms

    gradient_of = torch.func.grad(loss_of, has_aux=True)

    def step(flat, exp_avg, exp_avg_sq, scalars, batch, weights):
        clip_range, step_size, inverse_bias_correction2_sqrt = scalars.unbind()
        params = {name: part.view(shape) for name, part, shape in zip(names, flat.split(sizes), shapes)}
        gradients, terms = gradient_of(params, batch, weights, clip_range)
        grad = torch.cat([gradients[name].reshape(-1) for name in names])  # in the flat vector's order
        # Detail: global gradient-norm clipping over actor and critic together (None = measure only).
        grad_norm = torch.linalg.vector_norm(grad)
        if max_norm is not None:
            grad = grad * clip_coefficient(grad_norm, max_norm)
        adam_update_(flat, grad, exp_avg, exp_avg_sq, step_size, inverse_bias_correction2_sqrt, betas, eps)
        return terms, grad_norm

    return step


def compile_update(
    policy, optimizer: FlatAdam, hp: Hyperparameters, pixels: bool, warn=_print_warning
) -> tuple[CompiledStep | None, CompileRecord]:
    """The compiled minibatch step, warmed up (so any failure shows here, not mid-run), or None to run
    eagerly; and the record of what happened."""
    wanted, reason = decide(hp, pixels)
    record = CompileRecord(setting=hp.compile, compiled=False, reason=reason)
    if not wanted:
        return None, record
    directory = cache_dir()
    record.cache_dir = str(directory)
    # The compile's seconds include importing the compiler (~1 s the first time in a process): a cost of compiling.
    start = time.perf_counter()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            raise PermissionError(f"{directory} is not writable")
        import torch._inductor.config as inductor

        inductor.compile_threads = 1  # one core per job: no pool of compile workers
        # A process that trains run after run (a tuning worker) would otherwise pile up one compiled entry per
        # run's settings, up to Dynamo's recompile limit.
        torch._dynamo.reset()
        compiled_step = CompiledStep(policy, optimizer, hp, warn)
        _warm_up(compiled_step)
        record.compile_seconds = time.perf_counter() - start
    except Exception as err:  # no compiler, unwritable cache, an unsupported op: eager is always correct
        warn(f"warning: compiling the update failed ({_one_line(err)}); running eagerly")
        record.reason += "; the compile failed, so eager"
        return None, record
    record.compiled = True
    return compiled_step, record


def zero_minibatch(policy, hp: Hyperparameters) -> tuple[RolloutBatch, torch.Tensor]:
    """A minibatch of zeros of full size (hp.batch_size) and its weights: the shapes the step is compiled for."""
    device = policy.flat_parameters.device
    distribution = policy.distribution
    n = hp.batch_size
    batch = RolloutBatch(
        obs=torch.zeros((n, *policy.obs_shape), dtype=policy.obs_dtype, device=device),
        actions=torch.zeros((n, *distribution.action_shape), dtype=distribution.action_dtype, device=device),
        log_probs=torch.zeros(n, device=device),
        values=torch.zeros(n, device=device),
        advantages=torch.zeros(n, device=device),
        returns=torch.zeros(n, device=device),
    )
    return batch, torch.ones(n, device=device)


def _warm_up(compiled_step: CompiledStep) -> None:
    """One step on a zero minibatch, applied to copies of the parameters and Adam's moments (the same shapes, so
    the same graph), so that a failure shows before the run: its weights, optimizer state and random streams do
    not move."""
    opt = compiled_step.optimizer
    scalars = torch.tensor([compiled_step.hp.clip_range, 0.0, 1.0], device=compiled_step.scalars.device)
    copies = (opt.params.clone(), opt.exp_avg.clone(), opt.exp_avg_sq.clone())
    compiled_step.graph(*copies, scalars, *zero_minibatch(compiled_step.policy, compiled_step.hp))
