"""An external agent's training command: a template checked before any job, filled in with shell-quoted values,
run with its output streamed to the job's log, timed and recorded.

The template is a shell command line (the user names their program's own interpreter or environment in it, e.g.
`../my-ppo/.venv/bin/python train.py --seed {seed}`), with placeholders in braces. Every substituted value is
shell-quoted, so a value (a run directory holding a space or a quote) stays one argument whatever it holds.
"""

from __future__ import annotations

import collections
import os
import resource
import shlex
import signal
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from ppo.config import ConfigError

# What a command may ask for. The program's own directory ({run_dir}) is a fresh, empty directory for its files.
PLACEHOLDERS = {
    "env": "the Gymnasium env id",
    "seed": "the run's seed",
    "total_timesteps": "the env-step budget",
    "run_dir": "the directory the program writes its files to (absolute)",
    "threads": "the CPU threads the job may use",
}
# The thread pools a program's numerical libraries start, pinned to the job's threads (one by default): Snakemake
# runs jobs side by side, and a program that starts a pool per core would slow every job beside it.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
TAIL_LINES = 20  # the program's last output lines repeated in a failure's message


class CommandFailed(ChildProcessError):
    """The program exited non-zero; the message's first line says so, its last output lines follow."""


def check_template(template: str, where: str = "command", allowed=tuple(PLACEHOLDERS)) -> list[str]:
    """The template's placeholder names, in order; ConfigError (one line) for an unknown name, a positional `{}`,
    a format spec or conversion, or unbalanced braces (write `{{` and `}}` for literal braces)."""
    if not isinstance(template, str) or not template.strip():
        raise ConfigError(f"{where}={template!r} is not a command; allowed: a shell command line with placeholders")
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ConfigError(f"{where}: {err} in {template!r}; write {{{{ and }}}} for literal braces") from None
    quote = None  # the shell's quoting state at the end of the literal text so far: None, "'" or '"'
    for literal, name, spec, conversion in parsed:
        quote, escaped = _quote_state(literal, quote)
        if name is None:
            continue
        if quote is not None:  # a quoted value inside the user's quotes would be quoted twice (and break out)
            raise ConfigError(
                f"{where}: placeholder {{{name}}} is inside {quote}quotes{quote}; "
                "write it unquoted: ppo-bench quotes every value"
            )
        # `\{run_dir}` escapes the value's opening quote and `${run_dir}` makes it $'...' (bash's ANSI-C quoting):
        # either way the value is no longer one quoted argument.
        if escaped or literal.endswith("$"):
            raise ConfigError(
                f"{where}: placeholder {{{name}}} follows {'a backslash' if escaped else '$'}, which would unquote its "
                "value; write it on its own: ppo-bench quotes every value"
            )
        if name not in allowed or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConfigError(
                f"{where}: placeholder {shown} is not known; allowed: {', '.join('{' + p + '}' for p in allowed)}"
            )
        names.append(name)
    return names


def _quote_state(text: str, quote: str | None) -> tuple[str | None, bool]:
    """The quoting state after `text`, from `quote` (None: unquoted), and whether a backslash escapes what comes
    next: POSIX shell rules for ' " and backslash."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
    return quote, escaped


def render(template: str, values: dict[str, Any]) -> str:
    """The command line with every placeholder replaced by its shell-quoted value."""
    check_template(template)
    return template.format(**{name: shlex.quote(str(value)) for name, value in values.items()})


@dataclass(frozen=True)
class Finished:
    """What ppo-bench saw of a program's run."""

    command: str  # the command line as run
    exit_status: int
    wall_seconds: float
    cpu_seconds: float  # user + system time of the program and its children


def _stop(process: subprocess.Popen, grace_seconds: float = 10.0) -> None:
    """SIGTERM to the program's whole process group (the shell forks it, and it may fork trainers and env workers
    of its own); after the grace period (or once the shell is gone), SIGKILL to whatever of the group is left.
    A second SIGTERM or Ctrl-C meanwhile waits until this is done (it would otherwise end us before the SIGKILL)."""
    deferred = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace_seconds)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, deferred)


def run_command(command: str, cwd: str, threads: int) -> Finished:
    """Run the command line through the shell, its output (stdout and stderr, merged) copied to ours line by line,
    so the job's log holds it. CommandFailed when it exits non-zero."""
    environment = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    with subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group: stopping it reaches every process it started
    ) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                sys.stdout.write(line)
                tail.append(line.rstrip("\n"))
            status = process.wait()
        except BaseException:  # SIGTERM (SystemExit), Ctrl-C: the program stops with us, never left running alone
            _stop(process)
            raise
    sys.stdout.flush()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    finished = Finished(command, status, time.monotonic() - started, cpu)
    if status != 0:
        last = "\n".join(f"  | {line}" for line in tail) or "  | (no output)"
        raise CommandFailed(f"the command exited with status {status}: {command}; its last output lines:\n{last}")
    return finished
