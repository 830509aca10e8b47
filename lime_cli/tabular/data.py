"""CSV tables and the training statistics tabular LIME samples from.

Tabular LIME never needs the training rows themselves, only their statistics:
per numeric column its mean and spread and, when discretised, the bins with
each bin's frequency, mean, spread and range; per categorical column its
values and their frequencies. ``TrainingStats`` holds exactly that, is computed
from a DataFrame, and round-trips through JSON without loss (floats are
written with ``repr`` precision), so saved statistics give the same
explanations as the CSV they came from.

Dates and times: a text column whose values (nearly all of them: at least
98 % of the non-missing ones) read in one of :data:`DATE_FORMATS` is a
numeric column of dtype ``datetime``: its values are days (or minutes, or
seconds, as the format is precise) since 1970-01-01, binned like any number,
and written back in the column's own format for the model. Cells that do not
read as dates count as missing. ``categorical`` keeps such a column as
categories.

Rare categories: a categorical column keeps its :data:`MAX_CATEGORIES` most
frequent values; the rarer ones are pooled as one "other" level, drawn at
their combined frequency and given to the model as the most frequent of
them (the others are not kept, so the model never sees them in samples; a
row holding any value outside the kept ones is at the "other" level). So
saved statistics hold at most that many values of a column (zip codes, names),
and explanations from them equal those from the CSV. Pandas category columns
(never read from a CSV) keep every category: the model's dtype needs them.

Held columns: a column that is held at each row's value (``--ignore-columns``,
or not used by the model) needs no statistics; :meth:`TrainingStats.holding`
keeps only its name and type (JSON kind ``held``), which is what
``--save-stats`` writes for it.

Missing values: statistics are computed on the non-missing values of each
column, and the number of missing values is kept. A categorical column's
missing values are one more category; a numeric column's missing values are
one more bin (when discretised), drawn at their training frequency. Infinite
values in training data are refused.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lime_cli.errors import InputError, UsageError
from lime_cli.inputs import STDIN, decode_utf8, read_bytes
from lime_cli.tabular import choices as _choices

STATS_FORMAT = "lime-explain/tabular-stats"
#: 2: pooled rare categories ("other"), datetime and held columns. Version 1 files load.
STATS_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Categories kept per column; rarer ones are pooled as one "other" level.
MAX_CATEGORIES = 50
#: A column with a different whole number or text in each of at least this many
#: training rows looks like an identifier.
IDENTIFIER_ROWS = 20
DISCRETIZERS = _choices.DISCRETIZERS
_PERCENTILES = {"quartile": [25, 50, 75], "decile": [10, 20, 30, 40, 50, 60, 70, 80, 90]}

#: Type tags kept for each column so model inputs get the dtypes seen in training.
NUMERIC_DTYPES = ("float", "integer", "datetime")
CATEGORICAL_DTYPES = ("string", "bool", "integer", "float", "category", "object")


#: Date and time formats recognised in text columns, with the unit their values
#: are counted in (seconds per unit): the format's precision, so values are whole.
DATE_FORMATS = {
    "%Y-%m-%d": 86400,
    "%Y/%m/%d": 86400,
    "%Y-%m-%d %H:%M": 60,
    "%Y-%m-%dT%H:%M": 60,
    "%Y-%m-%d %H:%M:%S": 1,
    "%Y-%m-%dT%H:%M:%S": 1,
}
#: Share of a column's non-missing values that must read as dates.
DATE_SHARE = 0.98
_DATE_START = re.compile(r"\s*\d{4}[-/]\d{1,2}[-/]\d{1,2}")
#: How dates are shown in feature names, by unit.
_DATE_DISPLAY = {86400: "%Y-%m-%d", 60: "%Y-%m-%d %H:%M", 1: "%Y-%m-%d %H:%M:%S"}


# -- reading CSV files --------------------------------------------------------


def read_table(source: str, *, as_text: bool = False) -> pd.DataFrame:
    """A CSV file (or stdin for ``-``) with a header row, as a DataFrame.

    ``as_text`` keeps every cell as a string (missing cells as NaN), so values
    can be converted with the training data's column types instead of types
    guessed from a few rows. Otherwise pandas infers the types, as it did
    for the user who trained the model on the same file.
    """
    name = "stdin" if source == STDIN else source
    text = decode_utf8(read_bytes(source), name, what="CSV file", kind="CSV")
    _check_header(text, name)
    try:
        with _strict_fields():
            frame = pd.read_csv(
                io.StringIO(text),
                dtype=str if as_text else None,
                skipinitialspace=False,
                index_col=False,
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{name}: the CSV file is empty") from None
    except _UNREADABLE as exc:
        raise InputError(f"{name}: not a readable CSV file ({_detail(exc)})") from None
    if len(frame) == 0:
        raise InputError(f"{name}: the CSV file has a header but no data rows")
    return frame


#: Largest magnitude of a training value: squares and sums of squares of larger
#: ones overflow (the spread of 1e200 is infinite), and samples are drawn from them.
LARGEST_VALUE = 1e150

#: Rows read at a time from a CSV that is explained whole (``--all``).
CHUNK_ROWS = 10_000


def read_table_chunks(source: str, chunk_rows: int | None = None) -> Any:
    """A CSV file's rows as text-typed DataFrames of ``chunk_rows`` rows, read as they
    are asked for: memory bounded by the chunk, whatever the file's size.

    The header and the first chunk are read now, so an empty file, a bad
    header or unreadable CSV is exit 3 before any work; later chunks are read
    by iterating. Each chunk's index continues the row numbers of the file.
    """
    try:
        with open(source, encoding="utf-8", newline="") as handle:
            header = handle.readline()
    except UnicodeDecodeError:
        raise InputError(f"{source}: the CSV file is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if not header:  # no line at all: as reading the file whole says
        raise InputError(f"{source}: the CSV file is empty")
    _check_header(header, source)

    def failed(exc: Exception) -> InputError:
        if isinstance(exc, UnicodeDecodeError):
            return InputError(f"{source}: the CSV file is not UTF-8 text (byte {exc.start})")
        return InputError(f"{source}: not a readable CSV file ({_detail(exc)})")

    try:
        reader = pd.read_csv(
            source,
            dtype=str,
            skipinitialspace=False,
            chunksize=chunk_rows or CHUNK_ROWS,
            encoding="utf-8",
            index_col=False,
        )
        with _strict_fields():
            first = next(reader, None)
    except pd.errors.EmptyDataError:
        raise InputError(f"{source}: the CSV file is empty") from None
    except _UNREADABLE as exc:
        raise failed(exc) from None
    if first is None or len(first) == 0:
        raise InputError(f"{source}: the CSV file has a header but no data rows")

    def chunks() -> Iterator[pd.DataFrame]:
        yield first
        try:
            while True:
                with _strict_fields():  # not held across the yield
                    chunk = next(reader, None)
                if chunk is None:
                    return
                yield chunk
        except _UNREADABLE as exc:
            raise failed(exc) from None
        finally:
            reader.close()

    return first.columns, chunks()


#: What pandas raises on a CSV it cannot read (the warning made an error by
#: :func:`_strict_fields`).
_UNREADABLE = (pd.errors.ParserError, pd.errors.ParserWarning, ValueError)

#: What pandas says (as a warning, dropping the extra values) of a row with more
#: fields than the header, once it may no longer take the first as an index.
_EXTRA_FIELDS = "a row has more fields than the header: a comma too many?"


@contextlib.contextmanager
def _strict_fields() -> Iterator[None]:
    """A context in which a row with more fields than the header is an error.

    By default pandas takes the first column of such a file as the row index,
    shifting every value one column left (a row explained from the wrong
    columns, exit 0); with ``index_col=False`` it drops the extra values with
    a ParserWarning, made an error here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        yield


