"""How the CLI reports failures: one line on stderr and an exit code from one table, never a traceback
for bad input. Every command is wrapped once by `cli_errors` (phasecal/cli.py); commands raise, they
do not print errors or pick exit codes themselves.

Exit codes:
    0    done
    1    RunFailed: the input was fine but part of the work failed; what finished is kept
    2    bad input: a usage error (unknown option, a flag value of the wrong type), ValueError (unusable
         flag, workload, profile or raw file, too little memory) or OSError (missing, unreadable or
         unwritable path, full disk)
    130  interrupted (Ctrl-C); the message says what was kept
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class RunFailed(RuntimeError):
    """The input was fine but part of the work failed (e.g. a probe raised); what finished is kept."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the interrupted work kept (e.g. how many finished points, and where)."""


# (exception type, exit code, label), first match wins
EXIT_TABLE: tuple[tuple[type[BaseException], int, str], ...] = (
    (KeyboardInterrupt, EXIT_INTERRUPTED, "interrupted"),
    (RunFailed, EXIT_FAILED, "failed"),
    (ValueError, EXIT_BAD_INPUT, "error"),
    (OSError, EXIT_BAD_INPUT, "error"),
)


def one_line(e: BaseException) -> str:
    """The exception's message on one line (an OSError with its file, when it has one)."""
    if isinstance(e, OSError) and e.strerror:
        files = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        text = f"{files}: {e.strerror}" if files else e.strerror
    else:
        text = str(e) or type(e).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def cli_errors(fn: Callable, command: str) -> Callable:
    """Run a command; map what it raises through EXIT_TABLE to one stderr line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except tuple(t for t, _, _ in EXIT_TABLE) as e:
            code, label = next((c, lab) for t, c, lab in EXIT_TABLE if isinstance(e, t))
            if isinstance(e, KeyboardInterrupt):
                detail = one_line(e) if isinstance(e, Interrupted) else "nothing was left half-written"
            else:
                detail = one_line(e)
            print(f"phasecal {command}: {label}: {detail}", file=sys.stderr)
            raise typer.Exit(code) from None

    return wrapper


class CliApp(typer.Typer):
    """A Typer app whose usage errors (click's: unknown option, a flag value of the wrong type) are one
    line on stderr and exit 2 too, like every other bad input."""

    def __call__(self, *args, **kwargs):
        try:
            code = super().__call__(*args, **{**kwargs, "standalone_mode": False})
        except typer.TyperException as e:  # click's usage errors derive from it
            message = e.format_message()
            if message:  # (none when the help was asked for by giving no arguments: it is printed already)
                print(f"phasecal: error: {one_line(ValueError(message))} (see --help)", file=sys.stderr)
            sys.exit(e.exit_code)
        except typer.Abort:
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)  # typer.Exit(code) comes back as its code here
