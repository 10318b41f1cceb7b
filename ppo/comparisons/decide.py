"""The decision after each wave: adastop's MultipleAgentsComparator replayed over the finished waves' scores.

Pure and deterministic: scores in, decisions out. The comparator's permutations come from a generator seeded with
the comparison's test_seed, so replaying waves 1..k from scratch (what the workflow does after wave k, in a fresh
process) gives exactly the decisions a comparator kept alive over the waves would have given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ppo.comparisons.spec import Comparison

DECISIONS = ("larger", "smaller", "equal", "undecided")


def _comparator_class(adastop_as_released: bool = False):
    """The comparator decide() runs: TwoSidedComparator, or with `adastop_as_released` adastop 0.1.3's own test
    (only recording what the report shows), which the simulation tests hold against it."""
    from adastop import MultipleAgentsComparator  # imported here: matplotlib and pandas come with it

    class RecordingComparator(MultipleAgentsComparator):
        """adastop 0.1.3's test, keeping the permutation values each interim's boundaries are read from, so that the
        boundary each pair of a family crossed can be told (0.1.3 keeps only its step-down's last one)."""

        def compute_mean_diffs(self, k, Z):
            self.permutation_values = self.distribution(super().compute_mean_diffs(k, Z), Z)
            return self.permutation_values

        def distribution(self, signed: dict, Z) -> dict:
            return signed

        def step_down_boundary(self, interim: int, spent_before: float, open_comparisons: list[str]) -> float:
            """The boundary adastop's step-down put the largest statistic of `open_comparisons` against at this
            interim (the family's max over them, at the level left): the one a pair crossed when rejected."""
            values = np.sort(np.max([self.permutation_values[c] for c in open_comparisons], axis=0))
            tails = np.arange(len(values))[::-1] / self.normalization
            admissible = values[spent_before + tails <= self.alpha * (interim + 1) / self.K]
            return float(admissible[0]) if len(admissible) else float("inf")

    class TwoSidedComparator(RecordingComparator):
        """adastop 0.1.3 with its permutation distribution on |mean difference|, as its test statistic is, and ties
        settled as exact arithmetic would settle them.

        0.1.3 takes the boundary from the signed permutation differences but compares |difference| with it: a
        two-sided test at a one-sided boundary. On two agents drawn from one distribution (waves of 5, at most 3,
        alpha 0.05) it said "different" in 25 of 200 replications (12.5%); with |.| here, in 9 of the same 200
        (tests/test_comparisons.py). The stored signed sums, which later interims extend, are left as they are:
        only the distribution the boundary is read from changes.

        Ties: from the second wave on, the statistic k |mean(all runs) - mean(all runs)| and the observed split's
        permutation value (a sum of per-wave differences) are one number computed two ways, which can differ in
        the last bit; the strict `T > boundary` then rejects on rounding where the boundary is the observed split
        itself, beyond the level the test spent (a wave of 2 x 2 waves, which cannot decide at 0.05, said
        "larger"). Each permutation value is raised by TIE_SLACK x the scores' magnitude (1e-9 of it: far above
        float error, far below any score difference that matters), so a value equal to T counts as equal."""

        TIE_SLACK = 1e-9

        def distribution(self, signed: dict, Z) -> dict:
            slack = self.TIE_SLACK * (1.0 + max(float(np.max(np.abs(z))) for z in Z if len(z)))
            return {comp: np.abs(values) + slack for comp, values in signed.items()}

    return RecordingComparator if adastop_as_released else TwoSidedComparator


def decide(comparison: Comparison, scores: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, Any]:
    """The test replayed over the finished waves.

    scores: agent -> one list of `wave` run scores per wave the agent ran (a run's score: its final evaluation
    mean), waves in order. Every agent runs wave 1; after that, only agents in a comparison still open.
    Returns {"waves_done", "finished", "pairs": [...], "next_agents", "next_wave"}; each pair: agents, decision
    (larger: the first agent's mean is larger, smaller, equal: no difference found at alpha after the last wave,
    undecided: open), decided_at (the wave, or None), runs_used and runs_max (per agent), alpha, statistic and
    boundary (adastop's: wave k's statistic k |mean difference| against the boundary it crossed at the deciding
    wave, the step of the step-down that rejected it; while open, the latest wave's boundary).
    Raises ValueError when an agent lacks a wave it needed or a wave has the wrong number of scores."""
    c = comparison
    agents = list(c.agents)
    missing = [a for a in agents if a not in scores]
    if missing:
        raise ValueError(f"comparison {c.name}: no scores of {missing[0]!r}; allowed agents: {', '.join(agents)}")
    waves_given = len(scores[agents[0]])
    if not 1 <= waves_given <= c.waves:
        raise ValueError(f"comparison {c.name}: {waves_given} waves of {agents[0]}; allowed: 1 .. {c.waves}")
    comparator = _comparator_class()(
        n=c.wave,
        K=c.waves,
        B=c.B,
        alpha=c.alpha,
        seed=c.test_seed,
        comparisons=np.array([(0, j) for j in range(1, len(agents))]),
    )
    z = {a: np.empty(0) for a in agents}
    pairs = {
        pair: {"agents": list(pair), "decision": "undecided", "decided_at": None, "statistic": None, "boundary": None}
        for pair in c.pairs
    }
    active = set(agents)
    done = 0
    for wave in range(1, waves_given + 1):
        for agent in agents:
            ran = len(scores[agent]) >= wave
            if agent in active and not ran:
                raise ValueError(f"comparison {c.name}: {agent} has no scores of wave {wave}, which it needed")
            if ran:
                if agent not in active:
                    raise ValueError(f"comparison {c.name}: {agent} has scores of wave {wave}, after its comparisons ended")
                wave_scores = np.asarray(scores[agent][wave - 1], dtype=float)
                if wave_scores.shape != (c.wave,) or not np.isfinite(wave_scores).all():
                    raise ValueError(
                        f"comparison {c.name}: wave {wave} of {agent} has scores {wave_scores.tolist()}; "
                        f"allowed: {c.wave} finite numbers"
                    )
                z[agent] = np.concatenate([z[agent], wave_scores])
        spent_before = comparator.level_spent
        comparator.partial_compare(z, verbose=False)
        done = wave
        key = {pair: str(np.array([0, j])) for j, pair in enumerate(c.pairs, start=1)}
        open_before = [pair for pair in c.pairs if pairs[pair]["decided_at"] is None]
        for pair in open_before:
            first, other = z[pair[0]][: wave * c.wave], z[pair[1]][: wave * c.wave]
            pairs[pair]["statistic"] = float(wave * abs(first.mean() - other.mean()))  # adastop's T at interim wave - 1
            pairs[pair]["boundary"] = float(comparator.boundary[-1][1])  # an open pair: the last step's boundary
        # A pair rejected now crossed the boundary of the step that rejected it: the step-down rejects the largest
        # statistic first, then tests the rest against a boundary of the rest alone.
        rejected = [pair for pair in open_before if comparator.decisions[key[pair]] in ("larger", "smaller")]
        remaining = [key[pair] for pair in open_before]
        for pair in sorted(rejected, key=lambda p: -pairs[p]["statistic"]):
            pairs[pair]["boundary"] = comparator.step_down_boundary(wave - 1, spent_before, remaining)
            remaining.remove(key[pair])
        for pair in open_before:
            decision = comparator.decisions[key[pair]]
            if decision != "continue":
                pairs[pair]["decision"], pairs[pair]["decided_at"] = decision, wave
        if comparator.is_finished:
            break
        open_pairs = [pair for pair in c.pairs if pairs[pair]["decided_at"] is None]
        active = {agent for pair in open_pairs for agent in pair}
    finished = all(entry["decided_at"] is not None for entry in pairs.values())
    for entry in pairs.values():
        waves_used = entry["decided_at"] or done
        entry.update(runs_used=waves_used * c.wave, runs_max=c.runs_max, alpha=c.alpha, waves_used=waves_used)
    if finished:
        next_agents: list[str] = []
    else:
        next_agents = [a for a in agents if any(a in e["agents"] for e in pairs.values() if e["decided_at"] is None)]
    return {
        "waves_done": done,
        "finished": finished,
        "pairs": list(pairs.values()),
        "next_agents": next_agents,
        "next_wave": None if finished else done + 1,
    }
