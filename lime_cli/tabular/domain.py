"""One row of a table, lime's way: conditions on columns, sampled from training statistics.

With discretisation (the default), each numeric column's bin is drawn from the
training bin frequencies and a value is drawn inside the bin (a normal with
the bin's mean and spread, truncated to the bin's range); each categorical
column's value is drawn from the training frequencies. The surrogate sees 1
where a sample's bin or category equals the row's, so a feature reads
``31.00 < age <= 45.00`` or ``housing = rent``. Without discretisation,
numeric columns are drawn from a normal with the training mean and spread and
the surrogate sees them standardised. Missing values are one more bin or
category, drawn at their training frequency.

The interpretable matrix does not determine a model input (a bin holds many
values), so a sample keeps the values it was drawn with: ``TabularSample``
is the matrix the engine fits on and carries the model-space rows along.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from lime_cli.engine.kernels import euclidean_distance_to_first
from lime_cli.errors import InputError
from lime_cli.tabular.data import (
    CategoricalColumn,
    NumericColumn,
    TrainingStats,
    count_of,
    date_labels,
    format_dates,
    listed_names,
    to_native,
)

#: lime's kernel width factor: 0.75 * sqrt(number of columns).
KERNEL_WIDTH_FACTOR = 0.75
#: Bytes of model input built per model call (values, and the model's own copy).
BATCH_BYTES = 64 * 1024 * 1024
#: lime adds this to every bin's spread so one-value bins still define a normal.
_MIN_SPREAD = 1e-11


# -- samples ------------------------------------------------------------------


class TabularSample:
    """Perturbed rows: the interpretable matrix ``z`` and the values they were drawn with.

    ``numeric`` (n, numeric columns) and ``categorical`` (n, categorical
    columns, objects) are in the statistics' column order within each kind.
    To the engine it behaves as ``z`` (shape, dtype, indexing, ``__array__``);
    slicing rows slices the values too, so a batch still knows its inputs.
    """

    def __init__(self, z: np.ndarray, numeric: np.ndarray, categorical: np.ndarray) -> None:
        self.z = z
        self.numeric = numeric
        self.categorical = categorical

    @property
    def shape(self) -> tuple[int, ...]:
        return self.z.shape

    @property
    def dtype(self) -> np.dtype:
        return self.z.dtype

    def __len__(self) -> int:
        return self.z.shape[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.z if dtype is None else self.z.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return TabularSample(self.z[key], self.numeric[key], self.categorical[key])
        return self.z[key]

    @staticmethod
    def concatenate(samples: list[TabularSample]) -> TabularSample:
        """Several rows' samples as one, to predict them in a few large model calls."""
        return TabularSample(
            np.concatenate([s.z for s in samples]),
            np.concatenate([s.numeric for s in samples]),
            np.concatenate([s.categorical for s in samples]),
        )


# -- drawing values from training statistics ----------------------------------


@dataclass
class Draw:
    """Rows drawn from training statistics, as values and as levels.

    ``numeric`` (n, m) floats and ``categorical`` (n, c) objects are the
    values; ``numeric_levels`` and ``categorical_levels`` are the bins or
    categories they fall in (what the surrogate compares with the row's).
    """

    numeric: np.ndarray
    numeric_levels: np.ndarray
    categorical: np.ndarray
    categorical_levels: np.ndarray


