"""The per-input run loop shared by every command: settings, errors, exit codes, outputs."""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from lime_cli.errors import (
    EXIT_INTERNAL,
    InternalError,
    LimeCliError,
    UsageError,
    worst_exit_code,
)

T = TypeVar("T")

#: Writes explanations to a path: (path, explanations) -> None.
Writer = Callable[[str, list[Any]], None]


def build_rules(
    forbid: tuple[str, ...],
    require: tuple[str, ...],
    within: int | None,
    min_score: float | None,
    max_weight: tuple[str, ...],
    rules_file: str | None,
) -> Any:
    """The Rules from options and an optional TOML file."""
    from lime_cli.checks import Rules, load_rules, parse_max_weight

    if min_score is not None and not math.isfinite(min_score):
        raise UsageError("--min-score must be a finite number")
    rules = Rules(
        tuple(dict.fromkeys(forbid)),
        tuple(dict.fromkeys(require)),
        within,
        min_score,
        parse_max_weight(max_weight),
    )
    if rules_file:
        rules = rules.merged(load_rules(rules_file))
    return rules


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
        code = 130
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


@dataclass
class OutputPlan:
    """Where explanations go: stdout format and files by extension."""

    fmt: str
    outs: tuple[str, ...]
    quiet: bool
    writers: dict[str, Writer] = field(default_factory=dict)
    rules: Any = None
    junit: str | None = None
    #: When set, finished explanations are collected here instead of printed
    #: (pick and compare show their own summary at the end).
    sink: list[Any] | None = None
    #: When set, failed inputs are collected here as (name, error) instead of
    #: reported (compare reports each input once for both models).
    failures: list[tuple[str, LimeCliError]] | None = None

    def validate(self) -> None:
        if self.junit and not self.junit.lower().endswith(".xml"):
            raise UsageError(f"--junit {self.junit}: the file name must end in .xml")
        # A missing or read-only folder is found now, not after hours of explaining.
        from lime_cli.output import check_writable

        for path in (*self.outs, *([self.junit] if self.junit else [])):
            check_writable(path)
        for path in self.outs:
            ext = os.path.splitext(path)[1].lower()
            if ext not in self.writers:
                known = ", ".join(sorted(self.writers))
                raise UsageError(
                    f"--out {path}: unknown extension {ext or '(none)'!r}; use {known}"
                )

    def emit(self, explanation: Any) -> None:
        """Show one finished explanation on stdout at once."""
        if self.sink is not None:
            self.sink.append(explanation)
        elif self.fmt == "json":
            from lime_cli.render.json import to_json

            click.echo(to_json(explanation))
        elif not self.quiet:
            from rich.console import Console

            from lime_cli.render.terminal import print_explanation

            print_explanation(explanation, Console(soft_wrap=False))

    def write_files(self, explanations: list[Any]) -> None:
        if self.sink is not None:
            return
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
    *,
    jobs: int = 1,
    name_of: Callable[[T], str] = str,
) -> int:
    """Explain every input; a failure is reported for its input and the rest go on.

    Explanations are shown in input order as soon as each is done; files are
    written at the end, whole, from the explanations that succeeded. With
    ``jobs > 1`` inputs are spread over worker processes (joblib); each
    input's random stream depends only on the seed and the input, so the
    results do not depend on the number of jobs. Returns the worst exit code.
    """
    done: list[Any] = []
    codes: list[int] = []
    outcomes_all: list[Any] = []
    failed_inputs: list[tuple[str, str]] = []
    if jobs > 1 and len(items) > 1:
        from joblib import Parallel, delayed

        outcomes = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_attempt)(explain_one, item) for item in items
        )
    else:
        outcomes = (_attempt(explain_one, item) for item in items)
    show_bar = len(items) > 1 and not plan.quiet
    with progress_bar("inputs", show_bar) as progress:
        for count, (item, (explanation, error)) in enumerate(zip(items, outcomes), start=1):
            if error is not None:
                if debug:
                    raise error
                error = _named(error, name_of(item))
                codes.append(error.exit_code)
                if plan.failures is not None:
                    plan.failures.append((name_of(item), error))
                else:
                    report_error(error)
                    failed_inputs.append((name_of(item), error.message))
            else:
                codes.append(_run_checks(plan, explanation, outcomes_all))
                done.append(explanation)
                plan.emit(explanation)
            if progress is not None:
                progress(count, len(items))
    if done:
        plan.write_files(done)
    if plan.junit:
        from lime_cli.output import atomic_write_text
        from lime_cli.render.junit import to_junit_xml

        atomic_write_text(plan.junit, to_junit_xml(outcomes_all, failed_inputs, "lime-explain"))
    return worst_exit_code(codes)


