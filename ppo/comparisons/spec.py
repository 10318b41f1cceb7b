"""The config's `comparisons:` entries: their settings, their wave seeds, and the check that refuses an entry the
workflow could not run or the test could not decide.

A comparison entry is a family: its first agent against each other one, on one env, at family-wise level `alpha`,
with `wave` new seeds per agent after each test and at most `waves` waves (AdaStop's n and K).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ppo.config import ConfigError

# A comparison's wave seeds start at SEED_BASE + SEED_STRIDE x (CRC-32 of its name mod SEED_SLOTS) unless the entry
# sets seed_base: far above the config's usual seeds (0..99) and the tuning studies' default seeds (1000, 1001), room
# for wave x waves <= SEED_STRIDE seeds per comparison, and taken from the name, not the entry's position, so adding,
# removing or reordering entries leaves every other comparison's seeds (and finished waves) as they were. Two
# names on one slot (1 in 1000 per pair) are refused by the seed check, which asks for a seed_base.
SEED_BASE = 10_000
SEED_STRIDE = 1_000
SEED_SLOTS = 1_000
DEFAULT_B = 10_000  # adastop's default number of random permutations
MAX_SEED = 2**32 - 1
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
KEYS = ("env", "agents", "alpha", "wave", "waves", "seed_base", "B", "label", "name", "test_seed")


@dataclass(frozen=True)
class Comparison:
    """One `comparisons:` entry, resolved: defaults filled in, its name (a directory) and its seeds known."""

    name: str
    env: str
    agents: tuple[str, ...]  # the first against each other one
    alpha: float
    wave: int  # seeds per wave and agent (AdaStop's n)
    waves: int  # the most waves (AdaStop's K)
    seed_base: int
    B: int = DEFAULT_B
    test_seed: int = 0  # the permutation test's generator: a replay gives the same decisions
    label: str | None = None

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(self.agents[0], other) for other in self.agents[1:]]

    @property
    def runs_max(self) -> int:
        """The most runs of one agent: wave x waves."""
        return self.wave * self.waves

    def seeds(self, wave: int) -> list[int]:
        """The seeds of wave `wave` (1-based), the same for every agent: consecutive, disjoint between waves."""
        if not 1 <= wave <= self.waves:
            raise ConfigError(f"comparison {self.name}: wave {wave} does not exist; allowed: 1 .. {self.waves}")
        start = self.seed_base + (wave - 1) * self.wave
        return list(range(start, start + self.wave))

    @property
    def all_seeds(self) -> list[int]:
        return list(range(self.seed_base, self.seed_base + self.runs_max))

    def wave_of(self, seed: int) -> int | None:
        """The wave a seed belongs to, or None if it is not one of this comparison's."""
        offset = seed - self.seed_base
        return offset // self.wave + 1 if 0 <= offset < self.runs_max else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "env": self.env,
            "agents": list(self.agents),
            "alpha": self.alpha,
            "wave": self.wave,
            "waves": self.waves,
            "seed_base": self.seed_base,
            "B": self.B,
            "test_seed": self.test_seed,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Comparison:
        """The inverse of to_dict (`ppo decide --spec`); ConfigError in one line for a missing or unknown key."""
        required = ("name", "env", "agents", "alpha", "wave", "waves", "seed_base")
        missing = [key for key in required if key not in spec]
        unknown = sorted(set(spec) - set(cls.__dataclass_fields__))
        if missing or unknown:
            what = f"no {missing[0]!r}" if missing else f"unknown key {unknown[0]!r}"
            raise ConfigError(f"comparison spec: {what}; allowed: {', '.join(cls.__dataclass_fields__)}")
        return cls(**{**spec, "agents": tuple(spec["agents"])})


def default_name(env: str, agents: Iterable[str]) -> str:
    first, *others = agents
    return f"{env}_{first}_vs_{'_'.join(others)}"


