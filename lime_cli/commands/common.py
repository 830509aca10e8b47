"""Options, error handling and the per-input run loop shared by every command."""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from lime_cli.errors import EXIT_INTERNAL, LimeCliError, UsageError, worst_exit_code

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Writes explanations to a path: (path, explanations) -> None.
Writer = Callable[[str, list[Any]], None]


def _apply(options: Sequence[Callable[[F], F]], func: F) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def model_options(func: F) -> F:
    """--model and how to read it."""
    return _apply(
        [
            click.option(
                "--model",
                "model_path",
                required=True,
                metavar="PATH",
                help="Model file: .joblib, .pkl, .skops or .onnx.",
            ),
            click.option(
                "--model-format",
                type=click.Choice(["joblib", "pickle", "skops", "onnx"]),
                help="Model file format (default: from the extension or the file's bytes).",
            ),
            click.option(
                "--mode",
                type=click.Choice(["classification", "regression"]),
                help="Explain class probabilities or a regressor's value (default: by model).",
            ),
            click.option(
                "--class-names",
                metavar="A,B,...",
                help="Names for the model's classes, in its output order.",
            ),
            click.option(
                "--trust-model",
                is_flag=True,
                help="Load any pickle, even one that names code outside scikit-learn, "
                "NumPy and SciPy. Only for files you trust: loading runs that code.",
            ),
            click.option(
                "--trust-module",
                "trust_modules",
                multiple=True,
                metavar="NAME",
                help="Also admit classes and functions of this package (repeatable).",
            ),
        ],
        func,
    )


def lime_options(
    *, num_samples: int = 5000, num_features: int = 10, batch_size: int = 1000
) -> Callable[[F], F]:
    """The LIME loop's settings, with a command's own defaults."""

    def decorate(func: F) -> F:
        return _apply(
            [
                click.option(
                    "--labels",
                    "label_names",
                    multiple=True,
                    metavar="NAME",
                    help="Class to explain (repeatable; default: the predicted class).",
                ),
                click.option(
                    "--top-labels",
                    type=click.IntRange(min=1),
                    metavar="K",
                    help="Explain the K most probable classes.",
                ),
                click.option(
                    "--num-samples",
                    type=click.IntRange(min=2),
                    default=num_samples,
                    show_default=True,
                    help="Perturbed samples per explanation.",
                ),
                click.option(
                    "--num-features",
                    type=click.IntRange(min=1),
                    default=num_features,
                    show_default=True,
                    help="Features in each explanation.",
                ),
                click.option(
                    "--feature-selection",
                    default="auto",
                    show_default=True,
                    type=click.Choice(["auto", "forward", "highest", "lasso", "none"]),
                    help="auto: forward selection up to 6 features, highest weights above.",
                ),
                click.option(
                    "--kernel-width",
                    type=float,
                    metavar="W",
                    help="Kernel width (default: the modality's lime default).",
                ),
                click.option(
                    "--batch-size",
                    type=click.IntRange(min=1),
                    default=batch_size,
                    show_default=True,
                    help="Samples sent to the model per call.",
                ),
                click.option(
                    "--seed",
                    type=click.IntRange(min=0),
                    metavar="N",
                    help="Random seed; the same seed gives the same output "
                    "(default: a fresh one, reported in the JSON).",
                ),
            ],
            func,
        )

    return decorate


def output_options(extensions: Sequence[str]) -> Callable[[F], F]:
    """--format, --out, --quiet and --debug."""
    listed = ", ".join(extensions)

    def decorate(func: F) -> F:
        return _apply(
            [
                click.option(
                    "--format",
                    "fmt",
                    type=click.Choice(["table", "json"]),
                    default="table",
                    show_default=True,
                    help="stdout: rich tables, or JSON (one line per input).",
                ),
                click.option(
                    "--out",
                    "outs",
                    multiple=True,
                    metavar="PATH",
                    help=f"Also write to PATH; its extension picks the format ({listed}). "
                    "Repeatable.",
                ),
                click.option(
                    "--quiet",
                    "-q",
                    is_flag=True,
                    help="No progress bar and no terminal output (files and exit code only).",
                ),
                click.option("--debug", is_flag=True, help="Show tracebacks for errors."),
            ],
            func,
        )

    return decorate


