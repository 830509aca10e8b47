"""``lime-explain tabular``: which conditions on which columns decided a row of a CSV file.

Rows are explained in batches. By default the rows of a run share one set
of drawn samples and the model's answers for them (lime_cli.tabular.shared):
a batch asks the model only about its rows themselves. With
``--fresh-samples`` (or columns held at a row's value that the model uses)
each row draws its own samples, and many rows' samples are predicted in a few
large model calls (bounded memory). Then each row's surrogate is fitted. The
shared executor spreads batches over ``--jobs`` workers. The draws come from
the seed alone (each row's own: from the seed and the row's index), so a
row's explanation is the same whatever the batch, the job count or the order.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from lime_cli.errors import InputError, InternalError, LimeCliError, ModelError, UsageError
from lime_cli.run.executor import STREAM_BATCH_PER_JOB, Outcome, TaskBase
from lime_cli.run.loop import Job
from lime_cli.run.modality import Modality
from lime_cli.run.options import F
from lime_cli.run.settings import Settings, check_labels
from lime_cli.tabular.choices import DISCRETIZERS

if TYPE_CHECKING:
    from lime_cli.tabular.shared import SharedDraws


def tabular_inputs(func: F) -> F:
    """The CSV rows, the training data and how columns become features."""
    options = [
        click.argument("csv_file", required=False, metavar="[CSV]"),
        click.option("--train", "train_path", required=True, metavar="FILE.csv|FILE.json",
                     help="Training data (CSV with a header row), or statistics saved from it "
                          "with --save-stats."),
        click.option("--target", metavar="COL",
                     help="The label column: left out of the training statistics and dropped "
                          "from the rows if present (needed by --discretizer entropy)."),
        click.option("--categorical", metavar="COL,...",
                     help="Also treat these columns as categorical (string, boolean and "
                          "category columns always are)."),
        click.option("--discretizer", type=click.Choice(DISCRETIZERS),
                     help="Bins for numeric columns: quartile (default), decile, entropy "
                          "(splits that predict --target) or none (standardised values)."),
        click.option("--row", "row_numbers", multiple=True, type=click.IntRange(min=0),
                     metavar="N", help="Explain data row N (0-based, header excluded; "
                                       "repeatable)."),
        click.option("--rows", "row_range", metavar="A:B",
                     help="Explain data rows A to B-1 (either end may be left out)."),
        click.option("--all", "all_rows", is_flag=True, help="Explain every row of the CSV."),
        click.option("--ignore-columns", metavar="COL,...",
                     help="Columns that are not features (identifiers, names, free text): held "
                          "at each row's value in every sample and not explained; --save-stats "
                          "keeps only their names and types. Columns the model provably does "
                          "not use (dropped by its ColumnTransformer, absent from its "
                          "feature_names_in_) are held so without asking."),
        click.option("--freeze-columns", metavar="COL,...",
                     help="Features the model uses, held at each row's value in every sample "
                          "and not explained in this run; unlike --ignore-columns, "
                          "--save-stats keeps their statistics."),
        click.option("--fresh-samples", is_flag=True,
                     help="Draw each row's own samples, as lime does. By default the rows of "
                          "a run share one set of drawn samples and the model's answers for "
                          "them (the draws do not depend on the row), so the model is asked "
                          "about samples + rows, not rows x samples; rows then share their "
                          "sampling error. Rows holding a column the model uses (--freeze-columns, "
                          "--ignore-columns) at their own value always draw their own."),
        click.option("--save-stats", "save_stats_path", metavar="FILE.json",
                     help="Write the training statistics to FILE.json (for --train FILE.json): "
                          "per column only what sampling needs, bins or category frequencies. "
                          "A column keeps its 50 most frequent categories; rarer ones are "
                          "pooled as one 'other' level, drawn at their combined frequency and "
                          "given to the model as the most frequent of them (the same when "
                          "explaining from the CSV). Says on stderr which columns were pooled."),
        click.option("--output", "output_kind",
                     type=click.Choice(("probabilities", "logits", "auto")),
                     help="ONNX output: probabilities, or logits (softmax applied); auto "
                          "decides from the values (default)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


# -- preparing a run ---------------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    """One row to explain: its 0-based index and its typed values, or why it cannot be."""

    index: int
    values: list[Any] | None
    error: LimeCliError | None = None


def prepare_tabular(settings: Settings, options: dict[str, Any]) -> Job:
    """Read the training data and the rows, and build the task that explains rows."""
    from lime_cli.tabular.data import (
        check_stats_columns,
        convert_rows,
        held_summary,
        pooled_summary,
        read_table,
        save_stats,
    )
    from lime_cli.tabular.domain import ColumnPlan, RowLayout

    selection = RowSelection.parse(
        options.get("row_numbers") or (), options.get("row_range"), bool(options.get("all_rows"))
    )
    categorical = _split_columns(options.get("categorical"))
    ignore = _split_columns(options.get("ignore_columns"), "--ignore-columns")
    freeze = _split_columns(options.get("freeze_columns"), "--freeze-columns")
    both = [name for name in freeze if name in ignore]
    if both:
        raise UsageError(
            f"--ignore-columns and --freeze-columns both name {both[0]!r}: a column is "
            "either left out of the explanation or held at the row's value, not both"
        )
    source = options.get("csv_file")
    if source is None and not (options.get("save_stats_path") and selection.empty):
        raise UsageError("no CSV of rows to explain: give it as an argument ('-' reads stdin)")
    if source == "-" and options["train_path"] == "-":
        raise UsageError("stdin ('-') can be read only once: give the training data as a file")
    settings = _onnx_settings(settings, options.get("output_kind"))
    model = settings.spec.load()  # fail fast (exit 4) before reading any data
    _refuse_other_models(settings.spec.path, model)
    check_labels(model, settings.labels)
    stats = training_stats(
        options["train_path"], options.get("target"), categorical, options.get("discretizer")
    )
    where = stats.source or options["train_path"]
    for option, names in (("--ignore-columns", ignore), ("--freeze-columns", freeze)):
        check_stats_columns(stats, names, option, where)
    layout = RowLayout.for_model(model, stats, where)
    ColumnPlan(stats, layout, ignore=ignore, freeze=freeze)  # nothing left to explain: say so once
    if options.get("save_stats_path"):
        saved = stats.holding(set(ignore) | set(layout.unused))  # held: no values needed
        save_stats(options["save_stats_path"], saved)
        for note in (held_summary(saved), pooled_summary(saved)):
            if note:
                click.echo(f"lime-explain: {options['save_stats_path']}: {note}", err=True)
    name = "" if source is None else "stdin" if source == "-" else source
    task = TabularTask(
        settings.spec, settings.labels, settings.params, stats, name,
        ignore=tuple(ignore), freeze=tuple(freeze),
        fresh_samples=bool(options.get("fresh_samples")),
    )  # fmt: skip
    if source is None:  # only saving the statistics
        return Job([], task)
    if selection.every and source != "-":
        # Every row of a file: read a chunk at a time, so a CSV of millions of
        # rows takes the memory of a chunk (statistics come from --train).
        streamed = _streamed_rows(source, stats, options.get("target") or stats.target)
        return Job(
            streamed, task, name_of=lambda row: f"{name} row {row.index}", content_of=row_content
        )
    frame = read_table(source, as_text=True)
    target = options.get("target") or stats.target
    if target is not None and target in frame.columns:
        frame = frame.drop(columns=[target])
    _check_row_columns(list(frame.columns), stats.names, name)
    indices = selection.resolve(len(frame), name)
    rows = [
        TableRow(index, None, result)
        if isinstance(result, LimeCliError)
        else TableRow(index, result)
        for index, result in zip(indices, convert_rows(frame, stats, indices, name))
    ]
    return Job(rows, task, name_of=lambda row: f"{name} row {row.index}", content_of=row_content)


def row_content(row: TableRow) -> bytes | None:
    """A row's typed values as bytes, for the ``--resume`` ledger's digest (None: the
    row could not be read, so it is never in an output)."""
    return None if row.values is None else repr(row.values).encode("utf-8", "surrogatepass")


def _onnx_settings(settings: Settings, output: str | None) -> Settings:
    """An ONNX model is read as a table (columns by name, or one tensor in column order)."""
    import dataclasses

    from lime_cli.models.loading import check_model_path, detect_format

    spec = settings.spec
    check_model_path(spec.path)
    fmt = spec.fmt or detect_format(spec.path)
    if fmt != "onnx":
        if output:
            raise UsageError("--output applies to ONNX models only")
        return settings
    options: dict[str, Any] = {"purpose": "table", "output": output or "auto"}
    if settings.jobs > 1:
        options["threads"] = 1  # one thread per worker: the workers share the cores
    prepared = dataclasses.replace(spec, fmt=fmt, options=tuple(sorted(options.items())))
    return dataclasses.replace(settings, spec=prepared)


def _refuse_other_models(path: str, model: Any) -> None:
    """A text or image model cannot take rows: one line naming the right command."""
    kind = model.input_spec.kind
    if kind == "text":
        raise ModelError(
            f"{path}: a text model: it takes documents, not rows of a table; "
            "explain it with lime-explain text"
        )
    if kind == "tensor":
        raise ModelError(
            f"{path}: an image model: it takes a tensor of pixels, not rows of a table; "
            "explain it with lime-explain image"
        )


def _streamed_rows(source: str, stats: Any, target: str | None) -> Iterator[TableRow]:
    """Every row of the CSV as a TableRow, converted a chunk at a time (exit 3 now for
    an empty file or columns that do not match the training data)."""
    from lime_cli.tabular.data import convert_rows, read_table_chunks

    columns, chunks = read_table_chunks(source)
    drop = [target] if target is not None and target in columns else []
    _check_row_columns([c for c in columns if c not in drop], stats.names, source)

    def rows() -> Iterator[TableRow]:
        for chunk in chunks:
            frame = chunk.drop(columns=drop) if drop else chunk
            positions = list(range(len(frame)))
            numbers = [int(i) for i in frame.index]
            converted = convert_rows(frame, stats, positions, source, numbers)
            for index, result in zip(numbers, converted):
                if isinstance(result, LimeCliError):
                    yield TableRow(int(index), None, result)
                else:
                    yield TableRow(int(index), result)

    return rows()


def training_stats(
    path: str, target: str | None, categorical: list[str], discretizer: str | None
) -> Any:
    """Statistics computed from a training CSV, or loaded from saved JSON."""
    from lime_cli.tabular.data import compute_stats, listed_names, load_stats, read_table

    if not path.lower().endswith(".json"):
        frame = read_table(path)
        return compute_stats(
            frame,
            discretizer=discretizer or "quartile",
            categorical=categorical,
            target=target,
            source="stdin" if path == "-" else path,
        )
    stats = load_stats(path)
    if target is not None and target != stats.target:
        saved = f"--target {stats.target}" if stats.target else "no --target"
        raise UsageError(
            f"{path} was saved with {saved}; --target {target} needs statistics computed "
            "again from the training CSV (or leave --target out)"
        )
    if discretizer is not None and discretizer != stats.discretizer:
        raise UsageError(
            f"{path} holds {stats.discretizer} statistics; --discretizer {discretizer} "
            "needs statistics computed again from the training CSV"
        )
    unknown = [c for c in categorical if c not in stats.names]
    if unknown:
        raise InputError(
            f"--categorical names {listed_names(unknown)}, which {path} does not have; "
            f"its columns are: {listed_names(stats.names, 30)}"
        )
    numeric = [c for c in categorical if stats.column(c).kind != "categorical"]
    if numeric:
        raise UsageError(
            f"{path} treats {listed_names(numeric)} as numeric; compute the statistics "
            "again from the training CSV with --categorical"
        )
    return stats


def _split_columns(value: str | None, option: str = "--categorical") -> list[str]:
    if not value:
        return []
    names = [v.strip() for v in value.split(",")]
    if not all(names):
        raise UsageError(f"{option} must be a comma-separated list of column names")
    return names


def _check_row_columns(columns: list[str], expected: list[str], name: str) -> None:
    from lime_cli.tabular.data import count_of, listed_names

    missing = [c for c in expected if c not in columns]
    if missing:
        raise InputError(
            f"{name} lacks {count_of(missing, 'column')} of the training data: "
            + listed_names(missing)
        )
    known = set(expected)
    extra = [c for c in columns if c not in known]
    if extra:
        raise InputError(
            f"{name} has {count_of(extra, 'column')} the training data does not: "
            + listed_names(extra)
            + " (name a label column with --target)"
        )


@dataclass(frozen=True)
class RowSelection:
    """Which data rows to explain: listed indices, a range, or all of them."""

    numbers: tuple[int, ...]
    start: int | None
    stop: int | None
    ranged: bool
    every: bool

    @classmethod
    def parse(cls, numbers: tuple[int, ...], row_range: str | None, every: bool) -> RowSelection:
        start = stop = None
        if row_range is not None:
            start, stop = _parse_range(row_range)
        if every and (numbers or row_range is not None):
            raise UsageError("--all cannot be combined with --row or --rows")
        return cls(tuple(numbers), start, stop, row_range is not None, every)

    @property
    def empty(self) -> bool:
        return not (self.numbers or self.ranged or self.every)

    @property
    def single(self) -> bool:
        """At most one row, whatever the file holds."""
        return len(set(self.numbers)) <= 1 and not (self.ranged or self.every)

    def resolve(self, count: int, name: str) -> list[int]:
        """The chosen indices in the order given (duplicates once).

        A row, or a range starting or stopping, beyond the file's last row asks
        for rows the file does not have (exit 3), with or without a stop: never
        clamped, since row numbers identify rows. (A range that selects no rows
        in any file, ``5:3``, is refused when parsed: exit 2.)
        """
        if self.every:
            return list(range(count))
        if self.empty:
            if count == 1:
                return [0]
            raise UsageError(
                f"{name} has {count} rows: choose them with --row N, --rows A:B or --all"
            )
        rows = f"{name} has {count} data rows (0 to {count - 1})"
        chosen = list(self.numbers)
        if self.ranged:
            asked = f"{'' if self.start is None else self.start}:" + (
                "" if self.stop is None else str(self.stop)
            )
            start = 0 if self.start is None else self.start
            stop = count if self.stop is None else self.stop
            if start >= count or stop > count:
                raise InputError(f"--rows {asked} is out of range: {rows}")
            chosen += range(start, stop)
        bad = [i for i in chosen if i >= count]
        if bad:
            raise InputError(f"row {bad[0]} is out of range: {rows}")
        return list(dict.fromkeys(chosen))


def _parse_range(text: str) -> tuple[int | None, int | None]:
    parts = text.split(":")
    if len(parts) != 2:
        raise UsageError(f"--rows {text!r}: expected A:B, for example 0:100, 5: or :20")
    try:
        bounds = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise UsageError(f"--rows {text!r}: A and B must be whole numbers") from None
    if any(b is not None and b < 0 for b in bounds):
        raise UsageError(f"--rows {text!r}: rows are numbered from 0")
    start, stop = bounds
    if stop is not None and (start or 0) >= stop:
        raise UsageError(f"--rows {text!r} selects no rows: A:B is rows A to B-1")
    return start, stop


# -- explaining rows ---------------------------------------------------------------


#: Rows per batch when rows share their draws: many rows' answers in one model
#: call (a pipeline's call costs milliseconds however few its rows).
SHARED_BATCH = 512
#: Rows per batch on shared draws when processes share a stream of rows.
SHARED_BATCH_PER_JOB = 128


@dataclass(frozen=True)
class TabularTask(TaskBase):
    """Explains rows with one set of training statistics; picklable for worker processes.

    A batch of rows shares model calls: their samples are predicted together,
    a memory-bounded chunk at a time.
    """

    stats: Any
    name: str
    #: Columns held at each row's value (--ignore-columns, --freeze-columns).
    ignore: tuple[str, ...] = ()
    freeze: tuple[str, ...] = ()
    #: --fresh-samples: each row draws its own samples (as lime) instead of the
    #: run's shared draws (see lime_cli.tabular.shared).
    fresh_samples: bool = False
    #: Names this run's shared draws in each process (copied with the task to workers).
    run_key: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def batch_size(self) -> int:
        """Rows per batch handed to a worker: as many as a bounded amount of memory
        holds (the worker explains them a model call's worth at a time), or, when
        rows share their draws, :data:`SHARED_BATCH` (a row then holds only its
        comparison with the draws, and each batch makes a model call of its own)."""
        from lime_cli.engine.blocks import padded
        from lime_cli.tabular.domain import batch_rows

        if not self.own_draws:
            return SHARED_BATCH
        per_call = batch_rows(len(self.stats.columns))
        per_row = padded(self.params.num_samples)  # a row's block of a model call
        return max(1, max(self.params.batch_size or per_call, per_call) // per_row)

    @property
    def share_size(self) -> int:
        """Rows per batch when processes share a stream of rows: about 0.1 s of work,
        enough to pay for a batch's model call (a row on shared draws takes about
        half a millisecond, with its own draws several)."""
        return STREAM_BATCH_PER_JOB if self.own_draws else SHARED_BATCH_PER_JOB

    @property
    def own_draws(self) -> bool:
        """Whether rows will draw their own samples: asked to, or holding columns the
        model uses (--freeze-columns; --ignore-columns naming a column the model uses
        is found only once the model is loaded, and then too)."""
        return self.fresh_samples or bool(self.freeze)

    def explain_batch(self, rows: Sequence[TableRow]) -> list[Outcome]:
        """Every row's (explanation, None) or (None, error), in order."""
        return list(self.outcomes(list(rows)))

    def outcomes(self, rows: list[TableRow]) -> Iterator[tuple[Any, LimeCliError | None]]:
        """Explain rows a memory-bounded chunk at a time, yielding each row's outcome in order."""
        from lime_cli.engine.blocks import padded
        from lime_cli.tabular.domain import ColumnPlan, RowLayout, TabularSampler, call_rows
        from lime_cli.tabular.shared import can_share, pool_for

        model = self.model.load()
        try:
            layout = RowLayout.for_model(
                model, self.stats, self.stats.source or "the training data"
            )
            columns = ColumnPlan(self.stats, layout, ignore=self.ignore, freeze=self.freeze)
        except LimeCliError as exc:
            for _ in rows:
                yield None, exc
            return
        sampler = TabularSampler(self.stats, columns.held_idx)
        n = self.params.num_samples
        # A chunk of rows is sampled, predicted and fitted together: as many
        # rows as one model call takes (their samples are fresh in memory when
        # fitted), or one row when its samples need several calls.
        batch = self.params.batch_size or call_rows(len(self.stats.columns))
        per_chunk = max(1, max(batch, call_rows(len(self.stats.columns))) // padded(n))
        explain = self._explain
        if not self.fresh_samples and can_share(columns, layout):
            pool = pool_for(f"{self.run_key} {self.model!r}", sampler, self.seed)
            explain = functools.partial(self._explain_shared, pool)
            per_chunk = len(rows)  # a row's own: its answer and, while fitted, its z
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            yield from self._chunk(chunk, model, (layout, sampler, columns), batch, explain)

    def _chunk(
        self,
        rows: list[TableRow],
        model: Any,
        shared: tuple[Any, Any, Any],
        batch: int,
        explain: Callable[..., Iterator[tuple[int, Any]]],
    ) -> list[tuple[Any, LimeCliError | None]]:
        from lime_cli.tabular.domain import TabularDomain

        outcomes: list[tuple[Any, LimeCliError | None]] = [(None, None)] * len(rows)
        domains = []
        for i, row in enumerate(rows):
            if row.error is not None:
                outcomes[i] = (None, row.error)
                continue
            try:
                layout, sampler, columns = shared
                domain = TabularDomain(
                    row.values or [], self.stats, layout, row=row.index, name=self.name,
                    sampler=sampler, columns=columns,
                )  # fmt: skip
            except LimeCliError as exc:
                outcomes[i] = (None, exc)
                continue
            domains.append((i, domain))
        try:
            for i, explanation in explain(domains, model, batch, outcomes):
                outcomes[i] = (explanation, None)
        except Exception as exc:  # one failure fails the rows of its batch, not the run
            for i, domain in domains:
                if outcomes[i][0] is None and outcomes[i][1] is None:
                    outcomes[i] = (None, _for_row(domain.label, exc))
        return outcomes

    def _explain(
        self, domains: list[tuple[int, Any]], model: Any, batch: int, outcomes: list[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Sample every row, predict all samples in large calls, then fit each row.

        With ``--num-samples auto`` this goes in rounds: the rows still
        unsettled draw more samples (every earlier one kept), predicted
        together, and each row stops at its own count. Every call lays the
        rows' samples out in blocks (domain.RowBlocks), so that a row's answers
        do not depend on the rows sharing the call.
        """
        import numpy as np

        from lime_cli.engine import explain_predictions
        from lime_cli.engine.explain import finished, sample_plan, stack_rows
        from lime_cli.tabular.domain import sample_rows

        if not domains:
            return
        plan = sample_plan(self.params)
        n = plan[0]
        rngs = {i: self.rng(d.row) for i, d in domains}
        drawn, blocks = sample_rows([d for _, d in domains], n, [rngs[i] for i, _ in domains])
        samples = {i: sample for (i, _), sample in zip(domains, drawn)}
        try:
            y = self._predict(domains, blocks, model, batch)
        except ModelError as exc:
            # Find the rows the model refuses on their own, fail only those, retry the rest.
            kept = self._rows_the_model_takes(domains, model, outcomes)
            if len(kept) == len(domains):
                raise ModelError(exc.message + _missing_hint(self.stats)) from exc
            position = {i: k for k, (i, _) in enumerate(domains)}
            blocks = blocks.only([position[i] for i, _ in kept])
            domains = kept
            if not domains:
                return
            y = self._predict(domains, blocks, model, batch)
        answers = {i: y[k] for k, (i, _) in enumerate(domains)}
        done: dict[int, Any] = {}
        active = list(domains)
        for look, total in enumerate(plan):
            if look > 0:
                # Drawn as engine.explain.more_samples draws them: a sample of
                # more + 1 whose row 0, the row itself, is dropped (and its answer).
                more = total - len(answers[active[0][0]])
                drawn, blocks = sample_rows(
                    [d for _, d in active], more + 1, [rngs[i] for i, _ in active]
                )
                y = self._predict(active, blocks, model, batch)
                for k, (i, _) in enumerate(active):
                    samples[i] = stack_rows([samples[i], drawn[k][1:]])
                    answers[i] = np.vstack([answers[i], y[k, 1:]])
            still = []
            for i, domain in active:
                explanation = explain_predictions(
                    domain, model, samples[i], answers[i], self.labels, self.params, plan=plan
                )
                if finished(explanation, self.params, plan):
                    done[i] = explanation
                else:
                    still.append((i, domain))
            active = still
            if not active:
                break
        yield from _finished(domains, done, batch, "per row")

    def _explain_shared(
        self,
        pool: SharedDraws,
        domains: list[tuple[int, Any]],
        model: Any,
        batch: int,
        outcomes: list[Any],
    ) -> Iterator[tuple[int, Any]]:
        """Explain rows on the run's shared draws (see lime_cli.tabular.shared).

        The rows themselves are predicted in one call; the pool grows (and is
        predicted) only when a round of the plan needs more draws than it has.
        """
        from lime_cli.engine import explain_predictions
        from lime_cli.engine.explain import finished, sample_plan
        from lime_cli.tabular.domain import TabularSample

        if not domains:
            return
        try:
            own = self._predict_rows(domains, model, batch)
        except ModelError:
            kept = self._rows_the_model_takes(domains, model, outcomes)
            if len(kept) == len(domains):
                raise
            domains = kept
            if not domains:
                return
            own = self._predict_rows(domains, model, batch)
        first = domains[0][1]

        def predict(sample: TabularSample) -> Any:
            from lime_cli.engine import predict_samples

            return predict_samples(first, model, sample, batch)

        plan = sample_plan(self.params)
        holding = (first.instance_numeric, first.instance_categorical)
        done: dict[int, Any] = {}
        active = [(k, i, domain) for k, (i, domain) in enumerate(domains)]
        for total in plan:
            try:
                pool.grow(total - 1, holding, predict)
            except ModelError as exc:
                raise ModelError(exc.message + _missing_hint(self.stats)) from exc
            still = []
            for k, i, domain in active:
                z, y = pool.samples_for(domain, total, own[k : k + 1])
                explanation = explain_predictions(
                    domain, model, z, y, self.labels, self.params, plan=plan
                )
                if finished(explanation, self.params, plan):
                    done[i] = explanation
                else:
                    still.append((k, i, domain))
            active = still
            if not active:
                break
        yield from _finished(domains, done, batch, "shared")

    def _predict_rows(self, domains: list[tuple[int, Any]], model: Any, batch: int) -> Any:
        """The model's answers (rows, classes) for the rows themselves, in one call.

        Each row fills a block of its own with copies of itself and its first
        copy's answer is kept (domain.RowBlocks.repeating): a row's answer must
        not depend on which rows share its call (the promise of the same
        explanation with any --jobs or order), and some models' vectorised
        arithmetic (an MLP's matrix products, say) rounds the last bits
        differently at different positions of a call.
        """
        from lime_cli.tabular.domain import RowBlocks, TabularSample

        rows = TabularSample.concatenate([domain.instance() for _, domain in domains])
        return self._predict(domains, RowBlocks.repeating(rows), model, batch)[:, 0]

    def _predict(self, domains: list[tuple[int, Any]], blocks: Any, model: Any, batch: int) -> Any:
        """The model's answers (rows, samples, classes) for each row's samples in
        ``blocks`` (domain.RowBlocks), in calls of whole blocks of 16 rows."""
        from lime_cli.engine import predict_samples
        from lime_cli.tabular.domain import call_size

        y = predict_samples(domains[0][1], model, blocks.values, call_size(batch))
        return blocks.answers(y)

    def _rows_the_model_takes(
        self, domains: list[tuple[int, Any]], model: Any, outcomes: list[Any]
    ) -> list[tuple[int, Any]]:
        """Show each row alone to the model; a row it refuses gets its own error.

        When the row has missing, infinite or never-seen cells, the message
        names them and it is an input error (exit 3); otherwise a model error.
        """
        from lime_cli.engine import predict_samples

        kept = []
        for i, domain in domains:
            try:
                predict_samples(domain, model, domain.instance(), 1)
            except ModelError as exc:
                odd = _unusual_cells(domain)
                error: LimeCliError = (
                    InputError(f"{domain.label}: the model cannot take {odd} ({exc.message})")
                    if odd
                    else ModelError(f"{domain.label}: {exc.message}")
                )
                outcomes[i] = (None, error)
                continue
            kept.append((i, domain))
        return kept


def _finished(
    domains: list[tuple[int, Any]], done: dict[int, Any], batch: int, samples: str
) -> Iterator[tuple[int, Any]]:
    """Each row's explanation, in order, with what the run adds to it: the batch size
    (as engine.explain reports it), whose samples (``"shared"`` or ``"per row"``)
    and the row's warnings first."""
    for i, domain in domains:
        explanation = done[i]
        explanation.params["batch_size"] = batch
        explanation.params["samples"] = samples
        explanation.warnings[:0] = domain.warnings
        yield i, explanation


def _for_row(label: str, exc: Exception) -> LimeCliError:
    """The error of a batch as one row's error (the original kept as its cause)."""
    if isinstance(exc, LimeCliError):
        error: LimeCliError = type(exc)(f"{label}: {exc.message}")
    else:
        error = InternalError(f"{label}: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _unusual_cells(domain: Any) -> str:
    """``"the missing value in 'a' and the unseen value 'x' in 'b'"``, or ``""``."""
    import numpy as np

    parts = []
    for j, (column, value) in enumerate(zip(domain.stats.columns, domain.values)):
        if isinstance(value, float) and np.isnan(value):
            parts.append(f"the missing value in {column.name!r}")
        elif isinstance(value, float) and np.isinf(value):
            parts.append(f"the infinite value in {column.name!r}")
        elif column.kind == "categorical":
            k = domain.sampler.position[j]
            if domain.categorical_levels[k] < 0:
                parts.append(f"the value {value!r} in {column.name!r}, unseen in training")
    return " and ".join(parts)


def _missing_hint(stats: Any) -> str:
    """Why samples can hold missing values the model may refuse."""
    columns = [c.name for c in stats.columns if c.missing]
    if not columns:
        return ""
    return (
        " (samples hold missing values, drawn as often as the training data has them, in "
        + ", ".join(map(repr, columns[:5]))
        + (" and more" if len(columns) > 5 else "")
        + ")"
    )


MODALITY = Modality(
    name="tabular",
    help="""Explain a tabular model's prediction for rows of a CSV file.

    New rows are drawn from the training data's statistics (per column: bins
    and their frequencies, or category frequencies), the model is asked about
    each, and a weighted linear model over conditions such as "age <= 31.00"
    or "housing = rent" shows which pushed the prediction up or down.
    """,
    epilog="Examples:\n\n\b\n"
    "  lime-explain tabular --model credit.joblib --train train.csv --row 17 applicants.csv\n"
    "  lime-explain tabular --model m.joblib --train train.csv --target y "
    "--save-stats stats.json --all rows.csv --format json\n"
    "  lime-explain tabular --model m.skops --train stats.json --rows 0:100 rows.csv --jobs 2\n"
    "\n\b\nMissing values: statistics use each column's non-missing values; missing\n"
    "values are one more category (or bin) drawn at their training frequency.\n"
    "Dates: a text column of dates or times (2020-05-06, 2020-05-06 10:30:00) is\n"
    "binned by date (signup_date <= 2020-03-01) and given to the model as text in\n"
    "its own format; --categorical COL keeps it as categories.\n"
    "Errors: exit 2 for option misuse (--rows syntax or a range that selects no\n"
    "rows, --discretizer entropy without --target); exit 3 for unknown column\n"
    "names, rows out of range (beyond the CSV's last row), empty CSVs, columns\n"
    "that do not match the training data or the model, unreadable values, and\n"
    "NaN or infinite values the model cannot take; exit 4 for models that cannot\n"
    "be loaded or fail on the samples.",
    inputs=tabular_inputs,
    prepare=prepare_tabular,
    shaping_files=("train_path",),
)