def _named(error: BaseException, name: str) -> LimeCliError:
    """The error as a LimeCliError whose message starts with the input's name."""
    if not isinstance(error, LimeCliError):
        return InternalError(f"{name}: {type(error).__name__}: {error}")
    if error.message.startswith(f"{name}: ") or error.message.startswith(f"{name} "):
        return error
    renamed = type(error)(f"{name}: {error.message}")
    return renamed


def _run_checks(plan: OutputPlan, explanation: Any, collected: list[Any]) -> int:
    """Apply the plan's rules; failures go to stderr and into the explanation's JSON."""
    if plan.rules is None or plan.rules.empty:
        return 0
    from lime_cli.checks import evaluate, failure_line

    outcomes = evaluate(plan.rules, explanation)
    explanation.checks = [o.to_dict() for o in outcomes]
    collected.extend(outcomes)
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        click.echo(f"lime-explain: check failed: {failure_line(outcome)}", err=True)
    return 1 if failed else 0


def _attempt(explain_one: Callable[[T], Any], item: T) -> tuple[Any, BaseException | None]:
    """Run one input, returning its error instead of raising it (so others go on)."""
    try:
        return explain_one(item), None
    except LimeCliError as exc:
        return None, exc
    except Exception as exc:  # reported per input as an internal error (exit 5)
        return None, exc


@dataclass(frozen=True)
class ModelSpec:
    """How to load the model: picklable, so worker processes can load it themselves."""

    path: str
    fmt: str | None = None
    mode: str | None = None
    class_names: tuple[str, ...] | None = None
    trust_model: bool = False
    trusted_modules: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    def load(self) -> Any:
        """The loaded model adapter, once per process (workers reuse it across inputs)."""
        model = _LOADED_MODELS.get(self)
        if model is None:
            from lime_cli.models import load_model

            model = load_model(
                self.path,
                fmt=self.fmt,
                mode=self.mode,
                class_names=list(self.class_names) if self.class_names else None,
                trust_model=self.trust_model,
                trusted_modules=self.trusted_modules,
                **dict(self.options),
            )
            _LOADED_MODELS[self] = model
        return model


#: Per-process cache of loaded models, keyed by their spec (see ModelSpec.load).
_LOADED_MODELS: dict[ModelSpec, Any] = {}