def _detail(exc: BaseException) -> str:
    """The last line of a pandas parser error (or warning), in the user's terms."""
    if isinstance(exc, pd.errors.ParserWarning):
        return _EXTRA_FIELDS
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _check_header(text: str, name: str) -> None:
    """Refuse blank or repeated column names (pandas would silently rename them)."""
    first = next(csv.reader(io.StringIO(text)), [])
    names = [h.strip() for h in first]
    if not any(names):
        raise InputError(f"{name}: the first line must be a header row of column names")
    for separator, said in ((";", "semicolon"), ("\t", "tab")):
        if len(names) == 1 and separator in names[0]:
            raise InputError(
                f"{name}: the header is one column, {names[0][:60]!r}: the file looks "
                f"{said}-separated; lime-explain reads comma-separated CSV"
            )
    blank = [i for i, h in enumerate(names) if not h]
    if blank:
        raise InputError(f"{name}: column {blank[0] + 1} of the header has no name")
    repeated = sorted({h for h in names if names.count(h) > 1})
    if repeated:
        raise InputError(f"{name}: the header repeats the column name {repeated[0]!r}")


# -- statistics ---------------------------------------------------------------


@dataclass(frozen=True)
class Bins:
    """Bins of one numeric column: value ``v`` falls in bin ``searchsorted(edges, v)``.

    Bin ``b`` covers ``(edges[b-1], edges[b]]``; the first is open below and
    the last open above, as lime names them. Per bin: how many training values
    fell in it, and their mean and (population) standard deviation.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def lows(self, column_min: float) -> np.ndarray:
        """Lower limit of each bin for sampling (the training minimum for the first)."""
        return np.array((column_min,) + self.edges, dtype=np.float64)

    def highs(self, column_max: float) -> np.ndarray:
        """Upper limit of each bin for sampling (the training maximum for the last)."""
        return np.array(self.edges + (column_max,), dtype=np.float64)


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column: its spread for scaling and, when discretised, its bins.

    A ``datetime`` column also has the ``format`` its text is written in; its
    values count units of :data:`DATE_FORMATS` since 1970-01-01. ``identifier``:
    whole numbers, a different one in each of many training rows (an id).
    """

    name: str
    dtype: str
    count: int
    missing: int
    mean: float
    std: float
    min: float
    max: float
    bins: Bins | None
    format: str | None = None
    identifier: bool = False

    kind = "numeric"

    @property
    def integral(self) -> bool:
        """Whether values are whole numbers (integers, dates counted in their unit)."""
        return self.dtype in ("integer", "datetime")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
        }
        if self.format is not None:
            out["format"] = self.format
        if self.identifier:
            out["identifier"] = True
        if self.bins is not None:
            out["bins"] = {
                "edges": list(self.bins.edges),
                "counts": list(self.bins.counts),
                "means": list(self.bins.means),
                "stds": list(self.bins.stds),
            }
        return out


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical column: its values (JSON types) and how often each occurred.

    ``other_values`` rarer values, ``other_count`` cells in all, were pooled as
    one "other" level, given to the model as ``other_value`` (the most frequent
    of them); ``other_values`` is 0 when nothing was pooled. A ``held`` column
    has no values at all: it is only ever given the row's value.
    """

    name: str
    dtype: str
    values: tuple[Any, ...]
    counts: tuple[int, ...]
    missing: int
    other_values: int = 0
    other_count: int = 0
    other_value: Any = None
    held: bool = False

    kind = "categorical"

    @property
    def distinct(self) -> int:
        """How many distinct values training had (pooled ones included)."""
        return len(self.values) + self.other_values

    @property
    def identifier(self) -> bool:
        """A different value in each of many training rows (an id, a name)."""
        count = sum(self.counts) + self.other_count
        return (
            count >= IDENTIFIER_ROWS
            and all(c == 1 for c in self.counts)
            and self.other_count == self.other_values
        )

    def to_dict(self) -> dict[str, Any]:
        if self.held:
            return {"name": self.name, "kind": "held", "dtype": self.dtype}
        out = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "values": list(self.values),
            "counts": list(self.counts),
            "missing": self.missing,
        }
        if self.other_values:
            out["other"] = {
                "values": self.other_values,
                "count": self.other_count,
                "as": self.other_value,
            }
        return out


Column = NumericColumn | CategoricalColumn


@dataclass(frozen=True)
class TrainingStats:
    """Everything tabular sampling needs to know about the training data."""

    columns: tuple[Column, ...]
    rows: int
    discretizer: str
    target: str | None = None
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def discretize(self) -> bool:
        return self.discretizer != "none"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def holding(self, names: list[str] | set[str]) -> TrainingStats:
        """These statistics with only the name and type of the columns in ``names``.

        Held columns are given each row's own value, so their values, counts and
        bins are not needed. A date column becomes text (the row's text is
        passed on as it is); a pandas category column becomes plain values.
        """
        columns = tuple(
            CategoricalColumn(c.name, _held_dtype(c), (), (), 0, held=True)
            if c.name in names
            else c
            for c in self.columns
        )
        return TrainingStats(columns, self.rows, self.discretizer, self.target, self.source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATS_FORMAT,
            "version": STATS_VERSION,
            "source": self.source,
            "rows": self.rows,
            "target": self.target,
            "discretizer": self.discretizer,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingStats:
        """Statistics written by :meth:`to_dict`; ``KeyError`` or ``ValueError`` if malformed."""
        if data.get("format") != STATS_FORMAT:
            raise ValueError("not a lime-explain tabular statistics file")
        if data.get("version") not in READABLE_VERSIONS:
            raise ValueError(
                f"unsupported statistics version {data.get('version')!r} (this lime-explain "
                f"reads versions {', '.join(map(str, READABLE_VERSIONS))}; compute the "
                "statistics again from the training CSV)"
            )
        discretizer = str(data["discretizer"])
        if discretizer not in DISCRETIZERS:
            raise ValueError(f"unknown discretizer {discretizer!r}")
        columns = tuple(_column_from_dict(c, discretizer != "none") for c in data["columns"])
        if not columns:
            raise ValueError("no columns")
        return cls(
            columns=columns,
            rows=int(data["rows"]),
            discretizer=discretizer,
            target=None if data.get("target") is None else str(data["target"]),
            source=str(data.get("source", "")),
        )


def _held_dtype(column: Column) -> str:
    if isinstance(column, NumericColumn):
        return "string" if column.format is not None else column.dtype
    return "object" if column.dtype == "category" else column.dtype


def _column_from_dict(data: dict[str, Any], discretize: bool) -> Column:
    kind = data["kind"]
    if kind == "held":
        dtype = str(data["dtype"])
        if dtype not in CATEGORICAL_DTYPES:
            raise ValueError(f"column {data['name']!r}: unknown held dtype {dtype!r}")
        return CategoricalColumn(str(data["name"]), dtype, (), (), 0, held=True)
    if kind == "numeric":
        bins = None
        if discretize:
            raw = data["bins"]
            bins = Bins(
                edges=tuple(float(v) for v in raw["edges"]),
                counts=tuple(int(v) for v in raw["counts"]),
                means=tuple(float(v) for v in raw["means"]),
                stds=tuple(float(v) for v in raw["stds"]),
            )
            n = len(bins.edges) + 1
            if not (len(bins.counts) == len(bins.means) == len(bins.stds) == n):
                raise ValueError(f"column {data['name']!r}: bins of inconsistent lengths")
        dtype = str(data["dtype"])
        if dtype not in NUMERIC_DTYPES:
            raise ValueError(f"column {data['name']!r}: unknown numeric dtype {dtype!r}")
        fmt = data.get("format")
        if (dtype == "datetime") != (fmt is not None) or (fmt and fmt not in DATE_FORMATS):
            raise ValueError(f"column {data['name']!r}: a datetime column needs a known format")
        return NumericColumn(
            name=str(data["name"]),
            dtype=dtype,
            count=int(data["count"]),
            missing=int(data["missing"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            min=float(data["min"]),
            max=float(data["max"]),
            bins=bins,
            format=fmt,
            identifier=bool(data.get("identifier", False)),
        )
    if kind == "categorical":
        values = tuple(data["values"])
        counts = tuple(int(v) for v in data["counts"])
        if len(values) != len(counts):
            raise ValueError(f"column {data['name']!r}: values and counts differ in length")
        dtype = str(data["dtype"])
        if dtype not in CATEGORICAL_DTYPES:
            raise ValueError(f"column {data['name']!r}: unknown categorical dtype {dtype!r}")
        other = data.get("other") or {"values": 0, "count": 0, "as": None}
        if int(other["values"]) < 0 or (int(other["values"]) > 0) != (int(other["count"]) > 0):
            raise ValueError(f"column {data['name']!r}: inconsistent 'other' values and count")
        return CategoricalColumn(
            name=str(data["name"]),
            dtype=dtype,
            values=values,
            counts=counts,
            missing=int(data["missing"]),
            other_values=int(other["values"]),
            other_count=int(other["count"]),
            other_value=other["as"] if int(other["values"]) else None,
        )
    raise ValueError(f"unknown column kind {kind!r}")


def compute_stats(
    frame: pd.DataFrame,
    *,
    discretizer: str = _choices.DISCRETIZER,
    categorical: list[str] | tuple[str, ...] = (),
    target: str | None = None,
    source: str = "",
) -> TrainingStats:
    """Statistics of a training DataFrame (the ``target`` column, if named, is left out).

    String, boolean and pandas category columns are categorical, and so is any
    column named in ``categorical``; every other column must be numeric.
    ``entropy`` bins need ``target``: they are the splits of a depth-3
    decision tree that predicts the target from the column (lime's rule).
    """
    if discretizer not in DISCRETIZERS:
        raise UsageError(f"--discretizer must be one of {', '.join(DISCRETIZERS)}")
    where = source or "the training data"
    check_columns_named(frame, list(categorical), "--categorical", where)
    labels = None
    if target is not None:
        check_columns_named(frame, [target], "--target", where)
        labels = frame[target]
        frame = frame.drop(columns=[target])
    if discretizer == "entropy" and labels is None:
        raise UsageError("--discretizer entropy needs --target: the training data's label column")
    if frame.shape[1] == 0:
        raise InputError(f"{where}: no columns left to explain")
    forced = set(categorical)
    columns: list[Column] = []
    for name in frame.columns:
        series = frame[name]
        fmt = None if name in forced or _is_numeric(series) else date_format(series)
        if fmt is not None:
            values = parse_dates(series, fmt)
            columns.append(
                _numeric_stats(str(name), values, "datetime", discretizer, labels, where, fmt)
            )
        elif name in forced or not _is_numeric(series):
            columns.append(_categorical_stats(str(name), series))
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            dtype = "integer" if pd.api.types.is_integer_dtype(series.dtype) else "float"
            columns.append(_numeric_stats(str(name), values, dtype, discretizer, labels, where))
    return TrainingStats(
        columns=tuple(columns),
        rows=int(len(frame)),
        discretizer=discretizer,
        target=target,
        source=source,
    )


def check_columns_named(frame: pd.DataFrame, names: list[str], option: str, where: str) -> None:
    """Refuse options that name columns the table does not have (exit 3)."""
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        raise InputError(
            f"{option} names {listed_names(unknown)}, which {where} does not have; "
            f"its columns are: {listed_names(list(frame.columns), 30)}"
        )


def check_stats_columns(stats: TrainingStats, names: list[str], option: str, where: str) -> None:
    """Refuse options that name columns the statistics do not have (exit 3)."""
    unknown = [n for n in names if n not in set(stats.names)]
    if stats.target is not None and stats.target in unknown:
        raise UsageError(
            f"{option} names {stats.target!r}, the --target column: the model does not "
            "take it, so there is nothing to hold or leave out"
        )
    if unknown:
        raise InputError(
            f"{option} names {listed_names(unknown)}, which {where} does not have; "
            f"its columns are: {listed_names(stats.names, 30)}"
        )


def count_of(items: Sized, noun: str) -> str:
    """``"1 column"``, ``"3 columns"``."""
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


def listed_names(names: list[str], limit: int = 12) -> str:
    """Quoted names, the first ``limit`` of them, for error messages."""
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def _numeric_stats(
    name: str,
    values: np.ndarray,
    dtype: str,
    discretizer: str,
    labels: pd.Series | None,
    where: str,
    fmt: str | None = None,
) -> NumericColumn:
    present = ~np.isnan(values)
    x = values[present]
    if np.isinf(x).any():
        raise InputError(
            f"{where}: column {name!r} has infinite values; statistics need finite ones"
        )
    if x.size and float(np.abs(x).max()) > LARGEST_VALUE:
        raise InputError(
            f"{where}: column {name!r} has a value of {float(x[np.abs(x).argmax()]):g}; "
            f"statistics need values within +-{LARGEST_VALUE:g} (a placeholder for missing?)"
        )
    if x.size == 0:
        raise InputError(f"{where}: column {name!r} has no values (every cell is missing)")
    whole = fmt is None and bool(np.all(x == np.round(x)))
    identifier = whole and x.size >= IDENTIFIER_ROWS and np.unique(x).size == x.size
    bins = None
    if discretizer != "none":
        y = None if labels is None else labels.to_numpy()[present]
        edges = _bin_edges(x, discretizer, y, name)
        bins = _bin_stats(x, edges)
    return NumericColumn(
        name=name,
        dtype=dtype,
        count=int(x.size),
        missing=int((~present).sum()),
        mean=float(x.mean()),
        std=float(x.std()),
        min=float(x.min()),
        max=float(x.max()),
        bins=bins,
        format=fmt,
        identifier=bool(identifier),
    )


# -- dates --------------------------------------------------------------------------


def date_format(series: pd.Series) -> str | None:
    """The format of :data:`DATE_FORMATS` that nearly all of a text column's values have."""
    if not (pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series)):
        return None
    present = series[series.notna()]
    first = [v for v in present.iloc[:20] if isinstance(v, str)]
    if 2 * sum(bool(_DATE_START.match(v)) for v in first) <= len(first):
        return None  # a cheap look at the first values spares parsing other columns
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(present.astype(str), format=fmt, errors="coerce")
        if parsed.notna().mean() >= DATE_SHARE:
            return fmt
    return None


