"""A program's training episodes, read from what it left in a directory, as ppo-bench's episodes.csv rows.

Three formats, the ones PPO programs already write, so a user changes nothing in their code:
- `csv`: the program's own episodes.csv with ppo-bench's columns (EPISODE_COLUMNS), or its own names for them
  through `columns` ({ppo-bench name: the program's name});
- `tensorboard`: event files anywhere under the directory, one scalar tag of episode returns over the event step
  (CleanRL's `charts/episodic_return` over `global_step` by default) and, if present, one of lengths;
- `monitor`: Stable-Baselines3's `monitor.csv` files (rl-baselines3-zoo writes them too), one per env copy of
  one vectorized run, merged in step order (n_copies x a copy's own running sum of lengths).

A quantity a log does not record is -1 in the frame (a TensorBoard run without a length tag: length -1), never
NaN: ppo-bench's reader refuses NaN in a run directory. Every refusal is one line naming the file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ppo.run.log import EPISODE_COLUMNS

FORMATS = ("csv", "tensorboard", "monitor")
CSV_NAME = "episodes.csv"
MONITOR_SUFFIX = "monitor.csv"  # SB3's Monitor.EXT: `monitor.csv`, or `0.monitor.csv`, ... one per env copy
EVENTS_PREFIX = "events.out.tfevents."
MONITOR_COLUMNS = ("r", "l", "t")  # SB3's Monitor: return, length, seconds since t_start; info keywords after
UNKNOWN = -1  # a quantity the log does not record


class EpisodesError(ValueError):
    """A directory's episodes cannot be read; the message (one line) names the file and what was expected."""


