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

from lime_cli.engine.blocks import BLOCK_ROWS, padded
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


def call_size(batch: int) -> int:
    """Rows per model call for blocks of :class:`RowBlocks`: ``batch`` rounded down to a
    multiple of :data:`BLOCK_ROWS` (at least one), so no call ends inside a vector."""
    return max(BLOCK_ROWS, batch // BLOCK_ROWS * BLOCK_ROWS)


@dataclass(frozen=True)
class RowBlocks:
    """Several rows' samples in one pair of arrays, laid out as the model is asked about them.

    Row ``k``'s ``count`` samples are rows ``k * stride`` to ``k * stride + count``
    of ``values``, ``stride`` being ``count`` rounded up to a multiple of
    :data:`BLOCK_ROWS`; the rest of its block repeats the row itself (answers
    dropped). Predicted in calls of a multiple of 16 rows (:func:`call_size`),
    each sample then sits at the same place of a vector, never in a call's
    last, partial one, whichever rows share its call. Some models' vectorised
    arithmetic (the matrix products of a LogisticRegression or an MLP) rounds
    the last bits of an answer differently by its place in a call, and the rows
    sharing a call change with the batch (so with --jobs), the selection and,
    with --num-samples auto, the rows still unsettled: laid out so, a row's
    answers depend on its own samples only.
    """

    #: Every block, values only (``z`` has no columns): what the model is asked about.
    values: TabularSample
    count: int

    @property
    def stride(self) -> int:
        return padded(self.count)

    def answers(self, y: np.ndarray) -> np.ndarray:
        """Each row's answers (rows, count, classes), from the model's for ``values``."""
        return y.reshape(-1, self.stride, y.shape[1])[:, : self.count]

    @staticmethod
    def repeating(rows: TabularSample) -> RowBlocks:
        """Each of ``rows`` alone in a block filled with copies of it (``count`` 1):
        how the rows themselves are asked about on shared draws, so that a row's
        own answer does not depend on the rows sharing its call either."""
        arrays = (rows.z, rows.numeric, rows.categorical)
        return RowBlocks(TabularSample(*(np.repeat(a, BLOCK_ROWS, axis=0) for a in arrays)), 1)

    def only(self, kept: list[int]) -> RowBlocks:
        """The blocks of the rows at positions ``kept``, copied together."""
        starts = np.asarray(kept, dtype=np.intp)[:, None] * self.stride
        take = (starts + np.arange(self.stride)).ravel()
        v = self.values
        return RowBlocks(TabularSample(v.z[take], v.numeric[take], v.categorical[take]), self.count)


def sample_rows(
    domains: list[TabularDomain], n: int, rngs: list[np.random.Generator]
) -> tuple[list[TabularSample], RowBlocks]:
    """``n`` samples of each row (row 0 the row itself), drawn into one pair of arrays.

    Returns each row's sample, whose values are its block's first ``n`` rows
    in the arrays, and the arrays as :class:`RowBlocks` (the padding rows
    repeat the row): what the model is asked about, without copying the rows'
    samples together (a copy cost 0.07 ms a row of 5000).
    """
    first = domains[0].sampler
    stride = padded(n)
    total = stride * len(domains)
    numeric = np.empty((total, len(first.numeric_idx)))
    categorical = np.empty((total, len(first.categorical_idx)), dtype=object, order="F")
    samples = []
    for k, (domain, rng) in enumerate(zip(domains, rngs)):
        start, pad, stop = k * stride, k * stride + n, (k + 1) * stride
        samples.append(domain.sample(n, rng, (numeric[start:pad], categorical[start:pad])))
        numeric[pad:stop] = domain.instance_numeric[0]
        categorical[pad:stop] = domain.instance_categorical[0]
    return samples, RowBlocks(TabularSample(np.empty((total, 0)), numeric, categorical), n)


# -- drawing values from training statistics ----------------------------------


@dataclass
class Draw:
    """Rows drawn from training statistics, as values and as levels.

    ``numeric`` (n, m) floats and ``categorical`` (n, c) objects are the
    values; ``numeric_levels`` and ``categorical_levels`` (n, m) and (n, c)
    are the bins or categories they fall in (what the surrogate compares with
    the row's). Held columns hold placeholders: NaN, None and level -1.
    """

    numeric: np.ndarray
    numeric_levels: np.ndarray
    categorical: np.ndarray
    categorical_levels: np.ndarray

    @staticmethod
    def empty(n: int, m: int, c: int) -> Draw:
        """Arrays for ``n`` rows, column-ordered: a draw writes one whole column at a time."""
        return Draw(
            np.empty((n, m), order="F"),
            np.empty((n, m), dtype=np.intp, order="F"),
            np.empty((n, c), dtype=object, order="F"),
            np.empty((n, c), dtype=np.intp, order="F"),
        )


#: Rows of a numeric column's level table (``TabularSampler.bin_tables``), one
#: table column per level: the cumulative frequency below the level, the slope
#: from a uniform's offset above it to a normal probability inside the bin,
#: that probability at the bin's lower limit, the bin's normal (mean, spread),
#: and the limits a value is clipped to.
_BELOW, _SLOPE, _P_LOW, _MEAN, _SCALE, _LOW, _HIGH = range(7)
#: Two more rows for integer columns with a drawable bin that holds no integer:
#: the limits of the bin's integers, NaN where it has none (values stay as drawn).
_INT_LOW, _INT_HIGH = 7, 8
#: How a numeric column's values are rounded: not (floats); to the nearest integer,
#: clipped to the bin's integers (the ``_LOW``/``_HIGH`` rows hold them); or only in
#: the bins that hold integers (the ``_INT_LOW``/``_INT_HIGH`` rows say which).
_NO_ROUNDING, _ROUND, _ROUND_WHERE_INTEGERS = 0, 1, 2


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
        #: Positions (among their kind) of the columns that are drawn, and of the held ones.
        self.drawn_numeric = [k for k, j in enumerate(self.numeric_idx) if j not in self.held]
        self.drawn_categorical = [
            k for k, j in enumerate(self.categorical_idx) if j not in self.held
        ]
        self.held_numeric = [k for k, j in enumerate(self.numeric_idx) if j in self.held]
        self.held_categorical = [k for k, j in enumerate(self.categorical_idx) if j in self.held]
        numeric = [
            c for c in (stats.columns[j] for j in self.numeric_idx) if isinstance(c, NumericColumn)
        ]
        self.means = np.array([c.mean for c in numeric], dtype=np.float64)
        # lime's scaler: population spread, 1 for constant columns.
        self.scales = np.array([c.std if c.std > 0 else 1.0 for c in numeric], dtype=np.float64)
        self.integer = np.array([c.integral for c in numeric], dtype=bool)
        self.missing_level = np.full(len(numeric), -1, dtype=np.int64)
        self.level_edges: list[np.ndarray] = []
        self.bin_tables: list[np.ndarray] = []
        self.rounding: list[int] = []
        if self.discretize:
            for k, column in enumerate(numeric):
                self._bin_table(k, column)
        self.vocab: list[np.ndarray] = []
        self.category_edges: list[np.ndarray] = []
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
            cdf = _cdf(counts + ([col.missing] if col.missing else []))
            self.category_edges.append(cdf[:-1].copy())
            self.category_keys.append({_key(v): i for i, v in enumerate(col.values)})
            self.category_other.append(len(col.values) if other else -1)
            self.category_missing.append(len(col.values) + len(other) if col.missing else -1)

    def _bin_table(self, k: int, col: NumericColumn) -> None:
        """Numeric column ``k``'s level edges and level table (rows ``_BELOW``, ...).

        A draw of the column is one uniform ``u`` per row: its level ``l`` is
        how many of ``level_edges[k]`` (the cumulative level frequencies but
        the last) it passes, and ``(u - below[l]) / prob[l]`` is again uniform
        on [0, 1), independent of ``l``: the position inside the bin. Levels
        are the table's columns, so one ``take`` along axis 1 gathers every
        parameter of every row's level as contiguous rows of the result.
        """
        bins = col.bins
        assert bins is not None
        nb = len(bins.counts)
        counts = list(bins.counts) + ([col.missing] if col.missing else [])
        if col.missing:
            self.missing_level[k] = nb
        cdf = _cdf(counts)
        below = np.concatenate([[0.0], cdf[:-1]])
        prob = cdf - below
        levels = len(counts)
        low, high, mean = np.full(levels, np.nan), np.full(levels, np.nan), np.full(levels, np.nan)
        scale = np.ones(levels)  # the missing level's NaN mean makes its values NaN
        low[:nb], high[:nb] = bins.lows(col.min), bins.highs(col.max)
        mean[:nb] = bins.means
        scale[:nb] = np.asarray(bins.stds) + _MIN_SPREAD
        # Standardised bin limits as normal probabilities: a draw is an inverse CDF.
        with np.errstate(invalid="ignore", divide="ignore"):
            p_low = ndtr((low - mean) / scale)
            p_span = ndtr((high - mean) / scale) - p_low
            # Rounded towards zero: (u - below) <= prob, so the probability never
            # passes the bin's upper one (ndtri is NaN above 1).
            slope = np.nextafter(p_span / prob, 0.0)
        slope[(prob == 0) | np.isnan(p_span)] = 0.0  # never drawn; missing (NaN p_low)
        rows = [below, slope, p_low, mean, scale, low, high]
        rounding = _NO_ROUNDING
        if col.integral:
            # Integers inside each bin: (low, high] except the first, [min, high].
            ilow = np.concatenate([np.ceil(low[:1]), np.floor(low[1:nb]) + 1])
            ihigh = np.floor(high[:nb])
            has = ilow <= ihigh
            if np.all(has | (prob[:nb] == 0)):
                # Clipping to the bin, rounding and clipping to its integers is the
                # same as rounding and clipping to its integers (rounding is monotone
                # and moves the bin's limits no further than its outer integers).
                rounding = _ROUND
                low[:nb] = np.where(has, ilow, low[:nb])
                high[:nb] = np.where(has, ihigh, high[:nb])
            else:
                rounding = _ROUND_WHERE_INTEGERS
                int_low, int_high = np.full(levels, np.nan), np.full(levels, np.nan)
                int_low[:nb] = np.where(has, ilow, np.nan)
                int_high[:nb] = np.where(has, ihigh, np.nan)
                rows += [int_low, int_high]
        self.level_edges.append(cdf[:-1].copy())
        self.bin_tables.append(np.stack(rows))
        self.rounding.append(rounding)

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
    def hold(
        self, numeric: np.ndarray, categorical: np.ndarray, row: tuple[np.ndarray, np.ndarray]
    ) -> None:
        """Write a row's values (``row``: numeric (1, m), categorical (1, c)) into the
        held columns of ``numeric`` (n, m) and ``categorical`` (n, c), in place."""
        for k in self.held_numeric:
            numeric[:, k] = row[0][0, k]
        for k in self.held_categorical:
            categorical[:, k].fill(row[1][0, k])

    def draw(self, n: int, rng: np.random.Generator, out: Draw | None = None) -> Draw:
        """``n`` rows drawn from the training statistics, written into ``out`` if given.

        ``out``'s arrays have the shapes :class:`Draw` states, in any memory
        order (column order is the fastest: each column is written whole).
        Every drawn cell takes one random number, all from one call: row ``r``
        of a (drawn columns, n) block is the ``r``-th drawn column's, numeric
        columns first (standard normals in a second call without
        discretisation). Numeric levels are -1 without discretisation (the
        surrogate sees values).
        """
        m, c = len(self.numeric_idx), len(self.categorical_idx)
        out = out or Draw.empty(n, m, c)
        drawn = len(self.drawn_numeric)
        if self.discretize:
            u = rng.random((drawn + len(self.drawn_categorical), n))
            with np.errstate(invalid="ignore", divide="ignore"):  # NaN, the missing level's
                for row, k in enumerate(self.drawn_numeric):
                    self._draw_bins(k, u[row], out.numeric[:, k], out.numeric_levels[:, k])
            u = u[drawn:]
        else:
            normal = rng.standard_normal((drawn, n))
            for row, k in enumerate(self.drawn_numeric):
                values = out.numeric[:, k]
                np.multiply(normal[row], self.scales[k], out=values)
                values += self.means[k]
                if self.integer[k]:
                    np.rint(values, out=values)
            out.numeric_levels[...] = -1
            u = rng.random((len(self.drawn_categorical), n))
        for row, k in enumerate(self.drawn_categorical):
            levels = _levels(self.category_edges[k], u[row], out.categorical_levels[:, k])
            self.vocab[k].take(levels, out=out.categorical[:, k], mode="clip")
        for k in self.held_numeric:
            out.numeric[:, k] = np.nan
            out.numeric_levels[:, k] = -1
        for k in self.held_categorical:
            out.categorical[:, k] = None
            out.categorical_levels[:, k] = -1
        return out

    def _draw_bins(self, k: int, u: np.ndarray, values: np.ndarray, levels: np.ndarray) -> None:
        """Numeric column ``k``'s values and levels (n,) from its uniforms ``u`` (n,).

        The level is drawn by frequency, then the value inside the bin from a
        normal with the bin's mean and spread truncated to the bin, by inverse
        CDF: ``p = p_low + (u - below) * slope`` is uniform on the bin's share
        of the normal's probability (computed from ``u - below``, which keeps
        its precision in narrow levels). Values are clipped to the bin (and
        integers rounded within its integers); the missing level's are NaN.
        """
        _levels(self.level_edges[k], u, levels)
        g = self.bin_tables[k].take(levels, axis=1)  # (table rows, n), rows reused in place
        p = np.subtract(u, g[_BELOW], out=g[_BELOW])
        p *= g[_SLOPE]
        p += g[_P_LOW]
        x = ndtri(p, out=p)
        x *= g[_SCALE]
        x += g[_MEAN]
        rounding = self.rounding[k]
        if rounding == _ROUND:
            np.rint(x, out=x)
        # np.clip's semantics (NaN stays NaN), at half its cost.
        np.maximum(x, g[_LOW], out=x)
        np.minimum(x, g[_HIGH], out=values)
        if rounding == _ROUND_WHERE_INTEGERS:
            rounded = np.minimum(np.maximum(np.rint(values), g[_INT_LOW]), g[_INT_HIGH])
            np.copyto(values, rounded, where=~np.isnan(g[_INT_LOW]))


#: Up to this many edges a level is counted by comparisons with each edge
#: (branch-free and vectorised: 7 against 15 us for 3 edges and 5000
#: draws, 20 against 23 for 10), beyond by binary search.
_COMPARED_EDGES = 10


def _levels(edges: np.ndarray, u: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Level of each uniform in ``u`` (n,): how many of ``edges`` (non-decreasing) it
    is at or above, so a zero-frequency level (a repeated edge) is never drawn.
    Written to ``out`` (n,) and returned."""
    if len(edges) > _COMPARED_EDGES:
        out[...] = np.searchsorted(edges, u, side="right")
        return out
    count = np.zeros(u.shape, dtype=np.uint8)
    passed = np.empty(u.shape, dtype=bool)
    for edge in edges:
        np.greater_equal(u, edge, out=passed)
        np.add(count, passed.view(np.uint8), out=count)
    out[...] = count
    return out


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
    """Sample rows held at once for a table of ``num_columns`` columns (the memory bound)."""
    return max(1, BATCH_BYTES // (32 * max(1, num_columns)))


#: Sample rows per model call by default. Per-call costs (validation, DataFrame
#: assembly, a forest visiting every tree) want large calls, but a model also
#: runs slower once a call's data no longer fits in the processor's caches:
#: the GradientBoosting pipeline of ``bench/bench_overhead.py`` took 6.5 ms per
#: row's 5000 samples in calls of 699,050 rows, 4.1-4.6 in calls of 21,845 to
#: 32,768; the 100-tree forest and XGBoost on 30 columns took the same time in
#: calls of 16,384, 32,768 or 69,905 rows (within the machine's noise).
CALL_ROWS = 32768


def call_rows(num_columns: int) -> int:
    """Sample rows per model call by default: ``CALL_ROWS``, fewer for very wide tables."""
    return min(CALL_ROWS, batch_rows(num_columns))


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
        #: Per feature: whether its column is numeric, its position among its kind
        #: and this row's level there (a sample's z is 1 where it has the same).
        self._features: list[tuple[bool, int, int]] = []
        for j in self.explained:
            k = s.position[j]
            if isinstance(stats.columns[j], NumericColumn):
                self._features.append((True, k, int(self.numeric_levels[k])))
            else:
                self._features.append((False, k, int(self.categorical_levels[k])))
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
    def sample(
        self,
        n: int,
        rng: np.random.Generator,
        into: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> TabularSample:
        """``n`` rows; row 0 is this row, the others drawn from the training statistics.

        The draw is written straight into rows 1.. of the sample's values
        (``numeric`` (n, m), ``categorical`` (n, c), column-ordered: written and
        read a column at a time; ``into`` gives them, else they are made) and
        ``z`` (n, features) is built a column at a time from the drawn levels,
        column-ordered as the engine fits it.
        """
        s = self.sampler
        m, c = len(s.numeric_idx), len(s.categorical_idx)
        if into is None:
            numeric = np.empty((n, m))
            categorical = np.empty((n, c), dtype=object, order="F")
        else:
            numeric, categorical = into
        numeric[0] = self.instance_numeric[0]
        categorical[0] = self.instance_categorical[0]
        numeric_levels = np.empty((n - 1, m), dtype=np.intp, order="F")
        categorical_levels = np.empty((n - 1, c), dtype=np.intp, order="F")
        draw = s.draw(
            n - 1, rng, Draw(numeric[1:], numeric_levels, categorical[1:], categorical_levels)
        )
        # Every sample keeps the row's value in the held columns.
        s.hold(numeric, categorical, (self.instance_numeric, self.instance_categorical))
        z = self.z_from(numeric[1:], draw.numeric_levels, draw.categorical_levels)
        return TabularSample(z, numeric, categorical)

    def z_from(
        self, numeric: np.ndarray, numeric_levels: np.ndarray, categorical_levels: np.ndarray
    ) -> np.ndarray:
        """The interpretable matrix (draws + 1, features), column-ordered as the engine
        fits it, of this row and then ``draws`` drawn rows given by their numeric
        values (draws, m) and their levels (draws, m) and (draws, c).

        Row 0 is this row: 1 everywhere (or its standardised values without
        bins); a drawn row has 1 where its level is this row's.
        """
        s = self.sampler
        z = np.empty((numeric.shape[0] + 1, len(self.explained)), order="F")
        z[0] = 1.0
        for i, (is_numeric, k, level) in enumerate(self._features):
            if not is_numeric:
                np.equal(categorical_levels[:, k], level, out=z[1:, i])
            elif s.discretize:
                np.equal(numeric_levels[:, k], level, out=z[1:, i])
            else:
                z[0, i] = self.instance_numeric[0, k]
                z[1:, i] = numeric[:, k]
                z[:, i] -= s.means[k]
                z[:, i] /= s.scales[k]
        return z

    def instance(self) -> TabularSample:
        """This row alone, as a one-row sample (to check that the model takes it)."""
        return TabularSample(
            np.ones((1, len(self.explained))), self.instance_numeric, self.instance_categorical
        )

    def to_model_input(self, z: TabularSample) -> Any:
        return self.layout.to_model_input(z)

    def preferred_batch_size(self, n: int) -> int:
        """Rows per model call: ``call_rows`` (see ``CALL_ROWS`` for why), at most ``n``."""
        return max(1, min(n, call_rows(len(self.stats.columns))))

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