def parse_dates(series: pd.Series, fmt: str) -> np.ndarray:
    """Text in ``fmt`` as units since 1970-01-01 (floats, NaN where missing or unreadable)."""
    texts = series.astype(object).where(series.notna(), None)
    parsed = pd.to_datetime(texts, format=fmt, errors="coerce")
    seconds = (parsed - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    return np.asarray(seconds, dtype=np.float64) / DATE_FORMATS[fmt]


def format_dates(values: np.ndarray, fmt: str) -> np.ndarray:
    """Units since 1970-01-01 as text in ``fmt`` (an object array, NaN where not finite)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan, dtype=object)
    finite = np.isfinite(values)
    if finite.any():
        stamps = pd.to_datetime(values[finite] * DATE_FORMATS[fmt], unit="s")
        out[finite] = stamps.strftime(fmt).to_numpy(dtype=object)
    return out


def date_labels(edges: tuple[float, ...] | list[float], fmt: str) -> list[str]:
    """Bin edges of a date column as dates: whole units, so ``d <= edge`` reads ``d <= day``.

    Values are whole units, so an edge ``e`` splits them where its whole part
    ``floor(e)`` does. Shown with seconds where two edges share a whole part.
    """
    unit = DATE_FORMATS[fmt]
    whole = np.floor(np.asarray(edges, dtype=np.float64))
    labels = list(format_dates(whole, _DATE_DISPLAY[unit]))
    if len(set(labels)) < len(labels):
        labels = list(format_dates(np.asarray(edges, dtype=np.float64), "%Y-%m-%d %H:%M:%S"))
    return [str(v) for v in labels]


def _bin_edges(x: np.ndarray, discretizer: str, labels: np.ndarray | None, name: str) -> np.ndarray:
    """Inner bin boundaries, ascending and distinct."""
    if discretizer in _PERCENTILES:
        return np.unique(np.percentile(x, _PERCENTILES[discretizer]))
    assert labels is not None
    from sklearn.tree import DecisionTreeClassifier

    known = ~pd.isna(labels)
    if not known.any():
        raise InputError(f"--target has no values where column {name!r} has values")
    try:
        tree = DecisionTreeClassifier(criterion="entropy", max_depth=3, random_state=0)
        tree.fit(x[known].reshape(-1, 1), labels[known].astype(str))
    except ValueError as exc:
        raise InputError(f"--discretizer entropy could not split column {name!r}: {exc}") from None
    inner = tree.tree_.children_left > -1
    edges = np.unique(tree.tree_.threshold[inner])
    return edges if edges.size else np.array([float(np.median(x))])


def _bin_stats(x: np.ndarray, edges: np.ndarray) -> Bins:
    which = np.searchsorted(edges, x, side="left")
    n = edges.size + 1
    counts = np.bincount(which, minlength=n)
    sums = np.bincount(which, weights=x, minlength=n)
    lows = np.concatenate([[x.min()], edges])
    highs = np.concatenate([edges, [x.max()]])
    means, stds = [], []
    for b in range(n):
        if counts[b] == 0:
            # Never drawn (frequency 0); a neutral value keeps the file valid JSON.
            means.append(float((lows[b] + highs[b]) / 2))
            stds.append(0.0)
            continue
        chosen = x[which == b]
        mean = sums[b] / counts[b]
        means.append(float(mean))
        stds.append(float(np.sqrt(np.mean((chosen - mean) ** 2))))
    return Bins(
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        means=tuple(means),
        stds=tuple(stds),
    )


def _categorical_stats(name: str, series: pd.Series) -> CategoricalColumn:
    """Values by decreasing frequency; a pandas category column keeps its categories' order
    (models may rely on the codes), unused categories included with count 0.

    Other columns keep their :data:`MAX_CATEGORIES` most frequent values and
    pool the rest as one "other" level (see the module's documentation).
    """
    present = series.notna().to_numpy()
    values = [to_native(v) for v in series[present].tolist()]
    counted = Counter(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = [to_native(v) for v in series.dtype.categories.tolist()]
        ordered = [(v, counted.get(v, 0)) for v in categories]
    else:
        ordered = sorted(counted.items(), key=lambda kv: (-kv[1], type(kv[0]).__name__, str(kv[0])))
    dtype = _categorical_dtype(series, [v for v, _ in ordered])
    pooled = ordered[MAX_CATEGORIES:] if dtype != "category" else []
    kept = ordered[: len(ordered) - len(pooled)]
    return CategoricalColumn(
        name=name,
        dtype=dtype,
        values=tuple(v for v, _ in kept),
        counts=tuple(int(c) for _, c in kept),
        missing=int((~present).sum()),
        other_values=len(pooled),
        other_count=int(sum(c for _, c in pooled)),
        other_value=pooled[0][0] if pooled else None,
    )


def _categorical_dtype(series: pd.Series, values: list[Any]) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype) or (values and all(isinstance(v, bool) for v in values)):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if values and all(isinstance(v, str) for v in values) or pd.api.types.is_string_dtype(dtype):
        return "string"
    return "object"


def to_native(value: Any) -> Any:
    """A cell as a plain JSON type: numpy scalars unwrapped, missing values as None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


# -- saving and loading -------------------------------------------------------


def save_stats(path: str, stats: TrainingStats) -> None:
    """Write statistics as JSON, whole or not at all."""
    from lime_cli.output import atomic_write_text

    text = json.dumps(stats.to_dict(), indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


def pooled_summary(stats: TrainingStats) -> str | None:
    """One line saying which columns had rare values pooled, or ``None``."""
    pooled = [c for c in stats.columns if isinstance(c, CategoricalColumn) and c.other_values]
    if not pooled:
        return None
    return (
        f"pooled the rare values of {count_of(pooled, 'column')} into one 'other' level each "
        f"(kept the {MAX_CATEGORIES} most frequent): "
        + ", ".join(f"{c.name!r} ({c.other_values} of {c.distinct} values)" for c in pooled)
    )


def held_summary(stats: TrainingStats) -> str | None:
    """One line naming the columns saved without values, or ``None``."""
    held = [c.name for c in stats.columns if isinstance(c, CategoricalColumn) and c.held]
    if not held:
        return None
    return (
        f"kept only the name and type of {count_of(held, 'held column')} "
        f"(--ignore-columns, or not used by the model): {listed_names(held)}"
    )


def load_stats(path: str) -> TrainingStats:
    """Statistics saved by :func:`save_stats` (exit 3 if the file is not one)."""
    data = read_bytes(path)
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    try:
        if not isinstance(parsed, dict):
            raise ValueError("not a JSON object")
        return TrainingStats.from_dict(parsed)
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InputError(f"{path}: not usable training statistics ({detail})") from None


# -- converting rows to the training data's types ------------------------------


def convert_rows(
    frame: pd.DataFrame,
    stats: TrainingStats,
    indices: list[int],
    name: str,
    row_numbers: list[int] | None = None,
) -> list[list[Any] | InputError]:
    """The chosen rows of a text-typed table, one value per statistics column.

    Numeric cells become floats (NaN when missing); categorical cells become
    the training value they spell (so ``"true"`` matches ``True`` and ``"3"``
    matches ``3``), or stay as text when training never saw them. A row with a
    cell that cannot be read as its column's type becomes an ``InputError``.
    ``row_numbers`` are the rows' numbers in the file, for messages (default:
    ``indices``; the chunks of a file read in chunks number their rows on).
    """
    subset = frame.iloc[indices]
    converted: dict[str, list[Any]] = {}
    problems: dict[int, list[str]] = {}
    for column in stats.columns:
        raw = subset[column.name]
        if isinstance(column, NumericColumn) and column.format is not None:
            numbers = parse_dates(raw, column.format)
            bad = raw.notna().to_numpy() & np.isnan(numbers)
            example = format_dates(np.array([1588776300.0 / DATE_FORMATS[column.format]]),
                                   column.format)[0]  # fmt: skip
            for pos in np.flatnonzero(bad):
                problems.setdefault(int(pos), []).append(
                    f"cannot read {raw.iloc[pos]!r} in column {column.name!r} as a date "
                    f"like {example}"
                )
            converted[column.name] = numbers.tolist()
        elif isinstance(column, NumericColumn):
            # to_numeric reads " 2 ", "1e3" and "inf"; whatever it cannot read is reported.
            numbers = pd.to_numeric(raw.astype(object), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            bad = raw.notna().to_numpy() & np.isnan(numbers)
            for bad_pos in np.flatnonzero(bad):
                problems.setdefault(int(bad_pos), []).append(
                    f"cannot read {raw.iloc[bad_pos]!r} in column {column.name!r} as a number"
                )
            converted[column.name] = numbers.tolist()
        else:
            lookup = CategoryLookup(column)
            converted[column.name] = [lookup.match(v) for v in raw.tolist()]
    out: list[list[Any] | InputError] = []
    for row_pos, index in enumerate(row_numbers if row_numbers is not None else indices):
        if row_pos in problems:
            # Named as the command names a row, so the name is not given twice.
            out.append(InputError(f"{name} row {index}: " + "; ".join(problems[row_pos])))
        else:
            out.append([converted[c.name][row_pos] for c in stats.columns])
    return out


class CategoryLookup:
    """Match a CSV cell's text to a training category of one column."""

    def __init__(self, column: CategoricalColumn) -> None:
        #: A held column has no training values: cells are read by its type alone.
        self.dtype = column.dtype if column.held else None
        values = list(column.values) + ([column.other_value] if column.other_values else [])
        self.by_text = {str(v): v for v in values if isinstance(v, str)}
        self.by_bool = {v: v for v in values if isinstance(v, bool)}
        self.by_number = {
            float(v): v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
        }

    def match(self, cell: Any) -> Any:
        """The training value the cell spells; NaN when missing; the text itself if unseen."""
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            return np.nan
        text = str(cell)
        if self.dtype is not None:
            return _by_type(text, self.dtype)
        if text in self.by_text:
            return self.by_text[text]
        lowered = text.strip().lower()
        if self.by_bool and lowered in ("true", "false"):
            return lowered == "true"
        if self.by_number:
            try:
                number = float(text)
            except ValueError:
                return text
            return self.by_number.get(number, number)
        return text


def _by_type(text: str, dtype: str) -> Any:
    """A held column's cell as its training type: numbers and booleans read, else the text."""
    if dtype in ("integer", "float"):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if dtype == "integer" and number.is_integer() else number
    if dtype == "bool" and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    return text
