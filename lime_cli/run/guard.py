"""Turning errors into one line on stderr and an exit code (the CLI's promise)."""

from __future__ import annotations

from collections.abc import Callable

import click

from lime_cli.errors import EXIT_INTERNAL, LimeCliError

#: The exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def report_error(error: LimeCliError) -> None:
    """One line on stderr."""
    message = " ".join(error.message.split())  # foreign exception texts may span lines
    click.echo(f"lime-explain: {error.kind}: {message}", err=True)


def guarded(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and exit with its code; errors become one line and a code."""
    try:
        code = body()
    except LimeCliError as exc:
        if debug:
            raise
        report_error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("lime-explain: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # the promise: no traceback without --debug
        if debug:
            raise
        message = " ".join(str(exc).split())
        click.echo(
            f"lime-explain: internal error: {type(exc).__name__}: {message} "
            "(run again with --debug for a traceback)",
            err=True,
        )
        code = EXIT_INTERNAL
    raise SystemExit(code)
