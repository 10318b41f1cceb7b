"""Seeding and threads: what every training job sets before its first random number."""

from __future__ import annotations

import torch


def seed_single_threaded(seed: int) -> torch.Generator:
    """Seed torch's global generator and return a fresh torch.Generator seeded the same way (for the
    agent's own draws, e.g. minibatch shuffling), with torch limited to one thread.

    One thread per job: Snakemake runs jobs side by side, one per core, and a fixed thread count keeps
    results reproducible (reductions split across threads sum in a different order)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