def default_seed_base(name: str) -> int:
    """The first wave seed of a comparison that sets none: its name's slot (see SEED_BASE)."""
    return SEED_BASE + SEED_STRIDE * (zlib.crc32(name.encode()) % SEED_SLOTS)


def comparisons(config: Mapping[str, Any]) -> list[Comparison]:
    """The config's comparisons, in order, with defaults: name `<env>_<first>_vs_<others>`, seed_base from the
    name (default_seed_base), B = 10000, test_seed 0."""
    out = []
    for entry in config.get("comparisons") or []:
        name = str(entry.get("name") or default_name(entry["env"], entry["agents"]))
        out.append(
            Comparison(
                name=name,
                env=entry["env"],
                agents=tuple(entry["agents"]),
                alpha=float(entry["alpha"]),
                wave=int(entry["wave"]),
                waves=int(entry["waves"]),
                seed_base=int(entry.get("seed_base", default_seed_base(name))),
                B=int(entry.get("B", DEFAULT_B)),
                test_seed=int(entry.get("test_seed", 0)),
                label=entry.get("label"),
            )
        )
    return out


def permutations_at(wave: int, interim: int, B: int) -> int:
    """How many permutations adastop 0.1.3 counts at interim `interim` (0-based) of waves of `wave` runs per agent
    (its `normalization`): every split of the runs while there are fewer than B, else as many as the last
    interim that enumerated them all (B at the first interim)."""
    splits = math.comb(2 * wave, wave)
    if interim == 0:
        return splits if B > splits else B
    if B > splits ** (interim + 1):
        return splits ** (interim + 1)
    return splits ** math.floor(math.log(B) / math.log(splits))


def can_decide(wave: int, waves: int, alpha: float, B: int = DEFAULT_B) -> bool:
    """Whether the most extreme scores (every run of one agent above every run of the other) are ever called
    different at family-wise level alpha: adastop's spending followed wave by wave. Interim k (0-based) may spend
    alpha (k+1) / K less what earlier interims spent, in steps of 1 / N_k (N_k: permutations_at), and rejects when
    that leaves room for the splits that tie with the observed one at the top: 2 while adastop enumerates every
    split (a split and its mirror image give the same |difference|), 1 once it samples them (no mirror drawn).
    An interim that cannot reject still spends what it may, which can leave a later one none (waves of 1 at
    alpha 0.05 never decide with 6 waves, though the last alone would have room). With C(2 wave, wave) >= B,
    adastop counts later interims against one permutation and never rejects there. Checked against adastop itself
    on a grid of settings (tests/test_comparisons.py)."""
    splits = math.comb(2 * wave, wave)
    if waves > 1 and splits >= B:
        return False
    spent = 0.0
    for interim in range(waves):
        n = permutations_at(wave, interim, B)
        steps = math.floor((alpha * (interim + 1) / waves - spent) * n + 1e-9)  # tails of 1/n it may spend
        ties_at_top = 2 if B > splits ** (interim + 1) else 1
        if steps >= ties_at_top:
            return True
        spent += max(steps, 0) / n
    return False


def _smallest(values: Iterable[int], ok: Callable[[int], bool]) -> int | None:
    return next((v for v in values if ok(v)), None)


def room_error(comparison: Comparison, where: str) -> str | None:
    """One line if `wave` x `waves` leaves the test no room to decide at alpha, naming the smallest settings
    that would; else None."""
    c = comparison
    if c.waves > 1 and math.comb(2 * c.wave, c.wave) >= c.B:
        splits = math.comb(2 * c.wave, c.wave)
        return (
            f"{where}: wave={c.wave} has C({2 * c.wave},{c.wave})={splits} splits, at least B={c.B}: adastop 0.1.3 then "
            f"counts the later interims against one permutation and cannot decide there; allowed: a smaller wave, "
            f"or B > {splits}"
        )
    if can_decide(c.wave, c.waves, c.alpha, c.B):
        return None
    min_wave = _smallest(range(c.wave + 1, 50), lambda w: can_decide(w, c.waves, c.alpha, c.B))
    min_waves = _smallest(range(c.waves + 1, 100), lambda k: can_decide(c.wave, k, c.alpha, c.B))
    options = [f"wave >= {min_wave} with waves={c.waves}" if min_wave else None]
    options.append(f"waves >= {min_waves} with wave={c.wave}" if min_waves else None)
    n = permutations_at(c.wave, c.waves - 1, c.B)
    top = 2 if c.B > math.comb(2 * c.wave, c.wave) ** c.waves else 1
    return (
        f"{where}: wave={c.wave} x waves={c.waves} leaves the test no room to decide at alpha={c.alpha}: even runs as "
        f"far apart as can be are never called different (no wave's share of alpha, alpha x k / waves less what "
        f"earlier waves spent, reaches the {top}/{n} a rejection needs at the last wave); allowed: "
        + (" or ".join(o for o in options if o) or "a larger alpha")
    )


def check_comparisons(
    config: Mapping[str, Any],
    agents_on: Callable[[str], list[str]],
    reserved_seeds: Mapping[str, Iterable[int]] | None = None,
) -> None:
    """Raise ConfigError (one line, naming the entry, the value and what is allowed) for a comparison that names an
    env not in `envs`, an agent that does not run on its env (`agents_on(env)`: registered agents, variants and
    other config agents trained there), two entries of one name, seeds that overlap the config's `seeds`, another
    comparison's or `reserved_seeds` (name -> seeds, e.g. the tuning studies'), or settings that leave the test no
    room to decide. The schema has checked the types and ranges."""
    taken: dict[int, str] = {seed: "seeds" for seed in config.get("seeds") or []}
    for name, seeds in (reserved_seeds or {}).items():
        taken.update({seed: name for seed in seeds})
    names: set[str] = set()
    for i, c in enumerate(comparisons(config)):
        where = f"comparisons[{i}]"
        unknown = sorted(set((config.get("comparisons") or [])[i]) - set(KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(KEYS)}")
        if c.env not in config["envs"]:
            raise ConfigError(f"{where}.env={c.env!r} is not in envs; allowed: {', '.join(config['envs'])}")
        trained = agents_on(c.env)
        for agent in c.agents:
            if agent not in trained:
                raise ConfigError(f"{where}.agents: {agent!r} does not run on {c.env}; allowed: {', '.join(trained)}")
        if len(set(c.agents)) < len(c.agents) or len(c.agents) < 2:
            raise ConfigError(f"{where}.agents={list(c.agents)}: allowed: two or more distinct agents")
        if not NAME.match(c.name):
            raise ConfigError(f"{where}.name={c.name!r} is not safe in paths; allowed: letters, digits, '.', '_', '-'")
        if c.name in names:
            raise ConfigError(f"{where}: the name {c.name!r} is already another comparison's; allowed: a `name:` of its own")
        names.add(c.name)
        if not 0 < c.alpha < 1:
            raise ConfigError(f"{where}.alpha={c.alpha}: allowed: 0 < alpha < 1")
        if c.seed_base < 0 or c.seed_base + c.runs_max - 1 > MAX_SEED:
            raise ConfigError(f"{where}.seed_base={c.seed_base}: its seeds leave 0 .. {MAX_SEED}")
        clash = next((seed for seed in c.all_seeds if seed in taken), None)
        if clash is not None:
            raise ConfigError(
                f"{where}: wave seed {clash} (seed_base {c.seed_base} + wave x waves = {c.runs_max} seeds) is already "
                f"taken by {taken[clash]}; allowed: a seed_base whose {c.runs_max} seeds are no other's"
            )
        taken.update({seed: f"comparisons[{i}]" for seed in c.all_seeds})
        error = room_error(c, where)
        if error:
            raise ConfigError(error)