class TabularSampler:
    """Draws rows from training statistics; shared by every row explained with them.

    Levels are what the surrogate compares: a bin (numeric, discretised) or a
    category, with missing values as the last level when training had any.
    Columns in ``held`` (indices; and columns the statistics hold no values
    of) take no random numbers: their drawn values are placeholders, to be
    replaced with the row's, and the other columns' draws do not depend on
    whether the held ones have statistics.
    """

    def __init__(self, stats: TrainingStats, held: tuple[int, ...] | list[int] = ()) -> None:
        self.stats = stats
        self.discretize = stats.discretize
        self.held = set(held) | {
            j for j, c in enumerate(stats.columns) if isinstance(c, CategoricalColumn) and c.held
        }
        self.numeric_idx = [j for j, c in enumerate(stats.columns) if isinstance(c, NumericColumn)]
        self.categorical_idx = [
            j for j, c in enumerate(stats.columns) if isinstance(c, CategoricalColumn)
        ]
        #: Column index -> its position among the numeric or the categorical columns.
        self.position = {j: k for k, j in enumerate(self.numeric_idx)}
        self.position.update({j: k for k, j in enumerate(self.categorical_idx)})
        #: The same columns as slices where they are contiguous (much faster to assign).
        self.numeric_cols = _as_slice(self.numeric_idx)
        self.categorical_cols = _as_slice(self.categorical_idx)
        #: Positions of the columns that are drawn; None when all of them are.
        self.drawn_numeric = _drawn(self.numeric_idx, self.held)
        self.drawn_categorical = _drawn(self.categorical_idx, self.held)
        numeric = [
            c for c in (stats.columns[j] for j in self.numeric_idx) if isinstance(c, NumericColumn)
        ]
        self.means = np.array([c.mean for c in numeric], dtype=np.float64)
        # lime's scaler: population spread, 1 for constant columns.
        self.scales = np.array([c.std if c.std > 0 else 1.0 for c in numeric], dtype=np.float64)
        self.integer = np.array([c.integral for c in numeric], dtype=bool)
        if self.discretize:
            self._bin_tables(numeric)
        self.vocab: list[np.ndarray] = []
        self.category_cdf: list[np.ndarray] = []
        self.category_keys: list[dict[tuple[str, Any], int]] = []
        self.category_missing: list[int] = []  # the missing level, -1 if never missing
        self.category_other: list[int] = []  # the level of pooled rare values, -1 if none
        for j in self.categorical_idx:
            col = stats.columns[j]
            assert isinstance(col, CategoricalColumn)
            if col.held:  # no values to draw from
                col = CategoricalColumn(col.name, col.dtype, (), (), 1)
            # Levels: the kept values, the pooled "other" values, missing values.
            other = [col.other_value] if col.other_values else []
            values = list(col.values) + other + ([np.nan] if col.missing else [])
            vocab = np.empty(len(values), dtype=object)
            vocab[:] = values
            self.vocab.append(vocab)
            counts = list(col.counts) + ([col.other_count] if other else [])
            self.category_cdf.append(_cdf(counts + ([col.missing] if col.missing else [])))
            self.category_keys.append({_key(v): i for i, v in enumerate(col.values)})
            self.category_other.append(len(col.values) if other else -1)
            self.category_missing.append(len(col.values) + len(other) if col.missing else -1)

    def _bin_tables(self, numeric: list[NumericColumn]) -> None:
        """Per (column, level) tables padded to the widest column, for vectorised draws."""
        levels = [len(c.bins.counts) + (1 if c.missing else 0) for c in numeric if c.bins]
        width = max(levels, default=1)
        m = len(numeric)
        self.cdf = np.ones((m, width))
        shape = (m, width)
        self.bin_mean, self.bin_scale = np.full(shape, np.nan), np.ones(shape)
        self.bin_low, self.bin_high = np.full(shape, np.nan), np.full(shape, np.nan)
        self.int_low, self.int_high = np.full(shape, np.nan), np.full(shape, np.nan)
        self.missing_level = np.full(m, -1, dtype=np.int64)
        for k, col in enumerate(numeric):
            bins = col.bins
            assert bins is not None
            nb = len(bins.counts)
            counts = list(bins.counts) + ([col.missing] if col.missing else [])
            self.cdf[k, : len(counts)] = _cdf(counts)
            if col.missing:
                self.missing_level[k] = nb
            low, high = bins.lows(col.min), bins.highs(col.max)
            self.bin_low[k, :nb], self.bin_high[k, :nb] = low, high
            self.bin_mean[k, :nb] = bins.means
            self.bin_scale[k, :nb] = np.asarray(bins.stds) + _MIN_SPREAD
            if col.integral:
                # Integers inside each bin: (low, high] except the first, [min, high].
                first = np.ceil(low[:1])
                rest = np.floor(low[1:]) + 1
                ilow, ihigh = np.concatenate([first, rest]), np.floor(high)
                ok = ilow <= ihigh
                self.int_low[k, :nb] = np.where(ok, ilow, np.nan)
                self.int_high[k, :nb] = np.where(ok, ihigh, np.nan)
        # Standardised bin limits as normal probabilities: a draw is an inverse CDF.
        with np.errstate(invalid="ignore"):
            p_low = ndtr((self.bin_low - self.bin_mean) / self.bin_scale)
            p_span = ndtr((self.bin_high - self.bin_mean) / self.bin_scale) - p_low
        # One row per (column k, level l) at k * width + l, all a draw needs side by
        # side: a single gather fetches them (much faster than one gather per table).
        parts = (p_low, p_span, self.bin_mean, self.bin_scale, self.bin_low, self.bin_high)
        self.table = np.stack(parts, axis=-1).reshape(m * width, len(parts))
        self.int_table = np.stack([self.int_low, self.int_high], axis=-1).reshape(m * width, 2)
        self.offsets = np.arange(m, dtype=np.intp) * width

    def _draw_levels(self, u: np.ndarray) -> np.ndarray:
        """Levels of uniform draws ``u`` (n, m): how many cumulative frequencies each passes.

        One binary search per column (each row of ``cdf`` is non-decreasing,
        padded with ones): the same counts as comparing with every level, in a
        tenth of the time for five levels.
        """
        levels = np.empty(u.shape, dtype=np.intp)
        for k in range(u.shape[1]):
            levels[:, k] = np.searchsorted(self.cdf[k, :-1], u[:, k], side="right")
        return levels

    # -- levels of given values ------------------------------------------------
    def numeric_levels(self, values: np.ndarray) -> np.ndarray:
        """Bin (or missing level) of each numeric value; ``values`` is (n, numeric columns)."""
        out = np.empty(values.shape, dtype=np.int64)
        for k, j in enumerate(self.numeric_idx):
            column = self.stats.columns[j]
            assert isinstance(column, NumericColumn) and column.bins is not None
            v = values[:, k]
            lev = np.searchsorted(np.asarray(column.bins.edges), v, side="left")
            out[:, k] = np.where(np.isnan(v), self.missing_level[k], lev)
        return out

    def category_level(self, k: int, value: Any) -> int:
        """Level of one value of categorical column ``k``: a value not kept is at the
        "other" level when rare values were pooled, else -1 (not seen in training)."""
        if _is_missing(value):
            return self.category_missing[k]
        return self.category_keys[k].get(_key(value), self.category_other[k])

    # -- drawing -------------------------------------------------------------
    def draw(self, n: int, rng: np.random.Generator) -> Draw:
        """``n`` rows drawn from the training statistics.

        Numeric levels are -1 without discretisation (the surrogate sees values).
        """
        m, c = len(self.numeric_idx), len(self.categorical_idx)
        numeric = np.empty((n, m))
        levels = np.full((n, m), -1, dtype=np.int64)
        if m and self.discretize:
            levels = self._draw_levels(_uniform(rng, n, m, self.drawn_numeric))
            flat = levels + self.offsets
            p_low, p_span, mean, scale, low, high = np.moveaxis(self.table.take(flat, axis=0), 2, 0)
            u = _uniform(rng, n, m, self.drawn_numeric)
            with np.errstate(invalid="ignore", divide="ignore"):
                numeric = mean + scale * ndtri(p_low + u * p_span)
                np.clip(numeric, low, high, out=numeric)
                ints = np.flatnonzero(self.integer)
                if ints.size:
                    ilow, ihigh = np.moveaxis(self.int_table.take(flat[:, ints], axis=0), 2, 0)
                    rounded = np.clip(np.round(numeric[:, ints]), ilow, ihigh)
                    numeric[:, ints] = np.where(np.isnan(ilow), numeric[:, ints], rounded)
        elif m:
            normal = _uniform(rng, n, m, self.drawn_numeric, normal=True)
            numeric = self.means + self.scales * normal
            numeric[:, self.integer] = np.round(numeric[:, self.integer])
        categorical = np.empty((n, c), dtype=object)
        cat_levels = np.empty((n, c), dtype=np.int64)
        if c:
            u = _uniform(rng, n, c, self.drawn_categorical)
            for k in range(c):
                lev = np.searchsorted(self.category_cdf[k][:-1], u[:, k], side="right")
                cat_levels[:, k] = lev
                categorical[:, k] = self.vocab[k][lev]
        return Draw(numeric, levels, categorical, cat_levels)