@dataclass(frozen=True)
class EpisodeSource:
    """Where a program's training episodes are and how to read them.

    columns: for `csv`, the program's column names by ppo-bench name, as (ppo-bench, program) pairs; `step` and
    `return` are needed, `episode` is numbered in row order when absent, `wall_s` and `length` are -1."""

    format: str = "auto"  # auto | csv | tensorboard | monitor
    return_tag: str = "charts/episodic_return"
    length_tag: str | None = "charts/episodic_length"  # None: no lengths (-1)
    columns: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.format not in ("auto", *FORMATS):
            raise EpisodesError(f"episode format {self.format!r} is not known; allowed: auto, {', '.join(FORMATS)}")
        for name, _ in self.columns:
            if name not in EPISODE_COLUMNS:
                raise EpisodesError(
                    f"episode column mapping names {name!r}; allowed: ppo-bench's columns {', '.join(EPISODE_COLUMNS)}"
                )
        if not isinstance(self.return_tag, str) or not self.return_tag:
            raise EpisodesError(f"return_tag {self.return_tag!r} is not a TensorBoard tag; allowed: a non-empty string")

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> EpisodeSource:
        """From a config's mapping (e.g. an agent entry's `episodes:`): keys format, return_tag, length_tag,
        columns (a mapping {ppo-bench name: the program's name}); None or {} gives the defaults."""
        config = dict(config or {})
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            raise EpisodesError(f"episode source: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        columns = config.get("columns") or {}
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            raise EpisodesError(f"episode source: columns {columns!r} is not a mapping; allowed: {{ppo-bench name: name}}")
        config["columns"] = tuple((str(k), v) for k, v in columns.items())
        return cls(**config)


def find_episode_files(run_dir: str | Path, source: EpisodeSource = EpisodeSource()) -> tuple[str, list[Path]]:
    """The format the episodes are read in and the files they come from (sorted). `auto` picks the one format
    present; none or several is refused, in one line."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EpisodesError(f"{run_dir} is not a directory; expected a run's output directory")
    found = {
        "csv": [run_dir / CSV_NAME] if (run_dir / CSV_NAME).is_file() else [],
        "tensorboard": sorted(p for p in run_dir.rglob(f"{EVENTS_PREFIX}*") if p.is_file()),
        "monitor": sorted(p for p in run_dir.rglob(f"*{MONITOR_SUFFIX}") if p.is_file()),
    }
    looked_for = f"{CSV_NAME} (csv), {EVENTS_PREFIX}* (tensorboard), *{MONITOR_SUFFIX} (monitor)"
    if source.format != "auto":
        if not found[source.format]:
            raise EpisodesError(f"{run_dir} holds no episodes in the {source.format} format; looked for {looked_for}")
        return source.format, found[source.format]
    present = [name for name in FORMATS if found[name]]
    if not present:
        raise EpisodesError(f"{run_dir} holds no episodes in a known format; looked for {looked_for}")
    if len(present) > 1:
        which = "; ".join(f"{name}: {_rel(found[name][0], run_dir)}" for name in present)
        raise EpisodesError(f"{run_dir} holds episodes in several formats ({which}); set the source's format to one of them")
    return present[0], found[present[0]]


def read_episodes(run_dir: str | Path, source: EpisodeSource = EpisodeSource()) -> pd.DataFrame:
    """The training episodes in `run_dir`, columns EPISODE_COLUMNS, episodes numbered 0..n-1, steps never
    decreasing (several env copies may end episodes on one step)."""
    run_dir = Path(run_dir)
    fmt, files = find_episode_files(run_dir, source)
    if fmt == "csv":
        frame, where = _read_csv(files[0], dict(source.columns)), files[0]
    elif fmt == "tensorboard":
        frame, where = _read_tensorboard(run_dir, files, source)
    else:
        frame, where = _read_monitors(files, run_dir), run_dir
    return _checked(frame, where)


def _read_csv(path: Path, mapping: dict[str, str]) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise EpisodesError(f"{path} is not a readable CSV ({str(err).splitlines()[0]})") from None
    names = {column: mapping.get(column, column) for column in EPISODE_COLUMNS}
    missing = [f"{names[c]!r}" + (f" (for {c})" if names[c] != c else "") for c in ("step", "return") if names[c] not in raw]
    if missing:
        raise EpisodesError(
            f"{path} lacks the column(s) {', '.join(missing)}; has {list(raw.columns)} (map others with `columns`)"
        )
    frame = pd.DataFrame(index=raw.index)
    for column, name in names.items():
        if name in raw:
            frame[column] = pd.to_numeric(raw[name], errors="coerce")  # text becomes NaN, refused by _checked
        else:
            frame[column] = np.arange(len(raw)) if column == "episode" else UNKNOWN
    return frame


def _read_tensorboard(run_dir: Path, files: list[Path], source: EpisodeSource) -> tuple[pd.DataFrame, Path]:
    # Imported here: the accumulator pulls in TensorBoard's stack, needed only for this format.
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        raise EpisodesError(
            f"{files[0]} is a TensorBoard event file, and reading it needs tensorboard: pip install -e '.[tensorboard]'"
        ) from None

    # One TensorBoard run is one directory (the accumulator reads its event files in order); several directories
    # holding the tag are several runs, and which one is this run's cannot be guessed.
    by_dir: dict[Path, Any] = {}
    tags_seen: set[str] = set()
    for directory in sorted({f.parent for f in files}):
        # scalars 0: every event kept; the default keeps a reservoir sample of 10,000 per tag.
        accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})
        try:
            accumulator.Reload()
        except Exception as err:  # a corrupt record raises from deep inside the reader
            raise EpisodesError(f"{directory} holds unreadable TensorBoard events ({str(err).splitlines()[0]})") from None
        tags = set(accumulator.Tags().get("scalars", []))
        tags_seen |= tags
        if source.return_tag in tags:
            by_dir[directory] = accumulator
    if not by_dir:
        shown = ", ".join(sorted(tags_seen)[:8]) or "none"
        raise EpisodesError(
            f"{files[0]}: no TensorBoard scalar tag {source.return_tag!r} under {run_dir} (scalar tags found: {shown}); "
            f"set return_tag"
        )
    if len(by_dir) > 1:
        dirs = ", ".join(_rel(d, run_dir) or "." for d in by_dir)
        raise EpisodesError(f"{run_dir} holds several TensorBoard runs with {source.return_tag!r} ({dirs}); import one")
    directory, accumulator = next(iter(by_dir.items()))
    returns = accumulator.Scalars(source.return_tag)
    frame = pd.DataFrame(
        {
            "episode": np.arange(len(returns)),
            "step": [e.step for e in returns],
            "wall_s": [e.wall_time for e in returns],
            "return": [e.value for e in returns],
            "length": UNKNOWN,
        }
    )
    if source.length_tag and source.length_tag in accumulator.Tags().get("scalars", []):
        lengths = accumulator.Scalars(source.length_tag)
        # CleanRL writes the two tags together, episode by episode: the same count on the same steps.
        if len(lengths) != len(returns) or any(a.step != b.step for a, b in zip(lengths, returns)):
            raise EpisodesError(
                f"{directory}: tag {source.length_tag!r} has {len(lengths)} values, {source.return_tag!r} "
                f"{len(returns)}, not on the same steps; set length_tag to null to read no lengths"
            )
        frame["length"] = [e.value for e in lengths]
    if len(frame):
        frame["wall_s"] -= frame["wall_s"].iloc[0]  # seconds since the first episode's event
    return frame, directory


def _read_monitors(files: list[Path], run_dir: Path) -> pd.DataFrame:
    """SB3 monitor files of one vectorized run, one file per env copy. SB3's vector envs step every copy once per
    vector step and reset a finished copy within that step, so when copy k ends an episode the run has taken
    n_copies x (the lengths so far in copy k's file) env steps: exact, whatever the other copies are doing (a
    running sum over all files would leave out their unfinished episodes). Episodes are merged in that step order,
    ties (copies ending on one vector step) by time; a time order that disagrees is files of several runs."""
    parts, starts = [], []
    for path in files:
        t_start, frame = _read_monitor(path)
        parts.append(frame.assign(time=t_start + frame["t"], step=len(files) * frame["l"].cumsum(), file=path))
        starts.append(t_start)
    merged = pd.concat(parts, ignore_index=True).sort_values(["step", "time"], kind="stable", ignore_index=True)
    _refuse_several_runs(merged, run_dir)
    first = min(starts)  # wall_s from the first env copy's start, as a run's clock starts before its first episode
    return pd.DataFrame(
        {
            "episode": np.arange(len(merged)),
            "step": merged["step"],
            "wall_s": merged["time"] - first,
            "return": merged["r"],
            "length": merged["l"],
        }
    )


MONITOR_CLOCK_SLACK = 1e-3  # seconds: monitor files round t to 1 us; copies of one run share the machine's clock


def _refuse_several_runs(merged: pd.DataFrame, where: Path) -> None:
    """In one run, every episode ending on a later vector step ends later in time (the next vector step starts
    once every copy has finished the last one). Files of two runs (a rerun's `_2` folder beside `_1`, evaluation
    monitors beside training ones) break that order, and merging them would make one run of two."""
    if merged.empty:
        return
    by_step = merged.groupby("step", sort=True)["time"]
    earliest, latest = by_step.min().to_numpy(), by_step.max().to_numpy()
    late = np.flatnonzero(earliest[1:] < latest[:-1] - MONITOR_CLOCK_SLACK)
    if len(late):
        steps = by_step.min().index.to_numpy()
        before, after = steps[late[0]], steps[late[0] + 1]
        early_file = merged.loc[merged["step"] == after].sort_values("time")["file"].iloc[0]
        late_file = merged.loc[merged["step"] == before].sort_values("time")["file"].iloc[-1]
        raise EpisodesError(
            f"{where}: the monitor files are not one vectorized run: {_rel(early_file, where)} ends an episode at "
            f"step {after} before {_rel(late_file, where)} ends one at step {before}; expected the files of one "
            f"run's env copies (import each run's folder on its own)"
        )


def _read_header(path: Path) -> float:
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline().rstrip("\n")
    try:
        header = json.loads(first[1:]) if first.startswith("#") else None
    except json.JSONDecodeError:
        header = None
    t_start = header.get("t_start") if isinstance(header, dict) else None
    if not isinstance(t_start, (int, float)) or isinstance(t_start, bool) or not math.isfinite(t_start):
        raise EpisodesError(
            f"{path} is not a Stable-Baselines3 monitor file: its first line is {first[:60]!r}; "
            f'expected #{{"t_start": <seconds>, ...}}'
        )
    return float(t_start)


def _read_monitor(path: Path) -> tuple[float, pd.DataFrame]:
    t_start = _read_header(path)
    try:
        frame = pd.read_csv(path, skiprows=1)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise EpisodesError(f"{path} is not a readable CSV ({str(err).splitlines()[0]})") from None
    # SB3 writes r,l,t first, then any info keywords the user asked for.
    if tuple(frame.columns[:3]) != MONITOR_COLUMNS:
        raise EpisodesError(
            f"{path} is not a Stable-Baselines3 monitor file: columns {list(frame.columns)}; expected r, l, t first"
        )
    frame = frame[list(MONITOR_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = frame.isna().any(axis=1) | (frame["l"] < 1) | (frame["l"] % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EpisodesError(
            f"{path} row {row + 1}: {frame.iloc[row].to_dict()} is not an episode; expected numbers with a length >= 1"
        )
    return t_start, frame


def _checked(frame: pd.DataFrame, where: Path) -> pd.DataFrame:
    """EPISODE_COLUMNS with integer episode, step and length; NaN anywhere or a step that goes back is refused."""
    frame = frame[list(EPISODE_COLUMNS)].reset_index(drop=True)
    nan = frame.isna()
    if nan.any().any():
        row, col = np.argwhere(nan.to_numpy())[0]
        raise EpisodesError(f"{where}: episode {row} has no {EPISODE_COLUMNS[col]} (NaN or not a number); expected numbers")
    fractional = (frame[["episode", "step", "length"]] % 1 != 0).any(axis=1)
    if fractional.any():
        row = int(np.flatnonzero(fractional)[0])
        raise EpisodesError(f"{where}: episode {row} has a step, number or length that is not whole; expected integers")
    steps = frame["step"].to_numpy(dtype=float)
    back = np.flatnonzero(np.diff(steps) < 0)
    if len(back):
        i = int(back[0])
        raise EpisodesError(
            f"{where}: steps go back from {steps[i]:g} (episode {i}) to {steps[i + 1]:g} (episode {i + 1}); "
            f"expected steps that never decrease (one run, in the order it ran)"
        )
    for column in ("episode", "step", "length"):
        frame[column] = frame[column].astype(np.int64)
    frame["wall_s"] = frame["wall_s"].astype(float)
    frame["return"] = frame["return"].astype(float)
    return frame


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