def split_names(value: str | None) -> list[str] | None:
    """``"a,b,c"`` -> ``["a", "b", "c"]``."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",")]
    if not all(names):
        raise UsageError("--class-names must be a comma-separated list of non-empty names")
    return names


def resolve_seed(seed: int | None) -> int:
    """The given seed, or a fresh one to report so the run can be repeated."""
    return seed if seed is not None else secrets.randbits(32)


def rng_for(seed: int, identity: bytes | int) -> Any:
    """A random stream derived from the seed and the input's identity alone.

    So an input's explanation does not depend on what else was explained in
    the same process, in which order, or in which worker.
    """
    import numpy as np

    if isinstance(identity, int):
        key = identity
    else:
        key = int.from_bytes(hashlib.sha256(identity).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


@contextmanager
def progress_bar(description: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr, or ``None`` when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def report_error(error: LimeCliError) -> None:
    """One line on stderr."""
    click.echo(f"lime-explain: {error.kind}: {error.message}", err=True)


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
        code = 130
    except Exception as exc:  # the promise: no traceback without --debug
        if debug:
            raise
        click.echo(
            f"lime-explain: internal error: {type(exc).__name__}: {exc} "
            "(run again with --debug for a traceback)",
            err=True,
        )
        code = EXIT_INTERNAL
    raise SystemExit(code)


@dataclass
class OutputPlan:
    """Where explanations go: stdout format and files by extension."""

    fmt: str
    outs: tuple[str, ...]
    quiet: bool
    writers: dict[str, Writer] = field(default_factory=dict)

    def validate(self) -> None:
        for path in self.outs:
            ext = os.path.splitext(path)[1].lower()
            if ext not in self.writers:
                known = ", ".join(sorted(self.writers))
                raise UsageError(
                    f"--out {path}: unknown extension {ext or '(none)'!r}; use {known}"
                )

    def emit(self, explanation: Any) -> None:
        """Show one finished explanation on stdout at once."""
        if self.fmt == "json":
            from lime_cli.render.json import to_json

            click.echo(to_json(explanation))
        elif not self.quiet:
            from rich.console import Console

            from lime_cli.render.terminal import print_explanation

            print_explanation(explanation, Console(soft_wrap=False))

    def write_files(self, explanations: list[Any]) -> None:
        for path in self.outs:
            self.writers[os.path.splitext(path)[1].lower()](path, explanations)


def json_writers() -> dict[str, Writer]:
    """Writers for .json (one object, or JSON Lines for several) and .jsonl."""
    from lime_cli.output import atomic_write_text
    from lime_cli.render.json import to_json_file_text

    return {
        ".json": lambda path, ex: atomic_write_text(path, to_json_file_text(ex, lines=False)),
        ".jsonl": lambda path, ex: atomic_write_text(path, to_json_file_text(ex, lines=True)),
    }


def explain_each(
    items: Sequence[T],
    explain_one: Callable[[T], Any],
    plan: OutputPlan,
    debug: bool,
) -> int:
    """Explain every input in order; a failure is reported for its input and the rest go on.

    Each finished explanation is shown at once; files are written at the end,
    whole, from the explanations that succeeded. Returns the worst exit code.
    """
    done: list[Any] = []
    codes: list[int] = []
    for item in items:
        try:
            done.append(explain_one(item))
        except LimeCliError as exc:
            if debug:
                raise
            report_error(exc)
            codes.append(exc.exit_code)
            continue
        plan.emit(done[-1])
    if done:
        plan.write_files(done)
    return worst_exit_code(codes)
