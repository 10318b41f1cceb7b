"""The update's loss compiled by torch.compile (Inductor), cached on disk, used where it pays.

Why: on one CPU core a minibatch step of the MLPs here is ~125 small eager ops at 5-15 us each; compiled, the
loss's forward and backward become a few fused C++ kernels (docs/speed.md has the measurements). What is
compiled: update.minibatch_loss, forward and (through AOTAutograd) backward, whole (fullgraph: a graph break
is an error, not a silent slowdown). Gradient clipping and the fused Adam step stay eager: one or two kernels
each already.

Shapes: every minibatch has batch_size samples (update.py pads the last one with zero-weight samples), and the
annealed clip range is a tensor, so one compiled graph serves the whole run: no recompilation.

The cache: Inductor keeps what it compiled in TORCHINDUCTOR_CACHE_DIR. ppo-bench points it at
results/compile-cache unless the variable is set (a cluster's shared filesystem: export it in the profile), so
every job of a benchmark shares one cache: the first job with given shapes and settings compiles cold (16-69 s
on one core here), the rest load it warm (3-12 s).

When: `compile` is auto (default), on or off. auto compiles an MLP run of hidden layers at most
MAX_COMPILED_WIDTH wide when the time the compiled loss is expected to save over the run, minibatch steps x
SAVED_SECONDS_PER_STEP, exceeds WARM_COMPILE_SECONDS (the cold compile is paid once per machine, shapes and
settings); wider MLPs (measured slower compiled) and image (CNN) runs (conv-bound: not measured to gain) stay
eager under auto. A compile that fails (no C++ compiler, an unwritable cache) prints one
warning line and the run goes on eagerly.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ppo.agents.ppo.buffer import RolloutBatch
from ppo.agents.ppo.update import LossFn, minibatch_loss
from ppo.config import Hyperparameters

DEFAULT_CACHE = Path("results") / "compile-cache"
# The auto rule's numbers, measured on this project's 2-core VM, one thread (docs/speed.md, "The compiled update"):
# the saving per minibatch step on the 64-64 tanh networks at minibatch 64 (LunarLander and LunarLanderContinuous
# with the zoo's settings: 6-7 us per env step, 1M steps, 62,464 minibatch steps: ~0.1 ms each), and a warm
# compile of the loss (loading Inductor's cached kernels: 3-12 s), rounded.
SAVED_SECONDS_PER_STEP = 0.1e-3
WARM_COMPILE_SECONDS = 8.0
# The widest hidden layers measured to gain: HalfCheetah's 256-256 ReLU networks ran slower compiled (1,204
# against 1,504 steps/s eager in the bench, 2026-11-30), the 64-64 tanh ones faster (LunarLander, Pendulum).
MAX_COMPILED_WIDTH = 64


@dataclass
class CompileRecord:
    """What run.json records under `compile`."""

    setting: str  # auto | on | off
    compiled: bool
    reason: str
    cache_dir: str | None = None
    compile_seconds: float | None = None  # the warm-up: compiling (or loading the cache) and one step


def minibatch_steps(hp: Hyperparameters) -> int:
    """Gradient steps over the run (autoreset steps, masked out, make the real count a little lower)."""
    return hp.n_iterations * hp.n_epochs * math.ceil(hp.rollout_size / hp.batch_size)


def decide(hp: Hyperparameters, pixels: bool) -> tuple[bool, str]:
    """(compile?, why) for the run's `compile` setting."""
    if hp.compile != "auto":
        return hp.compile == "on", f"compile={hp.compile}"
    if pixels:
        return False, "auto: image policies stay eager (their update is conv-bound)"
    if max(hp.net_arch) > MAX_COMPILED_WIDTH:
        return False, f"auto: hidden layers wider than {MAX_COMPILED_WIDTH} stay eager (measured slower compiled)"
    steps = minibatch_steps(hp)
    saved = steps * SAVED_SECONDS_PER_STEP
    verdict = "compiled" if saved > WARM_COMPILE_SECONDS else "eager"
    return saved > WARM_COMPILE_SECONDS, (
        f"auto: {steps:,} minibatch steps x {SAVED_SECONDS_PER_STEP * 1e3:g} ms saved = {saved:.1f} s "
        f"{'>' if verdict == 'compiled' else '<='} {WARM_COMPILE_SECONDS:g} s of warm compile: {verdict}"
    )


def cache_dir() -> Path:
    """Where Inductor caches: TORCHINDUCTOR_CACHE_DIR when set, else results/compile-cache (set here, before
    anything compiles)."""
    path = Path(os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(DEFAULT_CACHE.resolve())))
    return path


def _print_warning(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compile_loss(policy, hp: Hyperparameters, pixels: bool, warn=_print_warning) -> tuple[LossFn | None, CompileRecord]:
    """The compiled minibatch_loss, warmed up on a zero minibatch (so any failure shows here, not mid-run), or
    None to run eagerly; and the record of what happened."""
    wanted, reason = decide(hp, pixels)
    record = CompileRecord(setting=hp.compile, compiled=False, reason=reason)
    if not wanted:
        return None, record
    directory = cache_dir()
    record.cache_dir = str(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            raise PermissionError(f"{directory} is not writable")
        import torch._inductor.config as inductor

        inductor.compile_threads = 1  # one core per job: no pool of compile workers
        # A process that trains run after run (a tuning worker) would otherwise pile up one compiled entry per
        # run's settings on minibatch_loss, up to Dynamo's recompile limit.
        torch._dynamo.reset()
        compiled = torch.compile(minibatch_loss, fullgraph=True, dynamic=False)
        start = time.perf_counter()
        _warm_up(compiled, policy, hp)
        record.compile_seconds = time.perf_counter() - start
    except Exception as err:  # no compiler, unwritable cache, an unsupported op: eager is always correct
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        warn(f"warning: compiling the update failed ({type(err).__name__}: {first_line[:200]}); running eagerly")
        record.reason += "; the compile failed, so eager"
        return None, record
    record.compiled = True
    return compiled, record


def _warm_up(compiled: LossFn, policy, hp: Hyperparameters) -> None:
    """One forward and backward on a zero minibatch of full size; the gradient is then cleared. Nothing random
    runs, so the run's random streams do not move."""
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
    terms = compiled(policy, batch, torch.ones(n, device=device), torch.tensor(hp.clip_range, device=device), hp)
    terms.loss.backward()
    policy.flat_gradient.zero_()