def expand_sources(sources: Sequence[str], *, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Files as given; a directory stands for its files (sorted, hidden ones skipped).

    ``suffixes`` filters a directory's files by extension (case-insensitive).
    """
    out: list[str] = []
    for source in sources:
        if source != "-" and os.path.isdir(source):
            names = sorted(n for n in os.listdir(source) if not n.startswith("."))
            for name in names:
                path = os.path.join(source, name)
                if os.path.isfile(path) and (
                    not suffixes or os.path.splitext(name)[1].lower() in suffixes
                ):
                    out.append(path)
        else:
            out.append(source)
    return out


@dataclass
class Settings:
    """Everything a run needs that is the same for every modality."""

    spec: ModelSpec
    params: Any
    labels: Any
    plan: OutputPlan
    jobs: int
    debug: bool
    quiet: bool


@dataclass
class Job:
    """The inputs of one run and the picklable task that explains one of them."""

    items: list[Any]
    task: Callable[[Any], Any]
    name_of: Callable[[Any], str] = str


#: Option names that ``settings_from`` consumes; the rest belong to the modality.
COMMON_KEYS = (
    "model_path", "model_format", "mode", "class_names", "trust_model", "trust_modules",
    "label_names", "top_labels", "num_samples", "num_features", "feature_selection",
    "kernel_width", "batch_size", "seed", "jobs", "forbid", "require", "within", "min_score",
    "max_weight", "rules_file", "junit_path", "fmt", "outs", "quiet", "debug",
)  # fmt: skip


def settings_from(options: dict[str, Any], writers: dict[str, Writer]) -> Settings:
    """Validate the shared options (popping them) and leave the modality's own."""
    from lime_cli.engine import LabelRequest, LimeParams

    o = {key: options.pop(key, None) for key in COMMON_KEYS}
    if o["label_names"] and o["top_labels"]:
        raise UsageError("--labels and --top-labels cannot be used together")
    rules = build_rules(
        o["forbid"] or (),
        o["require"] or (),
        o["within"],
        o["min_score"],
        o["max_weight"] or (),
        o["rules_file"],
    )
    plan = OutputPlan(o["fmt"] or "table", o["outs"] or (), bool(o["quiet"]), writers,
                      rules=rules, junit=o["junit_path"])  # fmt: skip
    plan.validate()
    params = LimeParams(
        num_samples=o["num_samples"] or 5000,
        # Checks look at the `within` strongest features, so at least that many are explained.
        num_features=max(o["num_features"] or 10, rules.within or 0),
        feature_selection=o["feature_selection"] or "auto",
        kernel_width=o["kernel_width"],
        batch_size=o["batch_size"],
        seed=resolve_seed(o["seed"]),
    )
    params.validate()
    names = split_names(o["class_names"])
    model_paths = o["model_path"]
    spec = ModelSpec(
        model_paths if isinstance(model_paths, str) else model_paths[0],
        fmt=o["model_format"],
        mode=o["mode"],
        class_names=tuple(names) if names else None,
        trust_model=bool(o["trust_model"]),
        trusted_modules=tuple(o["trust_modules"] or ()),
    )
    return Settings(
        spec=spec,
        params=params,
        labels=LabelRequest(tuple(dict.fromkeys(o["label_names"] or ())), o["top_labels"]),
        plan=plan,
        jobs=o["jobs"] or 1,
        debug=bool(o["debug"]),
        quiet=bool(o["quiet"]),
    )


def check_labels(settings: Settings) -> None:
    """Refuse label options the model cannot honour before any input is explained."""
    labels = settings.labels
    if not (labels.names or labels.top):
        return
    model = settings.spec.load()
    if model.mode == "regression":
        raise UsageError(
            "--labels and --top-labels apply to classifiers; this model is a regressor"
        )
    if labels.names and model.classes:
        from lime_cli.engine.explain import label_index

        for name in labels.names:
            label_index(model.classes, name)


def run_job(settings: Settings, job: Job) -> int:
    """Explain every input of the job with the settings' output plan."""
    check_labels(settings)
    return explain_each(
        job.items, job.task, settings.plan, settings.debug, jobs=settings.jobs, name_of=job.name_of
    )


def emit_report(
    report: dict[str, Any],
    plan: OutputPlan,
    outs: tuple[str, ...],
    renderable: Callable[[], Any],
) -> None:
    """Print a whole-run report (pick, compare) and write it to ``outs`` as JSON."""
    import json

    from lime_cli.output import atomic_write_text

    text = json.dumps(report, ensure_ascii=False, allow_nan=False)
    for path in outs:
        atomic_write_text(path, text + "\n")
    if plan.fmt == "json":
        click.echo(text)
    elif not plan.quiet:
        from lime_cli.render.terminal import stdout_console

        stdout_console().print(renderable())
