"""Command-line options shared by every command (click decorators, help texts).

Kept apart from the run loop in ``common.py`` so the wiring of options is in
one place and the loop can be read without them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lime_cli import defaults
from lime_cli.checks import RULE_KEYS
from lime_cli.models import http_defaults

if TYPE_CHECKING:
    from lime_cli.render.registry import OutputFormat

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloat(click.FloatRange):
    """A float option that refuses NaN and infinities (click's ranges let NaN
    through: every comparison with it is false), optionally within a range."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number

    def _describe_range(self) -> str:
        """No range in the help of an unbounded number (click wrote ``x<=None``)."""
        if self.min is None and self.max is None:
            return ""
        return str(super()._describe_range())


def _apply(options: Sequence[Callable[[F], F]], func: F) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def model_options(func: F) -> F:
    """--model and how to read it."""
    return _model_options(func, compare=False)


def compare_model_options(func: F) -> F:
    """--model given twice (A then B) and how to read them."""
    return _model_options(func, compare=True)


def _model_options(func: F, *, compare: bool) -> F:
    return _apply(
        [
            click.option(
                "--model",
                "model_path",
                required=True,
                multiple=compare,
                metavar="PATH|CALLABLE|URL",
                help="Model file (.joblib, .pkl, .skops or .onnx), a Python callable "
                "(module:function or file.py:function) or a served model "
                "(http(s)://host/v2/models/NAME, or an MLflow server's URL)"
                + (" (twice: model A, then model B)." if compare else "."),
            ),
            click.option(
                "--protocol",
                type=click.Choice(http_defaults.PROTOCOLS),
                help="How to talk to a served model: v2 (Open Inference Protocol: KServe, "
                "Triton, MLServer) or mlflow (default: detected).",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(min=1, max=http_defaults.MAX_CONCURRENCY),
                metavar="N",
                help=f"Requests in flight at once to a served model (default: "
                f"{http_defaults.CONCURRENCY}); each request carries --batch-size samples.",
            ),
            click.option(
                "--timeout",
                type=FiniteFloat(min=0, min_open=True),
                metavar="SECONDS",
                help="Seconds one request to a served model may take "
                f"(default: {http_defaults.TIMEOUT:g}).",
            ),
            click.option(
                "--model-format",
                type=click.Choice(defaults.MODEL_FORMATS),
                help="Model file format (default: from the extension or the file's bytes).",
            ),
            click.option(
                "--mode",
                type=click.Choice(defaults.MODES),
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


def check_options(func: F) -> F:
    """Checks that fail the command (exit 1) when the explanation breaks a rule."""
    return _apply(
        [
            click.option("--forbid", multiple=True, metavar="FEATURE",
                         help="Fail if FEATURE is among the --within strongest features of any "
                              "explained label (tabular: a column matches all its conditions)."),
            click.option("--require", multiple=True, metavar="FEATURE",
                         help="Fail unless FEATURE is among the --within strongest features."),
            click.option("--within", type=click.IntRange(min=1), metavar="K",
                         help="How many of the strongest features the checks look at "
                              "(default: --num-features)."),
            click.option("--min-score", type=FiniteFloat(), metavar="S",
                         help="Fail if a surrogate's score (weighted R²) is below S."),
            click.option("--min-stability", type=FiniteFloat(0, 1), metavar="S",
                         help="Fail if the expected top-K agreement with a re-run (Jaccard) is "
                              "below S: the explanation is too unstable to act on."),
            click.option("--max-weight", multiple=True, metavar="FEATURE=W",
                         help="Fail if FEATURE's absolute weight exceeds W."),
            click.option("--rules", "rules_file", metavar="FILE.toml",
                         help="The same checks from a TOML file (keys: "
                              f"{', '.join(RULE_KEYS)})."),
            click.option("--junit", "junit_path", metavar="FILE.xml",
                         help="Write the checks' outcomes as JUnit XML."),
            click.option("--annotations", type=click.Choice(("github",)),
                         help="Also print failed checks (and inputs that failed) as CI "
                              "annotations on stderr; github: '::error file=...::' lines, "
                              "shown on the run and on the input's file."),
        ],
        func,
    )  # fmt: skip


def jobs_option(func: F) -> F:
    """--jobs: processes across inputs; --scheduler: a Dask cluster instead."""
    func = click.option(
        "--scheduler",
        metavar="tcp://HOST:PORT|local:N",
        envvar="DASK_SCHEDULER_ADDRESS",
        expose_value=False,
        callback=_choose_scheduler,
        help="Explain on a Dask cluster: its scheduler's address, or local:N for N local "
        "worker processes (needs lime-explain[dask]; default: $DASK_SCHEDULER_ADDRESS, "
        "unless --jobs is given). Every worker must be able to read the model file (a "
        "relative name is taken from this folder).",
    )(func)
    return click.option(
        "--jobs",
        "-j",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Processes that share the inputs (this one and N-1 workers: forks of it for "
        "scikit-learn models on Linux, else started only when the work outweighs their "
        "start-up); results are identical for any number.",
    )(func)


def _choose_scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """Set the executor's backend for this command (None: this machine's processes)."""
    from lime_cli.errors import UsageError
    from lime_cli.run import executor

    source = ctx.get_parameter_source("scheduler")
    if value == "" and source == click.core.ParameterSource.COMMANDLINE:
        # An empty $ADDR in a script: running here instead would hide it.
        raise click.BadParameter(
            "empty; give tcp://HOST:PORT or local:N (--jobs N runs on this machine, "
            "whatever DASK_SCHEDULER_ADDRESS says)"
        )
    if not value:
        executor.set_default_backend(None)
        return
    from lime_cli.run.dask_backend import check_address

    try:
        executor.set_default_backend("dask:" + check_address(value))
    except UsageError as exc:
        if source == click.core.ParameterSource.ENVIRONMENT:
            # Checked once the options are read: a typed --jobs overrides it.
            executor.set_default_backend("dask:" + value)
            return
        raise click.BadParameter(exc.message.split(": ", 1)[-1]) from None


def resume_option(func: F) -> F:
    """--resume: finish a stopped run whose JSON Lines output is there."""
    return click.option(
        "--resume",
        is_flag=True,
        help="Go on with a run that was stopped (Ctrl-C, a killed job): inputs already in "
        "the --out FILE.jsonl are skipped, the rest appended; the file ends up as an "
        "uninterrupted run writes it. The seed comes from the file unless --seed is given.",
    )(func)


def lime_options(
    *,
    num_samples: int = defaults.NUM_SAMPLES,
    num_features: int = defaults.NUM_FEATURES,
    min_samples: int = defaults.MIN_SAMPLES,
    max_samples: int = defaults.MAX_SAMPLES,
    batch_size: int | None = None,
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
                    callback=sample_count,
                    default=str(num_samples),
                    show_default=True,
                    metavar="N|auto",
                    help="Perturbed samples per explanation, or auto: draw in rounds from "
                    "--min-samples, keeping every sample, until the top features are settled "
                    "(up to declared ties) at --confidence or as stable as the fixed default "
                    "would make them (at most the default count; with --stability: until "
                    "that stability or --max-samples).",
                ),
                click.option(
                    "--min-samples",
                    type=click.IntRange(min=2),
                    default=min_samples,
                    show_default=True,
                    help="auto: the first round's samples.",
                ),
                click.option(
                    "--max-samples",
                    type=click.IntRange(min=2),
                    default=max_samples,
                    show_default=True,
                    help="auto: the most samples drawn (rounds at most double).",
                ),
                click.option(
                    "--confidence",
                    type=FiniteFloat(min=0.5, max=1, max_open=True),
                    default=defaults.CONFIDENCE,
                    show_default=True,
                    help="Confidence of the weights' intervals, of declared ties and of "
                    "auto's stop rule.",
                ),
                click.option(
                    "--stability",
                    "stability_target",
                    type=FiniteFloat(min=0, max=1, min_open=True),
                    metavar="S",
                    help="auto: sample until the expected top-K agreement with a re-run "
                    "(Jaccard) is at least S at --confidence (instead of stopping at the "
                    "fixed default's stability), up to --max-samples.",
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
                    default=defaults.FEATURE_SELECTION,
                    show_default=True,
                    type=click.Choice(defaults.FEATURE_SELECTIONS),
                    help=f"auto: forward selection up to {defaults.AUTO_FORWARD_LIMIT} "
                    "features, highest weights above.",
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
                    show_default=batch_size is not None,
                    help="Samples sent to the model per call (default: as many as fit in a "
                    "bounded amount of memory for this kind of input).",
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


def sample_count(ctx: click.Context, param: click.Parameter, value: Any) -> int | str:
    """``--num-samples``: a whole number of at least 2, or ``auto``."""
    if isinstance(value, int) or value == "auto":
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise click.BadParameter(f"{value!r} is neither a whole number nor 'auto'") from None
    if number < 2:
        raise click.BadParameter(f"{number} is below 2")
    return number


def output_options(
    formats: Sequence[OutputFormat] = (), *, role: str = "writer"
) -> Callable[[F], F]:
    """--format, --out, --quiet and --debug; choices and help from the output registry.

    ``formats`` are the command's own formats (a modality's), ``role`` is
    ``"report_writer"`` for commands that write a report (pick, compare).
    """
    from lime_cli.render.registry import extensions_text, stream_formats

    listed = extensions_text(formats, role=role)
    streams = stream_formats(formats)

    def decorate(func: F) -> F:
        return _apply(
            [
                click.option(
                    "--format",
                    "fmt",
                    type=click.Choice(streams),
                    default="table",
                    show_default=True,
                    help="What stdout shows: " + ", ".join(streams) + " (json: one line per "
                    "input).",
                ),
                click.option(
                    "--out",
                    "outs",
                    multiple=True,
                    metavar="PATH",
                    help=f"Also write to PATH; its extension picks the format ({listed}), "
                    "or NAME:PATH names it. Repeatable.",
                ),
                click.option(
                    "--quiet",
                    "-q",
                    is_flag=True,
                    help="No progress bar and no tables on stdout: files and the exit code "
                    "only (--format json still prints its JSON).",
                ),
                click.option("--debug", is_flag=True, help="Show tracebacks for errors."),
            ],
            func,
        )

    return decorate


def with_help(command: click.Command, overrides: Mapping[str, str]) -> click.Command:
    """The command with some options' help replaced (what they mean for one modality)."""
    for param in command.params:
        if isinstance(param, click.Option) and param.name in overrides:
            param.help = overrides[param.name]
    return command
