"""Stopping on SIGTERM at a safe point, whatever the agent.

A cluster that preempts or times out a job sends SIGTERM (SLURM: `--signal`, then SIGKILL after KillWait). Raising
SystemExit from the handler would stop Python at an arbitrary bytecode: inside TensorBoard's writer queue, say,
with its lock half-released, after which closing the writer waits forever for a thread that cannot get the lock
(seen: 2 hangs in 9 runs under load). So while a run's training loop runs, the handler only sets a flag, and the
run stops where it is safe to:
- an agent that saves checkpoints stops at its next iteration boundary, after saving one (ppo.run.checkpoint);
- any other agent stops at the next `safe_point()`, called by the run's log at every env step and by the
  evaluator between steps: code of ours, outside every library's locks.
Outside a training loop (imports, argument checks, writing results) SIGTERM exits at once.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

EXIT_SIGTERM = 128 + signal.SIGTERM


class _StopFlag:
    """Set by SIGTERM. `deferred`: a loop promises to honour it; `at_safe_points`: safe_point() exits on it
    (False while a checkpointing loop will save first and exit itself)."""

    def __init__(self) -> None:
        self.requested = False
        self.deferred = False
        self.at_safe_points = False


STOP = _StopFlag()


def handle_sigterm(signum, frame) -> None:
    """SIGTERM handler (installed by the CLI): defer to a running training loop, or exit at once. Exiting raises
    SystemExit, so `finally` blocks delete half-written temporary files."""
    STOP.requested = True
    if not STOP.deferred:
        raise SystemExit(EXIT_SIGTERM)


@contextmanager
def stop_at_safe_points(saves_checkpoints: bool):
    """While the block runs, SIGTERM waits: for the checkpointer's next save (saves_checkpoints), or else for the
    next safe_point()."""
    STOP.deferred, STOP.requested, STOP.at_safe_points = True, False, not saves_checkpoints
    try:
        yield
    finally:
        STOP.deferred = STOP.at_safe_points = False


def no_more_checkpoints() -> None:
    """A checkpointing loop has ended (its final evaluation follows, with no save to wait for): from now on a SIGTERM
    stops the run at the next safe point, as for an agent without checkpoints; one that came already stops it here.
    The rerun resumes from the last checkpoint."""
    STOP.at_safe_points = STOP.deferred
    safe_point()


def safe_point() -> None:
    """Exit here if SIGTERM came during a loop that does not checkpoint. Cheap: one attribute test a call."""
    if STOP.requested and STOP.at_safe_points:
        raise SystemExit(EXIT_SIGTERM)