def _drawn(idx: list[int], held: set[int]) -> list[int] | None:
    """Positions within ``idx`` of the columns not held; ``None`` when none is held."""
    drawn = [k for k, j in enumerate(idx) if j not in held]
    return None if len(drawn) == len(idx) else drawn


def _uniform(
    rng: np.random.Generator, n: int, width: int, drawn: list[int] | None, normal: bool = False
) -> np.ndarray:
    """Uniform (or standard normal) numbers for the drawn columns, 0 for the others.

    With every column drawn this is one ``rng.random((n, width))`` call, as before
    columns could be held, so explanations without held columns do not change.
    """
    draw = rng.standard_normal if normal else rng.random
    if drawn is None:
        return draw((n, width))
    out = np.zeros((n, width))
    out[:, drawn] = draw((n, len(drawn)))
    return out


def _as_slice(idx: list[int]) -> slice | list[int]:
    """``[3, 4, 5]`` -> ``slice(3, 6)``; other lists stay lists."""
    if idx and idx == list(range(idx[0], idx[-1] + 1)):
        return slice(idx[0], idx[-1] + 1)
    return idx


def _cdf(counts: list[int]) -> np.ndarray:
    total = float(sum(counts))
    if total <= 0:
        raise InputError("training statistics with no values in a column")
    cdf = np.cumsum(np.asarray(counts, dtype=np.float64)) / total
    cdf[-1] = 1.0
    return cdf


