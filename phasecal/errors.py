"""How the CLI reports failures: one clear line on stderr and a non-zero exit, never a traceback for bad input."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def cli_errors(fn: Callable) -> Callable:
    """Turn ValueError/OSError (bad input, unwritable paths) into exit 2 and Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            print("phasecal: interrupted; finished points are kept, rerun the same command to resume",
                  file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (ValueError, OSError) as e:
            print(f"phasecal: error: {e}", file=sys.stderr)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper
