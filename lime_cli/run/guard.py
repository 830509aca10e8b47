"""Turning errors into one line on stderr and an exit code (the CLI's promise)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from lime_cli.errors import EXIT_INTERNAL, LimeCliError

#: The exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

#: The exit code of a run whose stdout was closed by its reader (``| head``):
#: 128 + SIGPIPE, what shells report for ``yes | head``, so ``set -o pipefail``
#: scripts see the same as with any Unix tool.
EXIT_PIPE_CLOSED = 141


def report_error(error: LimeCliError) -> None:
    """One line on stderr."""
    message = " ".join(error.message.split())  # foreign exception texts may span lines
    click.echo(f"lime-explain: {error.kind}: {message}", err=True)


def drop_closed_stdout() -> bool:
    """Whether stdout is a pipe (or socket) whose reader has gone (``head``, ``less``).

    Asked of the pipe itself (poll reports an error on a pipe's writing end
    once no reader is left), as a flush may have nothing left to write. When
    it has gone, fd 1 is pointed at /dev/null and what could not be written is
    dropped, so the interpreter's last flush at exit is quiet too.
    """
    import os
    import select
    import sys

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, 0)  # POLLERR and POLLHUP are always reported
        # A pipe without a reader reports an error; a socket whose peer left, a hang-up.
        gone = select.POLLERR | select.POLLHUP
        closed = any(events & gone for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's capture)
        return False
    if closed:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
    return closed


def stop_now(signum: int, frame: object) -> None:
    """Ctrl-C outside a command's body (starting up, parsing options): one line, exit 130.

    Nothing is under way to tidy up then, and a KeyboardInterrupt raised in
    the middle of importing would reach click (``Aborted!``, exit 1) or
    Python (a traceback).
    """
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe
            pass
    os.write(2, b"lime-explain: interrupted\n")
    os._exit(EXIT_INTERRUPTED)


#: Set by the console entry point: after Ctrl-C, once outputs are closed and
#: workers stopped, the process ends at once (an import cut short by the
#: interrupt can otherwise make the interpreter's exit report SIGINT, not 130).
_whole_program = False


def install_interrupt_handler() -> None:
    """From the start of the program: Ctrl-C exits at once with one line (see stop_now);
    :func:`guarded` turns it into KeyboardInterrupt while a command runs."""
    import signal

    global _whole_program
    _whole_program = True
    signal.signal(signal.SIGINT, stop_now)


#: Set by a Ctrl-C in a command's body, for :func:`stop_if_interrupted`.
_interrupted = False


def interrupt_once(signum: int, frame: object) -> None:
    """Ctrl-C in a command's body: KeyboardInterrupt, and further Ctrl-Cs are
    ignored while outputs are closed and workers stopped (a second one, pressed
    out of impatience, cut that short with a traceback from wherever it landed).

    The interrupt is also remembered: a KeyboardInterrupt raised where a library
    swallows it (some code run while importing catches every exception) would
    otherwise be lost, and the run would go on to the end.
    """
    import signal

    global _interrupted
    _interrupted = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed in this command and its
    KeyboardInterrupt did not get here (called between inputs)."""
    if _interrupted:
        raise KeyboardInterrupt


def guarded(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and exit with its code; errors become one line and a code.

    Ctrl-C raises KeyboardInterrupt in the body (so outputs are closed where
    they stand, workers stopped): one line, exit 130.
    """
    import signal
    import threading

    global _interrupted
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt_once) if main else None
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_quiet_interrupt, previous_hook)
    _interrupted = False
    try:
        code = body()
        stop_if_interrupted()  # a Ctrl-C whose KeyboardInterrupt was swallowed
    except LimeCliError as exc:
        if debug:
            raise
        report_error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        if _whole_program:
            stop_now(0, None)  # everything under way was closed on the way here
        click.echo("lime-explain: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # the promise: no traceback without --debug
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)) and drop_closed_stdout():
            # The reader took what it wanted (``| head``): end quietly, as Unix tools do.
            raise SystemExit(EXIT_PIPE_CLOSED) from None
        if debug:
            raise
        message = " ".join(str(exc).split())
        click.echo(
            f"lime-explain: internal error: {type(exc).__name__}: {message} "
            "(run again with --debug for a traceback)",
            err=True,
        )
        code = EXIT_INTERNAL
    finally:
        sys.unraisablehook = previous_hook
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    raise SystemExit(code)


def _quiet_interrupt(others: Callable[[Any], object], unraisable: Any) -> None:
    """``sys.unraisablehook`` while a command runs: a KeyboardInterrupt raised where
    Python cannot raise it (a finalizer, such as a Dask future's ``__del__`` run
    when the Ctrl-C lands) is dropped without the "Exception ignored" traceback;
    :func:`interrupt_once` remembered it, so the run still stops there. Others go
    to ``others``, the hook before."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    others(unraisable)