def _key(value: Any) -> tuple[str, Any]:
    """A category's identity: True and 1 are different categories, 3 and 3.0 the same."""
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return ("number", float(value))
    return ("text", str(value))


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def batch_rows(num_columns: int) -> int:
    """Sample rows per model call for a table of ``num_columns`` columns."""
    return max(1, BATCH_BYTES // (32 * max(1, num_columns)))


# -- readable names -------------------------------------------------------------


def bin_names(
    name: str, edges: tuple[float, ...] | list[float], labels: list[str] | None = None
) -> list[str]:
    """lime's bin names: ``age <= 31.00``, ``31.00 < age <= 45.00``, ``age > 45.00``.

    ``labels`` are the edges as shown (default: :func:`edge_labels`).
    """
    labels = labels or edge_labels(edges)
    names = [f"{name} <= {labels[0]}"]
    names += [f"{a} < {name} <= {b}" for a, b in zip(labels, labels[1:])]
    names.append(f"{name} > {labels[-1]}")
    return names


def column_edge_labels(column: NumericColumn) -> list[str]:
    """A binned column's edges as shown: dates for a date column, numbers otherwise."""
    assert column.bins is not None
    if column.format is not None:
        return date_labels(column.bins.edges, column.format)
    return edge_labels(column.bins.edges)


def edge_labels(edges: tuple[float, ...] | list[float]) -> list[str]:
    """Edges with two decimals as lime writes them, more where two would look equal."""
    for decimals in range(2, 13):
        labels = [_fixed(e, decimals) for e in edges]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(float(e)) for e in edges]


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def show_value(value: Any) -> str:
    """A category as it reads in a feature name."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def json_value(value: Any, column: Any = None) -> Any:
    """A cell for the JSON output: missing as null, infinities as text, integers as integers,
    dates as their text."""
    native = to_native(value)
    fmt = getattr(column, "format", None)
    if fmt is not None and isinstance(native, float) and math.isfinite(native):
        return str(format_dates(np.array([native]), fmt)[0])
    if isinstance(native, float) and math.isinf(native):
        return "inf" if native > 0 else "-inf"
    if isinstance(native, float) and getattr(column, "dtype", "") == "integer":
        return int(native) if native.is_integer() else native
    return native


# -- what the model is given ----------------------------------------------------


class RowLayout:
    """How the model wants rows: a DataFrame or an array, in its own column order.

    Models fitted on a DataFrame (they have ``feature_names_in_``) get a
    DataFrame with those columns, in that order, with the dtypes the training
    CSV had (integers stay integers, strings strings, categories categories).
    Models fitted on arrays get a float array (an object array when some
    columns are categorical) in the training data's column order.
    """

    def __init__(
        self,
        stats: TrainingStats,
        model_columns: list[str] | None = None,
        unused: dict[str, str] | None = None,
    ) -> None:
        self.stats = stats
        self.as_frame = model_columns is not None
        self.columns = list(model_columns) if model_columns is not None else stats.names
        #: Training columns the model provably never looks at, with the reason.
        self.unused = dict(unused or {})
        numeric_pos: dict[str, int] = {}
        categorical_pos: dict[str, int] = {}
        for col in stats.columns:
            target = numeric_pos if isinstance(col, NumericColumn) else categorical_pos
            target[col.name] = len(target)
        self.sources = [
            ("numeric", numeric_pos[n], stats.column(n))
            if n in numeric_pos
            else ("categorical", categorical_pos[n], stats.column(n))
            for n in self.columns
        ]
        # Date columns are numbers here but text to the model.
        self.all_numeric = not categorical_pos and not any(
            isinstance(c, NumericColumn) and c.format for c in stats.columns
        )

    @classmethod
    def for_model(cls, model: Any, stats: TrainingStats, where: str) -> RowLayout:
        """Match the model's expected columns with the training columns (exit 3 if they differ).

        Training columns the model was not fitted on (absent from its
        ``feature_names_in_``) or provably ignores (see the adapter's
        ``unused_columns``) are not an error: they are held fixed, not explained.
        """
        spec = model.input_spec
        names = list(spec.names) if spec.kind == "table" and spec.names else None
        shape = spec.shape
        count = shape[1] if shape is not None and len(shape) == 2 else None
        hint = " (name a label column with --target)"
        if names is not None:
            names = [str(n) for n in names]
            known = set(stats.names)
            missing = [n for n in names if n not in known]
            if missing:
                raise InputError(
                    f"{where} lacks {count_of(missing, 'column')} the model was trained on: "
                    + listed_names(missing)
                )
            return cls(stats, names, _unused_columns(model, names, stats))
        if count is not None and int(count) != len(stats.columns):
            raise InputError(
                f"the model expects {int(count)} columns but {where} has "
                f"{len(stats.columns)}: {listed_names(stats.names)}"
                + (hint if len(stats.columns) > int(count) else "")
            )
        return cls(stats, None, _unused_columns(model, stats.names, stats))

    def to_model_input(self, sample: TabularSample) -> Any:
        """The rows of ``sample`` as the model takes them."""
        if not self.as_frame:
            if self.all_numeric:
                return sample.numeric
            out = np.empty((len(sample), len(self.columns)), dtype=object)
            for i, (_, k, col) in enumerate(self.sources):
                if isinstance(col, NumericColumn):
                    values = sample.numeric[:, k]
                    out[:, i] = values if col.format is None else format_dates(values, col.format)
                else:
                    out[:, i] = sample.categorical[:, k]
            return out
        data = {}
        for name, (_, k, col) in zip(self.columns, self.sources):
            if isinstance(col, NumericColumn):
                data[name] = _numeric_series(sample.numeric[:, k], col)
            else:
                data[name] = _categorical_series(sample.categorical[:, k], col)
        return pd.DataFrame(data, copy=False)


def _unused_columns(model: Any, given: list[str], stats: TrainingStats) -> dict[str, str]:
    """Training columns the model never looks at: not given to it, or ignored by it."""
    given_set = set(given)
    unused = {
        n: "not among the model's input columns (its feature_names_in_)"
        + ("; if it is the label, name it with --target" if stats.target is None else "")
        for n in stats.names
        if n not in given_set
    }
    finder = getattr(model, "unused_columns", None)
    if callable(finder):
        unused.update(finder(given))
    return {n: unused[n] for n in stats.names if n in unused}


def _numeric_series(values: np.ndarray, column: NumericColumn) -> Any:
    dtype = column.dtype
    if column.format is not None:  # dates go back to the text the model was fitted on
        return pd.array(format_dates(values, column.format), dtype=_STRING_DTYPE)
    if (
        dtype == "integer"
        and not np.isnan(values).any()
        and np.array_equal(values, np.round(values))
    ):
        return values.astype(np.int64)
    return values


def _categorical_series(values: np.ndarray, column: Any) -> Any:
    dtype = column.dtype
    if dtype == "category":
        return pd.Categorical(values, categories=list(column.values))
    if dtype == "string":
        return pd.array(values, dtype=_STRING_DTYPE)
    missing = pd.isna(values)
    if dtype == "bool" and not missing.any() and all(isinstance(v, bool) for v in values):
        return values.astype(bool)
    if dtype in ("integer", "float"):
        numbers = [v for v in values if not isinstance(v, (str, bool))]
        if len(numbers) == len(values):
            as_float = values.astype(np.float64)
            if (
                dtype == "integer"
                and not missing.any()
                and np.array_equal(as_float, np.round(as_float))
            ):
                return as_float.astype(np.int64)
            return as_float
    return values


#: pandas 3 reads text columns as its "str" dtype; older pandas as object.
_STRING_DTYPE: Any = "str" if int(pd.__version__.split(".")[0]) >= 3 else object


# -- which columns are explained ---------------------------------------------------


#: Why a column named in an option is held fixed.
IGNORED_BY_OPTION = "--ignore-columns"
FROZEN_BY_OPTION = "--freeze-columns"
HELD_IN_STATISTICS = (
    "the statistics hold no values of it (it was held when they were saved: "
    "--ignore-columns, or not used by the model)"
)


class ColumnPlan:
    """Which columns are explained and which are held at the row's value, and why.

    Held columns keep the row's value in every sample and get no feature:
    columns the model provably does not use (``layout.unused``), columns
    named by ``--ignore-columns`` or ``--freeze-columns``. Shared by every row
    explained with the same statistics and model; ``warnings`` are the ones
    about columns (the same for every row).
    """

    def __init__(
        self,
        stats: TrainingStats,
        layout: RowLayout | None = None,
        *,
        ignore: tuple[str, ...] | list[str] = (),
        freeze: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.stats = stats
        held: dict[str, str] = dict(layout.unused) if layout is not None else {}
        for col in stats.columns:
            if isinstance(col, CategoricalColumn) and col.held:
                held.setdefault(col.name, HELD_IN_STATISTICS)
        for name in ignore:
            held.setdefault(name, IGNORED_BY_OPTION)
        for name in freeze:
            held.setdefault(name, FROZEN_BY_OPTION)
        unknown = [n for n in held if n not in set(stats.names)]
        if unknown:
            raise InputError(
                f"no column named {listed_names(unknown)} in the training data; "
                f"its columns are: {listed_names(stats.names, 30)}"
            )
        #: Held column name -> reason, in the statistics' column order.
        self.held = {n: held[n] for n in stats.names if n in held}
        self.explained = [j for j, c in enumerate(stats.columns) if c.name not in self.held]
        if not self.explained:
            raise InputError(
                f"every column is held at the row's value ({listed_names(list(self.held))}): "
                "there is nothing left to explain"
            )
        self.held_idx = [j for j, c in enumerate(stats.columns) if c.name in self.held]
        self.warnings = self._warnings()

    def _warnings(self) -> list[str]:
        out = []
        by_model = [
            f"{n!r} ({why})"
            for n, why in self.held.items()
            if why not in (IGNORED_BY_OPTION, FROZEN_BY_OPTION, HELD_IN_STATISTICS)
        ]
        if by_model:
            out.append(
                "held at the row's value and not explained, as the model does not use them: "
                + ", ".join(by_model)
            )
        for j in self.explained:
            col = self.stats.columns[j]
            remedy = f"hold it with --ignore-columns {col.name}"
            if col.identifier:
                out.append(
                    f"column {col.name!r} has a different value in every training row, like "
                    f"an identifier: conditions on it say little about the model ({remedy})"
                )
            elif isinstance(col, CategoricalColumn) and col.other_values:
                out.append(
                    f"column {col.name!r} has {col.distinct} distinct values: the "
                    f"{len(col.values)} most frequent are sampled as they are and the other "
                    f"{col.other_values} as one rare level, so its weight is seldom meaningful "
                    f"(if it identifies rows rather than describes them, {remedy})"
                )
        return out

    def describe(self) -> list[dict[str, str]]:
        """The held columns as the JSON ``input.ignored_columns`` lists them."""
        return [{"column": n, "reason": why} for n, why in self.held.items()]


# -- the domain -------------------------------------------------------------------


class TabularDomain:
    """Interpretable features of one table row: one condition per column.

    ``values`` holds the row's cells in the statistics' column order, already
    converted to the training types (floats, NaN when missing, for numeric
    columns). ``layout`` says how the model takes rows; ``sampler`` and
    ``columns`` (which columns are explained) may be shared between rows
    explained with the same statistics. Held columns keep the row's value in
    every sample and get no feature: feature ``i`` is the condition on column
    ``columns.explained[i]``.
    """

    modality = "tabular"

    def __init__(
        self,
        values: list[Any],
        stats: TrainingStats,
        layout: RowLayout | None = None,
        *,
        row: int | None = None,
        name: str = "-",
        sampler: TabularSampler | None = None,
        columns: ColumnPlan | None = None,
    ) -> None:
        if len(values) != len(stats.columns):
            raise ValueError(f"{len(values)} values for {len(stats.columns)} columns")
        self.stats = stats
        self.layout = layout or RowLayout(stats)
        self.columns = columns or ColumnPlan(stats, self.layout)
        self.sampler = sampler or TabularSampler(stats, self.columns.held_idx)
        self.explained = self.columns.explained
        self.row = row
        self.name = name
        self.values = list(values)
        s = self.sampler
        self.instance_numeric = np.array(
            [[math.nan if values[j] is None else float(values[j]) for j in s.numeric_idx]],
            dtype=np.float64,
        ).reshape(1, len(s.numeric_idx))
        self.instance_categorical = np.empty((1, len(s.categorical_idx)), dtype=object)
        self.instance_categorical[0, :] = [values[j] for j in s.categorical_idx]
        self._check_values()
        if s.discretize:
            self.numeric_levels = s.numeric_levels(self.instance_numeric)[0]
        else:
            self.numeric_levels = np.full(len(s.numeric_idx), -1, dtype=np.int64)
        self.categorical_levels = np.array(
            [s.category_level(k, values[j]) for k, j in enumerate(s.categorical_idx)],
            dtype=np.int64,
        )
        self.feature_names = [self._feature_name(j) for j in self.explained]
        self.default_kernel_width = KERNEL_WIDTH_FACTOR * math.sqrt(len(self.explained))
        #: Warnings for this row's explanation: the columns' and the row's own.
        self.warnings = list(self.columns.warnings) + self._unseen_warnings()

    @property
    def label(self) -> str:
        return self.name if self.row is None else f"{self.name} row {self.row}"

    def _check_values(self) -> None:
        """Without bins a numeric cell is a coordinate: it must be a finite number."""
        if self.stats.discretize:
            return
        held = set(self.columns.held_idx)
        for k, j in enumerate(self.sampler.numeric_idx):
            v = self.instance_numeric[0, k]
            if j not in held and not np.isfinite(v):
                what = "missing" if np.isnan(v) else "infinite"
                raise InputError(
                    f"{self.label}: column {self.stats.columns[j].name!r} is {what}; "
                    "--discretizer none can explain only finite numbers (use a discretizer)"
                )

    def _unseen_warnings(self) -> list[str]:
        """One warning per explained category the training data never had."""
        out = []
        held = set(self.columns.held_idx)
        for k, j in enumerate(self.sampler.categorical_idx):
            if j in held or self.categorical_levels[k] >= 0:
                continue
            name = self.stats.columns[j].name
            out.append(
                f"the value {show_value(self.values[j])!r} of column {name!r} was not seen in "
                f"training: no sample shares it, so the weight of {self._feature_name(j)!r} "
                "only measures how far the other features miss this row (check the value, "
                f"or hold the column with --freeze-columns {name})"
            )
        return out

    def _feature_name(self, j: int) -> str:
        col = self.stats.columns[j]
        if isinstance(col, CategoricalColumn):
            value = self.values[j]
            if _is_missing(value):
                return f"{col.name} is missing"
            k = self.sampler.position[j]
            if self.categorical_levels[k] == self.sampler.category_other[k] >= 0:
                return f"{col.name} = {show_value(value)} (rare)"  # any pooled value shares it
            return f"{col.name} = {show_value(value)}"
        if not self.stats.discretize:
            return col.name
        k = self.sampler.position[j]
        level = int(self.numeric_levels[k])
        if level == self.sampler.missing_level[k] or np.isnan(self.instance_numeric[0, k]):
            return f"{col.name} is missing"
        assert col.bins is not None
        return bin_names(col.name, col.bins.edges, column_edge_labels(col))[level]

    # -- the Domain protocol ---------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> TabularSample:
        """``n`` rows; row 0 is this row, the others drawn from the training statistics."""
        s = self.sampler
        draw = s.draw(n - 1, rng)
        z = np.ones((n, len(self.stats.columns)), dtype=np.float64)
        num, cat = s.numeric_cols, s.categorical_cols
        if s.numeric_idx:
            if s.discretize:
                z[1:, num] = draw.numeric_levels == self.numeric_levels
            else:
                z[:, num] = (np.vstack([self.instance_numeric, draw.numeric]) - s.means) / s.scales
        if s.categorical_idx:
            z[1:, cat] = draw.categorical_levels == self.categorical_levels
        numeric = np.vstack([self.instance_numeric, draw.numeric])
        categorical = np.vstack([self.instance_categorical, draw.categorical])
        for j in self.columns.held_idx:  # every sample keeps the row's value
            k = s.position[j]
            if isinstance(self.stats.columns[j], NumericColumn):
                numeric[:, k] = self.instance_numeric[0, k]
            else:
                categorical[:, k] = self.instance_categorical[0, k]
        if len(self.explained) < z.shape[1]:
            z = np.ascontiguousarray(z[:, self.explained])
        return TabularSample(z, numeric, categorical)

    def instance(self) -> TabularSample:
        """This row alone, as a one-row sample (to check that the model takes it)."""
        return TabularSample(
            np.ones((1, len(self.explained))), self.instance_numeric, self.instance_categorical
        )

    def to_model_input(self, z: TabularSample) -> Any:
        return self.layout.to_model_input(z)

    def preferred_batch_size(self, n: int) -> int:
        """Rows per model call: as many as fit in a bounded amount of memory.

        Per-call costs (validation, DataFrame assembly, a forest visiting every
        tree once per call) make a few large calls much cheaper than many small.
        """
        return max(1, min(n, batch_rows(len(self.stats.columns))))

    def distances(self, z: Any) -> np.ndarray:
        """Euclidean distance to the row in the interpretable space, as lime's tabular explainer."""
        return euclidean_distance_to_first(np.asarray(z))

    def feature_info(self, i: int) -> dict[str, Any]:
        """The column, the row's value and, for a bin, its limits (null where open;
        dates as shown in the feature's name)."""
        j = self.explained[i]
        col = self.stats.columns[j]
        info: dict[str, Any] = {"column": col.name, "value": json_value(self.values[j], col)}
        if isinstance(col, NumericColumn) and col.bins is not None:
            k = self.sampler.position[j]
            level = int(self.numeric_levels[k])
            edges: Any = col.bins.edges if col.format is None else column_edge_labels(col)
            if 0 <= level <= len(edges) and not np.isnan(self.instance_numeric[0, k]):
                low = edges[level - 1] if level > 0 else None
                high = edges[level] if level < len(edges) else None
                info["range"] = [low, high]
        return info

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.label,
            "file": self.name,
            "row": self.row,
            "num_features": len(self.explained),
            "discretizer": self.stats.discretizer,
            "training": self.stats.source,
            "values": {c.name: json_value(v, c) for c, v in zip(self.stats.columns, self.values)},
            "ignored_columns": self.columns.describe(),
        }
