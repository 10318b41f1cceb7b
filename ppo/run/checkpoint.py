"""When a long run saves its state, whether a saved state may be resumed, and stopping cleanly on SIGTERM.

A checkpoint is `checkpoint.pt` in the run directory (written by ppo.run.directory, atomically). It is not
a declared workflow output, so Snakemake's cleanup of a failed job's outputs leaves it, and the rerun of
the job resumes from it. It holds what the agent needs to go on (the agent builds and restores it) and the
run's identity; a checkpoint whose identity differs from the new run's is refused, never half-used.

Stopping (ppo.run.stop): while a checkpointing training loop runs, SIGTERM only sets a flag; the loop saves a
checkpoint at the next iteration boundary (a consistent state) and exits with 128 + 15.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ppo.run import directory
from ppo.run.stop import EXIT_SIGTERM, STOP


class CheckpointMismatch(ValueError):
    """A checkpoint exists but belongs to another run; the message is one line and says what to do."""


@dataclass(frozen=True)
class CheckpointSettings:
    every_seconds: float = 300.0  # wall-clock seconds of the run between checkpoints
    every_iterations: int | None = None  # or every this many iterations (rollout + update), whichever comes first
    resume: bool = True  # False: a checkpoint left by an earlier attempt is deleted and the run starts over


class Checkpointer:
    """Saves and loads one run directory's checkpoint for a run of the given identity."""

    def __init__(self, run_dir: str | Path, identity: dict[str, Any], settings: CheckpointSettings):
        self.run_dir, self.identity, self.settings = Path(run_dir), identity, settings
        self._last_save = time.monotonic()
        self._iterations_since = 0

    def load(self) -> dict[str, Any] | None:
        """The saved state to resume from, or None (no checkpoint, or resume is off: then it is deleted)."""
        if not self.settings.resume:
            directory.remove_checkpoint(self.run_dir)
            return None
        saved = directory.read_checkpoint(self.run_dir)
        if saved is None:
            return None
        for key, value in self.identity.items():
            if saved["identity"].get(key) != value:
                raise CheckpointMismatch(
                    f"{self.run_dir / directory.CHECKPOINT} was saved by a run with another {key} "
                    f"({saved['identity'].get(key)!r}, now {value!r}); rerun with --no-resume to start over"
                )
        return saved["state"]

    def exists(self) -> bool:
        return (self.run_dir / directory.CHECKPOINT).exists()

    def end_iteration(self) -> bool:
        """Called once at the end of every iteration: counts it, and says whether a save is due (the interval
        has passed, or a stop was requested). Counting is why it is not a plain query."""
        self._iterations_since += 1
        every = self.settings.every_iterations
        return (
            STOP.requested
            or time.monotonic() - self._last_save >= self.settings.every_seconds
            or (every is not None and self._iterations_since >= every)
        )

    def save(self, state: dict[str, Any]) -> None:
        directory.write_checkpoint(self.run_dir, {"identity": self.identity, "state": state})
        self._last_save, self._iterations_since = time.monotonic(), 0
        if STOP.requested:
            raise SystemExit(EXIT_SIGTERM)

    def remove(self) -> None:
        directory.remove_checkpoint(self.run_dir)
