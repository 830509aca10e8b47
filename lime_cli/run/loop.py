"""The run loop every command shares: explain, check, show, write, exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from lime_cli.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    InternalError,
    LimeCliError,
    OutputError,
    UnreadInputError,
    UsageError,
    worst_exit_code,
)
from lime_cli.explanation import Explanation
from lime_cli.run import executor
from lime_cli.run.encoded import LineEncodingTask, line_of
from lime_cli.run.guard import report_error, stop_if_interrupted
from lime_cli.run.outputs import OutputPlan, RunResult
from lime_cli.run.progress import printing, progress_bar
from lime_cli.run.resume import (
    LineWriter,
    Progress,
    ResumeRefusal,
    content_digest,
    ledger_path,
)
from lime_cli.run.settings import Settings, check_labels


@dataclass
class Job:
    """The inputs of one run and the picklable task that explains them.

    ``name_of`` names an input (in messages and the ``--resume`` ledger);
    ``content_of`` gives the bytes that make it what it is (a row's values, a
    document's text), whose digest the ledger keeps so that ``--resume``
    notices an input edited since it was explained (None: not checked).
    ``extra_files`` are outputs the modality adds to the plan (an image's
    ``--heatmap``): (path, format name) pairs resolved through the modality's
    formats.
    """

    #: A list, or a stream read as the work goes (rows of a CSV too large to hold).
    items: Iterable[Any]
    task: executor.Task
    name_of: Callable[[Any], str] = str
    content_of: Callable[[Any], bytes | None] = lambda item: None
    extra_files: list[tuple[str, Any]] = field(default_factory=list)


#: Failed inputs' names a resume holds, at most (to tell a source that no longer reads
#: from inputs missing); past it, missing inputs stop the run as usual.
_NAMES_HELD = 10_000


def run_job(
    settings: Settings,
    job: Job,
    plan: OutputPlan,
    *,
    report_failures: bool = True,
    backend: str | None = None,
    key: str | None = None,
    resumed: Progress | None = None,
    keep: bool = True,
) -> RunResult:
    """Explain every input; a failure is reported for its input and the rest go on.

    Explanations are shown in input order as soon as each is done, and
    written at once to the JSON Lines outputs (with their ledger when ``key``,
    the settings' hash, is given: see :mod:`lime_cli.run.resume`); other
    files are written at the end, whole, from the explanations that
    succeeded. ``resumed``: the inputs already in the (one) JSON Lines output,
    skipped. Checks' failures go to stderr and into each explanation's JSON.
    With ``report_failures=False`` failed inputs are only collected (compare
    reports each input once for both models). ``keep=False`` keeps neither
    explanations (unless a file needs them all) nor failures in the result,
    so a run of millions of rows holds one batch at a time. Returns what was
    explained and the worst exit code.
    """
    # The task's model: a modality may have prepared it (ONNX options, a tokenizer).
    check_labels(job.task.model.load(), settings.labels)
    for path, fmt in job.extra_files:
        plan = plan.adding(path, fmt)
    items: Iterable[Any] = job.items
    if resumed is not None:
        if plan.written_at_end():
            raise UsageError(
                "--resume writes JSON Lines only (--out FILE.jsonl); "
                + ", ".join(plan.written_at_end())
                + " would hold only this run's part"
            )
        if resumed.fresh:
            # Stopped before its first explanation (or never run): nothing was kept,
            # not even the seed; said even with --quiet, as 'nothing to do' is.
            path = plan.streamed()[0]
            click.echo(
                f"lime-explain: {path}: nothing to resume (no output, no {ledger_path(path)}): "
                f"a new run, --seed {settings.params.seed}",
                err=True,
            )
        done, name_of, content_of = resumed.done, job.name_of, job.content_of

        def new(item: Any) -> bool:
            return not done.skips(name_of(item), lambda: content_digest(content_of(item)))

        if isinstance(items, Sequence):
            try:
                items = [item for item in items if new(item)]
            except ResumeRefusal as exc:  # nothing written yet
                done.close()
                raise exc.for_output(plan.streamed()[0]) from None
        else:
            items = (item for item in items if new(item))
        if done and not settings.quiet:
            left = f", {len(items)} to go" if isinstance(items, Sequence) else ""
            click.echo(
                f"lime-explain: resuming: {len(done)} inputs already explained{left}", err=True
            )
    keeping = keep or bool(plan.written_at_end())
    # A resume with nothing to resume writes its files as a new run does (with a header).
    append = resumed is not None and not resumed.fresh
    # Given --resume, a run keeps its ledger when it ends: the next --resume checks it.
    writers = [
        LineWriter(
            path,
            key,
            settings.params.seed,
            append,
            keep_ledger=resumed is not None,
            cut=resumed.sizes if append and resumed is not None else None,
            locked=resumed is not None and resumed.lock is not None,
        )  # fmt: skip
        for path in plan.streamed()
    ]
    result = RunResult()
    codes: set[int] = set()  # the distinct exit codes seen (memory: not one per input)
    # Kept for the reports written at the end only (memory: a run of millions of rows
    # with checks or failures would otherwise hold one record per row).
    reporting = bool(plan.junit or plan.annotations)
    outcomes_all: list[Any] = []
    failed_inputs: list[tuple[str, str]] = []
    task = job.task
    if writers and not (plan.prints or keeping or not settings.rules.empty):
        task = LineEncodingTask(task)  # lines are all the run needs: workers encode them
    pairs = executor.run_pairs(
        task, items, settings.jobs, backend or executor.default_backend(), verbose=settings.debug
    )
    total = len(items) if isinstance(items, Sequence) else None
    show_bar = (total is None or total > 1) and not settings.quiet
    # Lines that land on the bar's terminal: explanations on a terminal's stdout,
    # failed checks and inputs on stderr (where the bar is).
    shown_here = plan.show and sys.stdout.isatty()
    checking = not settings.rules.empty
    if checking and resumed is not None and len(resumed.done):
        # The stopped run's lines count as this run's: their failed checks are
        # reported again and set the exit code (a CI gate must not pass on resume).
        for kept in explanations_in(plan.streamed()[0], len(resumed.done)):
            codes.add(_run_checks(settings, kept, outcomes_all, reporting))
    finished = False
    unread = False  # a source failed part way: its later inputs were never read
    failed_sources: set[str] = set()  # failed inputs' names, the first _NAMES_HELD
    # An input edited since it was explained, or one the stopped run never met there.
    refused: ResumeRefusal | None = None
    try:
        with progress_bar("inputs", show_bar) as progress:
            for count, (item, (explanation, error)) in enumerate(pairs, start=1):
                stop_if_interrupted()
                failed = error is not None or explanation is None
                speaks = report_failures if failed else shown_here or checking
                with printing(progress if speaks else None):
                    if failed or explanation is None:  # (the second for the type checker)
                        if settings.debug and error is not None:
                            raise error
                        named = _named(error, job.name_of(item))
                        if isinstance(named, UnreadInputError):
                            unread = True
                            if writers:
                                named = UnreadInputError(
                                    f"{named.message}; {plan.streamed()[0]} keeps what came "
                                    "before, and --resume explains the rest once it is fixed"
                                )
                        codes.add(named.exit_code)
                        if resumed is not None and len(failed_sources) < _NAMES_HELD:
                            failed_sources.add(job.name_of(item))
                        if keep:
                            result.failures.append((job.name_of(item), named))
                        for writer in writers:  # the run met it (or a source's rest: unread)
                            writer.write_failure(
                                job.name_of(item), isinstance(named, UnreadInputError)
                            )
                        if report_failures:
                            report_error(named)
                            if reporting:
                                failed_inputs.append((job.name_of(item), named.message))
                    else:
                        codes.add(_run_checks(settings, explanation, outcomes_all, reporting))
                        if keeping:
                            result.explanations.append(explanation)
                        plan.emit(explanation)
                        if writers:
                            line = line_of(explanation)
                            name = job.name_of(item)
                            content = content_digest(job.content_of(item)) if key else None
                            for writer in writers:
                                writer.write(line, name, content)
                if progress is not None:
                    progress(count, total)
        finished = True
    except ResumeRefusal as exc:  # from the stream of inputs, while skipping
        refused = exc
    except UnreadInputError as exc:  # the stream of inputs failed part way (a malformed CSV line)
        if not any(w.holds_lines for w in writers):
            raise
        raise UnreadInputError(
            f"{exc.message}; {plan.streamed()[0]} keeps what came before, and --resume "
            "explains the rest once it is fixed"
        ) from None
    finally:
        unmatched = resumed is not None and resumed.done.unmatched
        unmet = resumed.done.first_unmet if resumed is not None else None  # (closed below)
        # Inputs not met because their source failed to read (a bad byte appended to a
        # --lines file): that failure is the run's message and exit code, and the
        # ledger stays for a --resume once it is fixed.
        unread_source = (
            unmatched and resumed is not None and resumed.done.unmet_within(failed_sources)
        )
        for writer in writers:
            # Inputs of the stopped run not met, or a source's rest never read: the
            # ledger stays, to resume it properly.
            writer.close(finished and not unmatched and not unread)
        if resumed is not None:
            resumed.done.close()
    if refused is not None:
        # The file explains the input as it was, or lines would come out of input
        # order: no appending makes it right.
        assert resumed is not None
        if any(w.opened for w in writers):
            resumed.cut_back(plan.streamed()[0])
        raise refused.for_output(plan.streamed()[0])
    if finished and unmatched and not unread_source:
        # Lines of inputs the stopped run did not have would never be matched again:
        # the files go back to what they were, and the stopped run can still finish.
        path = plan.streamed()[0]
        assert resumed is not None
        if any(w.opened for w in writers):
            resumed.cut_back(path)
        raise UsageError(
            f"{path} holds explanations of inputs not given this time, or given in another "
            f"order (the first not met: {unmet}): nothing was added; resume "
            f"with the inputs of the runs that wrote it ({ledger_path(path)} is kept; remove it "
            "to keep the file as it is)"
        )
    for writer in writers:
        if writer.kept_for_failures:  # said even with --quiet: it explains the file left
            count = writer.failures
            command = (  # --resume goes on with one JSON Lines output at a time
                "the same command with --resume"
                if len(writers) == 1
                else f"the same command with --resume and only --out {writer.path}"
            )
            click.echo(
                f"lime-explain: {ledger_path(writer.path)} is kept: {count} input"
                f"{'s' * (count != 1)} failed; {command} tries "
                f"{'them' if count != 1 else 'it'} again",
                err=True,
            )
    if result.explanations and plan.written_at_end():
        plan.write_files(result.explanations)
    write_reports(plan, outcomes_all, failed_inputs)
    result.code = worst_exit_code(sorted(codes))
    return result


def write_reports(plan: OutputPlan, outcomes: list[Any], failed_inputs: list[Any]) -> None:
    """The reports written at the end from every check's outcome and every failed
    input: a JUnit XML file, CI annotations."""
    if plan.junit:
        from lime_cli.output import atomic_write_text
        from lime_cli.render.junit import to_junit_xml

        atomic_write_text(plan.junit, to_junit_xml(outcomes, failed_inputs, "lime-explain"))
    if plan.annotations:
        from lime_cli.render.annotations import emit

        emit(plan.annotations, outcomes, failed_inputs)


def explanations_in(path: str, count: int | None = None) -> Iterator[Explanation]:
    """The explanations of the first ``count`` lines (all: None) of a JSON Lines
    output, read back a line at a time; exit 2 on a line that is not one."""
    try:
        with open(path, encoding="utf-8") as out:
            for number, line in enumerate(out, start=1):
                if count is not None and number > count:
                    return
                try:
                    yield Explanation.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise UsageError(
                        f"{path} line {number} is not a lime-explain explanation: "
                        "remove the file to start over"
                    ) from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def replay_finished(settings: Settings, plan: OutputPlan) -> int:
    """``--resume`` of a finished output: this command's checks applied to its lines
    (failures on stderr, the JUnit file or annotations written) as a run that made
    them would; the exit code. The checks are evaluated again, not read from the
    lines: the file may have been made with other checks, or none."""
    if settings.rules.empty:
        return EXIT_OK
    outcomes: list[Any] = []
    collect = bool(plan.junit or plan.annotations)
    codes = {
        _run_checks(settings, explanation, outcomes, collect)
        for explanation in explanations_in(plan.streamed()[0])
    }
    write_reports(plan, outcomes, [])
    return worst_exit_code(sorted(codes | {EXIT_OK}))


def _named(error: BaseException | None, name: str) -> LimeCliError:
    """The error as a LimeCliError whose message starts with the input's name."""
    if not isinstance(error, LimeCliError):
        return InternalError(f"{name}: {type(error).__name__}: {error}")
    if error.message.startswith(f"{name}: ") or error.message.startswith(f"{name} "):
        return error
    renamed = type(error)(f"{name}: {error.message}")
    renamed.__cause__ = error
    return renamed


def _run_checks(
    settings: Settings, explanation: Explanation, collected: list[Any], collect: bool = True
) -> int:
    """Apply the rules; failures go to stderr and into the explanation's JSON (and, with
    ``collect``, the outcomes into ``collected`` for the reports written at the end)."""
    rules = settings.rules
    if rules.empty:
        return EXIT_OK
    from lime_cli.checks import evaluate, failure_line

    outcomes = evaluate(rules, explanation)
    explanation.checks = [o.to_dict() for o in outcomes]
    if collect:
        collected.extend(outcomes)
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        click.echo(f"lime-explain: check failed: {failure_line(outcome)}", err=True)
    return EXIT_CHECK_FAILED if failed else EXIT_OK
