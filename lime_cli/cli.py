"""The ``lime-explain`` command group.

Subcommands live in ``lime_cli.commands`` and are imported only when invoked,
so ``lime-explain --help`` starts without NumPy, scikit-learn or onnxruntime.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from lime_cli import __version__
from lime_cli.modalities import MODALITIES

#: Commands that are not one modality's: name -> (module, attribute, one-line help).
#: Each modality in ``lime_cli.modalities`` also gets a command of its own name.
COMMANDS = {
    "pick": ("lime_cli.commands.pick", "pick", "A few representative explanations (SP-LIME)."),
    "compare": ("lime_cli.commands.compare", "compare", "Two models' explanations side by side."),
    "render": ("lime_cli.commands.render", "render", "Draw saved explanations again (JSON in)."),
}

EPILOG = """\b
Exit codes:
  0  success
  1  a requested check failed
  2  usage error
  3  bad input (missing, unreadable, empty, undecodable)
  4  model error (cannot load, wrong kind, fails to predict, wrong output)
  5  unexpected internal error
  130 interrupted (Ctrl-C)
  141 stdout closed by its reader (e.g. '| head'): nothing more is printed
"""


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line on stderr, like the commands' own.

    click shows a bad option as four lines (usage, a hint, a blank line, the
    error); scripts and people read one: ``lime-explain: usage error: ...``.
    """

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(original.format_message(), original.ctx)

    def show(self, file: object = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"lime-explain: usage error: {self.format_message()}{where}", err=True)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; their usage errors
    (and its own) are one line (:class:`OneLineUsageError`)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*MODALITIES, *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in MODALITIES:
            from lime_cli.commands.explain import make_command
            from lime_cli.modalities import load

            return make_command(load(cmd_name))
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        return getattr(module, spec[1])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, spec[1]) for name, spec in MODALITIES.items()]
        rows += [(name, spec[2]) for name, spec in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lime-explain")
def cli() -> None:
    """Explain a classifier's predictions with LIME (Ribeiro et al., KDD 2016).

    Perturb an input, ask the model about each perturbed copy, weight the
    copies by their closeness to the original and fit a sparse linear model:
    its weights say which words, superpixels or conditions made the model
    decide.
    """


def main() -> None:
    """Console-script entry point: ends the process with the command's exit code (see
    :func:`leave`); a program that runs a command and goes on calls :data:`cli`."""
    from lime_cli import lean_imports
    from lime_cli.run.guard import EXIT_PIPE_CLOSED, drop_closed_stdout, install_interrupt_handler

    lean_imports.install()
    install_interrupt_handler()
    # File names that are not valid UTF-8 must not crash printing them.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        cli(prog_name="lime-explain")
    except SystemExit as done:
        if not done.code:
            try:
                sys.stdout.flush()
            except (BrokenPipeError, ConnectionResetError):  # the last lines met a closed pipe
                drop_closed_stdout()  # so the exit's own flush is quiet
                done = SystemExit(EXIT_PIPE_CLOSED)
        leave(done)
        raise done from None


def leave(done: SystemExit) -> None:
    """End the process with the command's exit code, skipping the interpreter's teardown.

    Freeing every module and object of NumPy, pandas, SciPy and scikit-learn
    at exit takes 0.2-1 s (measured: 0.2 s on a quiet machine, up to 1 s on a
    busy one), a tenth of a 200-row tabular run. Once the command has ended
    its files are closed, so this flushes stdout and stderr, runs the exit
    handlers and calls ``os._exit``.
    Returns (the caller exits as usual) when a thread other than this one
    runs (workers' pools are shut down by the usual exit) or stdout cannot be
    flushed (a closed pipe: the usual exit reports it).
    """
    import atexit
    import os
    import threading

    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if threading.active_count() > 1 or run_handlers is None:
        return
    code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        return
    run_handlers()
    os._exit(code or 0)
