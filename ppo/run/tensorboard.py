"""TensorBoard event files beside a run's CSVs, for watching long runs live: `tensorboard --logdir results/runs`.

Written only when the optional `tensorboard` package is installed (`pip install -e '.[tensorboard]'`), once per
update (at the rollout boundary, off the collection and update loops): training episode returns (Atari: whole
games, raw score), evaluation means, the update's diagnostics (losses, KL, clip fraction, entropy, ...) and
the training speed (env steps per second of training over the last update, evaluation excluded: run.json's
steps_per_second measured over one update instead of the whole run; RunLog computes it). The CSVs stay the
record; these files are for watching.

A run that resumes from a checkpoint at step T hides what an earlier attempt wrote from T on (TensorBoard's
purge_step), so the curves show one run; a fresh run (T = 0) hides everything an earlier attempt wrote.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

SUBDIR = "tensorboard"  # inside the run directory


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class ScalarLog:
    """Scalars by tag and step; the writer opens on the first record (its step is the purge step)."""

    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)
        self._writer = None

    def record(self, step: int, scalars: dict[str, float | None]) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.log_dir), purge_step=step)
        for tag, value in scalars.items():
            if value is not None:
                self._writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def discard(self) -> None:
        """Delete the events: what a failed run without a checkpoint to resume from leaves. The writer is
        abandoned, not closed: the run failed at an unknown point (an exception raised inside the writer's queue
        can leave its lock held), and closing joins the writer's thread, which may then wait forever. The thread
        is a daemon and what it would still flush is being deleted."""
        self._writer = None
        shutil.rmtree(self.log_dir, ignore_errors=True)
