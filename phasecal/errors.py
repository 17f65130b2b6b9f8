"""How the CLI reports failures: one clear line on stderr and a non-zero exit, never a traceback for bad input."""

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


def cli_errors(fn: Callable) -> Callable:
    """Turn ValueError/OSError (bad input, unwritable paths) into exit 2, RunFailed into exit 1 and
    Ctrl-C into exit 130, each with one line on stderr."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            print("phasecal: interrupted; finished points are kept, rerun the same command to resume",
                  file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except RunFailed as e:
            print(f"phasecal: failed: {e}", file=sys.stderr)
            raise typer.Exit(EXIT_FAILED) from None
        except (ValueError, OSError) as e:
            print(f"phasecal: error: {e}", file=sys.stderr)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper
