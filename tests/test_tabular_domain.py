"""The tabular domain: sampling from training statistics, names, model inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from lime_cli.engine import LabelRequest, LimeParams, explain, explain_predictions
from lime_cli.errors import InputError
from lime_cli.tabular.data import Bins, NumericColumn, TrainingStats, compute_stats
from lime_cli.tabular.domain import (
    _COMPARED_EDGES,
    RowLayout,
    TabularDomain,
    TabularSample,
    TabularSampler,
    _levels,
    bin_names,
    edge_labels,
    sample_rows,
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 400
    income = rng.gamma(4.0, 10_000.0, size=n)
    income[:40] = np.nan  # 10 % missing
    housing = rng.choice(["rent", "own", "free"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    housing[40:60] = np.nan  # 5 % missing
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, size=n),
            "income": income,
            "housing": housing,
            "smoker": rng.random(n) < 0.3,
        }
    )


@pytest.fixture(scope="module")
def stats(frame):
    return compute_stats(frame, source="train.csv")


def row_values(**cells) -> list:
    order = ["age", "income", "housing", "smoker"]
    return [cells[c] for c in order]


# -- names ------------------------------------------------------------------------------


def test_bin_names_read_as_lime_writes_them():
    assert bin_names("age", [31.0, 45.0]) == ["age <= 31.00", "31.00 < age <= 45.00", "age > 45.00"]


def test_edges_get_more_decimals_only_when_two_would_collide():
    assert edge_labels([0.1, 0.25]) == ["0.10", "0.25"]
    assert edge_labels([0.101, 0.104, 0.2]) == ["0.101", "0.104", "0.200"]
    assert edge_labels([-0.001, 3.0]) == ["0.00", "3.00"]  # no "-0.00"


def test_feature_names_per_kind(stats):
    q1, q2, q3 = stats.column("income").bins.edges
    domain = TabularDomain(row_values(age=30, income=q2 + 1, housing="rent", smoker=True), stats)
    names = dict(zip(stats.names, domain.feature_names))
    assert names["income"] == f"{q2:.2f} < income <= {q3:.2f}"
    assert names["housing"] == "housing = rent"
    assert names["smoker"] == "smoker = True"
    missing = TabularDomain(
        row_values(age=30, income=math.nan, housing=math.nan, smoker=False), stats
    )
    names = dict(zip(stats.names, missing.feature_names))
    assert names["income"] == "income is missing"
    assert names["housing"] == "housing is missing"


def test_kernel_width_is_lime_default(stats):
    domain = TabularDomain(row_values(age=30, income=1.0, housing="own", smoker=False), stats)
    assert domain.default_kernel_width == pytest.approx(0.75 * math.sqrt(4))


# -- sampling ---------------------------------------------------------------------------


def test_row_zero_is_the_row_itself(stats):
    values = row_values(age=33, income=51_234.5, housing="free", smoker=True)
    sample = TabularDomain(values, stats).sample(50, np.random.default_rng(0))
    assert np.all(sample.z[0] == 1)
    assert sample.numeric[0].tolist() == [33.0, 51_234.5]
    assert sample.categorical[0].tolist() == ["free", True]


def test_z_is_one_exactly_where_the_sample_shares_the_rows_bin_or_category(stats):
    domain = TabularDomain(row_values(age=50, income=30_000.0, housing="rent", smoker=False), stats)
    sample = domain.sample(3000, np.random.default_rng(2))
    for k, name in enumerate(["age", "income"]):
        edges = np.asarray(stats.column(name).bins.edges)
        values = sample.numeric[:, k]
        same_bin = np.searchsorted(edges, values) == np.searchsorted(edges, values[0])
        same_bin &= ~np.isnan(values)
        assert np.array_equal(sample.z[:, stats.names.index(name)] == 1, same_bin)
    housing = sample.categorical[:, 0]
    assert np.array_equal(sample.z[:, 2] == 1, housing == "rent")
    assert set(np.unique(sample.z)) <= {0.0, 1.0}


def test_interleaved_column_kinds_keep_z_and_values_together(frame):
    mixed = compute_stats(frame[["housing", "age", "smoker", "income"]])
    domain = TabularDomain(["own", 40, True, 30_000.0], mixed)
    sample = domain.sample(2000, np.random.default_rng(6))
    assert np.array_equal(sample.z[:, 0] == 1, sample.categorical[:, 0] == "own")
    assert np.array_equal(sample.z[:, 2] == 1, sample.categorical[:, 1] == True)  # noqa: E712
    for j, k, name in ((1, 0, "age"), (3, 1, "income")):
        edges = np.asarray(mixed.column(name).bins.edges)
        values = sample.numeric[:, k]
        same = (np.searchsorted(edges, values) == np.searchsorted(edges, values[0])) & ~np.isnan(
            values
        )
        assert np.array_equal(sample.z[:, j] == 1, same)


@pytest.mark.parametrize("copies", [1, 3])
def test_levels_of_uniform_draws_count_the_cumulative_frequencies_passed(copies):
    """Every draw's level is the number of cumulative frequencies at or below
    it, also exactly at the edges and across zero-frequency levels (repeated
    cumulative values), by comparisons (4 edges) and by binary search (12) alike."""
    rng = np.random.default_rng(5)
    for cdf in ([0.2, 0.2, 0.5, 1.0, 1.0], [0.1, 0.4, 0.4, 0.4, 1.0]):
        edges = np.sort(np.concatenate([np.asarray(cdf[:-1]) / (i + 1) for i in range(copies)]))
        assert (len(edges) > _COMPARED_EDGES) == (copies > 1)
        u = np.concatenate([rng.random(500), edges, np.nextafter(edges, 0.0), [0.0]])
        expected = (u[:, None] >= edges[None, :]).sum(axis=1)
        out = np.empty(len(u), dtype=np.intp)
        np.testing.assert_array_equal(_levels(edges, u, out), expected)
        np.testing.assert_array_equal(out, expected)


def test_bins_and_categories_are_drawn_at_their_training_frequencies(frame, stats):
    domain = TabularDomain(row_values(age=50, income=30_000.0, housing="rent", smoker=False), stats)
    n = 40_000
    sample = domain.sample(n + 1, np.random.default_rng(3))
    income = sample.numeric[1:, 1]
    col = stats.column("income")
    expected = np.array(list(col.bins.counts) + [col.missing]) / stats.rows
    drawn_bins = np.where(np.isnan(income), 4, np.searchsorted(col.bins.edges, income))
    observed = np.bincount(drawn_bins, minlength=5) / n
    assert np.allclose(observed, expected, atol=0.01)
    housing = pd.Series(sample.categorical[1:, 0])
    observed = housing.value_counts(dropna=False, normalize=True)
    truth = frame["housing"].value_counts(dropna=False, normalize=True)
    for value, share in truth.items():
        got = observed[observed.index.isna()].sum() if pd.isna(value) else observed[value]
        assert got == pytest.approx(share, abs=0.01)


def test_values_stay_in_their_bin_and_integers_stay_integers(stats):
    domain = TabularDomain(row_values(age=50, income=30_000.0, housing="rent", smoker=False), stats)
    sample = domain.sample(5000, np.random.default_rng(4))
    age = sample.numeric[1:, 0]
    assert np.array_equal(age, np.round(age))
    col = stats.column("age")
    assert col.min <= age.min() and age.max() <= col.max
    income = sample.numeric[1:, 1]
    icol = stats.column("income")
    present = income[~np.isnan(income)]
    bins = np.searchsorted(icol.bins.edges, present)
    lows = np.asarray(icol.bins.lows(icol.min))[bins]
    highs = np.asarray(icol.bins.highs(icol.max))[bins]
    assert np.all(present >= lows) and np.all(present <= highs)
    # Inside a bin the values spread out (a truncated normal, not a point).
    assert np.std(present[bins == 1]) > 0


def test_positions_inside_a_bin_are_uniform_whatever_the_bin(stats):
    """One uniform draws both the bin and the position inside it: mapped back
    through the bin's normal CDF, the values of every bin are uniform on the
    bin's share of the normal (a position not rescaled to the bin's own
    frequency, or not taken relative to its lower cumulative one, fails)."""
    draw = TabularSampler(stats).draw(40_000, np.random.default_rng(11))
    col = stats.column("income")
    lows, highs = col.bins.lows(col.min), col.bins.highs(col.max)
    values, levels = draw.numeric[:, 1], draw.numeric_levels[:, 1]
    for b in range(len(col.bins.counts)):
        mean, scale = col.bins.means[b], col.bins.stds[b] + 1e-11
        p_low, p_high = ndtr((lows[b] - mean) / scale), ndtr((highs[b] - mean) / scale)
        x = np.sort(values[levels == b])
        position = (ndtr((x - mean) / scale) - p_low) / (p_high - p_low)
        grid = np.arange(1, len(x) + 1) / len(x)
        assert np.max(np.abs(position - grid)) < 2.0 / np.sqrt(len(x))  # Kolmogorov-Smirnov
    assert np.isnan(values[levels == 4]).all() and not np.isnan(values[levels < 4]).any()


def test_integers_are_rounded_only_in_bins_that_hold_integers():
    """A bin holding no integer (hand-written statistics) keeps its values as
    drawn; in the others values are rounded to an integer inside the bin."""
    bins = Bins(edges=(2.0, 2.4, 2.8), counts=(10, 10, 10, 10), means=(1.5, 2.2, 2.6, 3.5),
                stds=(0.4, 0.1, 0.1, 0.4))  # fmt: skip
    column = NumericColumn("n", "integer", 40, 0, 2.5, 1.0, 1.0, 4.0, bins)
    stats = TrainingStats((column,), rows=40, discretizer="quartile")
    draw = TabularSampler(stats).draw(20_000, np.random.default_rng(0))
    values, levels = draw.numeric[:, 0], draw.numeric_levels[:, 0]
    between = values[(levels == 1) | (levels == 2)]
    assert np.all((between > 2.0) & (between <= 2.8)) and np.std(between) > 0.05
    assert not np.any(between == np.round(between))
    assert set(values[levels == 0]) == {1.0, 2.0} and set(values[levels == 3]) == {3.0, 4.0}


def test_without_bins_the_surrogate_sees_standardised_values(frame):
    stats = compute_stats(frame.dropna(), discretizer="none")
    domain = TabularDomain(row_values(age=40, income=42_000.0, housing="own", smoker=True), stats)
    sample = domain.sample(20_000, np.random.default_rng(5))
    income = stats.column("income")
    assert np.allclose(sample.z[:, 1], (sample.numeric[:, 1] - income.mean) / income.std)
    assert sample.numeric[1:, 1].mean() == pytest.approx(income.mean, rel=0.02)
    assert sample.numeric[1:, 1].std() == pytest.approx(income.std, rel=0.02)
    assert domain.feature_names[:2] == ["age", "income"]


def test_without_bins_missing_or_infinite_cells_are_refused(frame):
    stats = compute_stats(frame.dropna(), discretizer="none")
    for bad in (math.nan, math.inf):
        with pytest.raises(InputError, match="--discretizer none"):
            TabularDomain(row_values(age=40, income=bad, housing="own", smoker=True), stats)


def test_the_same_stream_gives_the_same_sample(stats):
    domain = TabularDomain(row_values(age=40, income=1e4, housing="own", smoker=True), stats)
    a = domain.sample(500, np.random.default_rng(9))
    b = domain.sample(500, np.random.default_rng(9))
    assert np.array_equal(a.z, b.z) and np.array_equal(a.numeric, b.numeric, equal_nan=True)


def test_held_columns_take_no_random_numbers(stats):
    """The other columns draw the same values whether the held ones have
    statistics or not (saved statistics keep only their names)."""
    held = [stats.names.index("income"), stats.names.index("housing")]
    rng_a, rng_b = np.random.default_rng(8), np.random.default_rng(8)
    a = TabularSampler(stats, held).draw(300, rng_a)
    b = TabularSampler(stats.holding({"income", "housing"}), held).draw(300, rng_b)
    assert np.array_equal(a.numeric[:, 0], b.numeric[:, 0])  # age
    assert np.array_equal(a.categorical[:, 1], b.categorical[:, 2])  # smoker
    assert rng_a.random() == rng_b.random()


def test_a_sample_slices_and_concatenates_with_its_values(stats):
    domain = TabularDomain(row_values(age=40, income=1e4, housing="own", smoker=True), stats)
    sample = domain.sample(10, np.random.default_rng(0))
    part = sample[2:5]
    assert isinstance(part, TabularSample) and part.shape == (3, 4)
    assert np.array_equal(part.numeric, sample.numeric[2:5], equal_nan=True)
    both = TabularSample.concatenate([sample, part])
    assert len(both) == 13 and np.array_equal(np.asarray(both), np.vstack([sample.z, part.z]))


def test_rows_sampled_into_one_chunk_are_the_rows_own_samples(stats):
    """Each row's sample is what it draws alone from the same stream, and is the first
    rows of its block of the chunk (what the model is asked): a block starts at a
    multiple of 16 rows and is padded to one with copies of the row itself."""
    domains = [
        TabularDomain(row_values(age=age, income=1e4, housing=h, smoker=s), stats)
        for age, h, s in [(40, "own", True), (22, "rent", False), (65, None, True)]
    ]
    rows, chunk = sample_rows(domains, 50, [np.random.default_rng(k) for k in range(3)])
    assert chunk.count == 50 and chunk.stride == 64 and len(chunk.values) == 3 * 64
    for k, (domain, row) in enumerate(zip(domains, rows)):
        alone = domain.sample(50, np.random.default_rng(k))
        assert np.array_equal(row.z, alone.z)
        assert np.array_equal(row.numeric, alone.numeric, equal_nan=True)
        assert list(row.categorical.ravel()) == list(alone.categorical.ravel())
        block = chunk.values[k * 64 : (k + 1) * 64]
        assert np.shares_memory(row.numeric, chunk.values.numeric)  # drawn in place
        assert np.array_equal(block.numeric[:50], alone.numeric, equal_nan=True)
        assert list(block.categorical[:50].ravel()) == list(alone.categorical.ravel())
        pad = block[50:]
        assert np.array_equal(pad.numeric, np.repeat(alone.numeric[:1], 14, 0), equal_nan=True)
        assert all(list(r) == list(alone.categorical[0]) for r in pad.categorical)
    assert chunk.values.categorical[128, 0] is None  # the third row's housing
    # The model's answers, one per chunk row, back as each row's 50.
    y = np.arange(3 * 64, dtype=float)[:, None]
    assert np.array_equal(chunk.answers(y)[2, :, 0], np.arange(128, 178))
    # Some rows' blocks alone (the others refused by the model), in the same layout.
    kept = chunk.only([0, 2])
    assert kept.stride == 64 and len(kept.values) == 128
    assert np.array_equal(kept.values.numeric[64:], chunk.values.numeric[128:], equal_nan=True)


# -- model inputs ------------------------------------------------------------------------


def test_frame_models_get_their_columns_in_their_order_with_training_dtypes(stats):
    layout = RowLayout(stats, ["smoker", "housing", "income", "age"])
    domain = TabularDomain(
        row_values(age=40, income=1e4, housing="own", smoker=True), stats, layout
    )
    batch = domain.to_model_input(domain.sample(200, np.random.default_rng(0)))
    assert isinstance(batch, pd.DataFrame)
    assert list(batch.columns) == ["smoker", "housing", "income", "age"]
    assert pd.api.types.is_integer_dtype(batch["age"])
    assert pd.api.types.is_float_dtype(batch["income"])
    assert pd.api.types.is_string_dtype(batch["housing"])
    assert batch["housing"].isna().any()  # missing drawn as missing, not as "nan"
    assert set(batch["housing"].dropna()) <= {"rent", "own", "free"}
    assert batch["smoker"].dtype == bool


def test_array_models_get_arrays_in_training_order(frame):
    numeric = compute_stats(frame[["age", "income"]].dropna())
    domain = TabularDomain([40, 1e4], numeric)
    batch = domain.to_model_input(domain.sample(5, np.random.default_rng(0)))
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float64 and batch.shape == (5, 2)
    assert batch[0].tolist() == [40.0, 1e4]
    mixed = compute_stats(frame)
    domain = TabularDomain(row_values(age=40, income=1e4, housing="own", smoker=True), mixed)
    batch = domain.to_model_input(domain.sample(5, np.random.default_rng(0)))
    assert batch.dtype == object and batch[0].tolist() == [40.0, 1e4, "own", True]


class _Estimator:
    def __init__(self, names=None, count=None):
        if names is not None:
            self.feature_names_in_ = np.array(names, dtype=object)
        if count is not None:
            self.n_features_in_ = count


class _Adapter:
    """A model adapter: RowLayout reads only its input_spec (as SklearnModel builds it)."""

    def __init__(self, estimator):
        from lime_cli.models.sklearn_adapter import SklearnModel

        self.input_spec = SklearnModel.input_spec.fget(_Wrapped(estimator))


class _Wrapped:
    def __init__(self, estimator):
        self.estimator = estimator


def test_layout_names_missing_and_extra_columns(stats):
    with pytest.raises(InputError, match="lacks 1 column .*'debt'"):
        RowLayout.for_model(_Adapter(_Estimator(stats.names + ["debt"])), stats, "train.csv")
    # A training column the model was not fitted on is held fixed, not an error.
    layout = RowLayout.for_model(_Adapter(_Estimator(stats.names[:3])), stats, "train.csv")
    assert layout.columns == stats.names[:3] and list(layout.unused) == ["smoker"]
    assert "feature_names_in_" in layout.unused["smoker"] and "--target" in layout.unused["smoker"]
    with pytest.raises(InputError, match="expects 5 columns"):
        RowLayout.for_model(_Adapter(_Estimator(count=5)), stats, "train.csv")
    layout = RowLayout.for_model(_Adapter(_Estimator(stats.names[::-1])), stats, "train.csv")
    assert layout.as_frame and layout.columns == stats.names[::-1]
    assert not RowLayout.for_model(_Adapter(_Estimator(count=4)), stats, "t").as_frame


# -- with the engine ----------------------------------------------------------------------


class LinearInAgeAndIncome:
    """P(yes) = sigmoid((age - 50) / 5 - (income - 40000) / 8000); missing income is 40000."""

    classes = ["no", "yes"]
    mode = "classification"

    def predict(self, batch):
        age = np.asarray(batch[:, 0], dtype=float)
        income = np.nan_to_num(np.asarray(batch[:, 1], dtype=float), nan=40_000.0)
        p = 1 / (1 + np.exp(-((age - 50) / 5 - (income - 40_000) / 8000)))
        return np.column_stack([1 - p, p])

    def describe(self):
        return {"path": "fake", "mode": self.mode, "classes": self.classes}


def test_engine_explain_finds_the_two_columns_with_their_signs(stats):
    q3_age = stats.column("age").bins.edges[-1]
    q3_income = stats.column("income").bins.edges[-1]
    values = row_values(age=q3_age + 5, income=q3_income + 5000, housing="own", smoker=False)
    domain = TabularDomain(values, stats)
    params = LimeParams(num_samples=3000, num_features=4, seed=0)
    exp = explain(
        domain, LinearInAgeAndIncome(), LabelRequest(("yes",)), params, np.random.default_rng(0)
    )
    features = exp.explanations[0].features
    assert {f.info["column"] for f in features[:2]} == {"age", "income"}
    weights = {f.info["column"]: f.weight for f in features}
    assert weights["age"] > 0 and weights["income"] < 0
    assert abs(weights["housing"]) < 0.2 * min(abs(weights["age"]), abs(weights["income"]))


def test_engine_explain_equals_predicting_then_fitting(stats):
    """The one-call path and the batched path (predict elsewhere, fit here) agree exactly."""
    values = row_values(age=30, income=20_000.0, housing="rent", smoker=True)
    model = LinearInAgeAndIncome()
    params = LimeParams(num_samples=800, num_features=3, seed=4)
    domain = TabularDomain(values, stats)
    one = explain(domain, model, LabelRequest(), params, np.random.default_rng(4))
    sample = domain.sample(800, np.random.default_rng(4))
    y = model.predict(domain.to_model_input(sample))
    two = explain_predictions(domain, model, sample.z, y, LabelRequest(), params)
    first, second = one.to_dict(), two.to_dict()
    first["params"].pop("batch_size", None)  # recorded by explain() only
    assert first == second


def test_describe_and_feature_info_are_json_ready(stats):
    import json

    domain = TabularDomain(
        row_values(age=30, income=math.inf, housing=math.nan, smoker=True),
        stats,
        row=7,
        name="r.csv",
    )
    described = domain.describe()
    assert described["name"] == "r.csv row 7" and described["row"] == 7
    assert described["values"] == {"age": 30, "income": "inf", "housing": None, "smoker": True}
    info = domain.feature_info(1)
    assert info["column"] == "income" and info["range"][1] is None
    json.dumps([described, info, domain.feature_info(0)], allow_nan=False)


def test_sampler_is_shared_safely_between_rows(stats):
    sampler = TabularSampler(stats)
    a = TabularDomain(
        row_values(age=20, income=1.0, housing="own", smoker=True), stats, sampler=sampler
    )
    b = TabularDomain(
        row_values(age=70, income=9e4, housing="rent", smoker=False), stats, sampler=sampler
    )
    alone = TabularDomain(row_values(age=20, income=1.0, housing="own", smoker=True), stats)
    assert np.array_equal(
        a.sample(100, np.random.default_rng(1)).z, alone.sample(100, np.random.default_rng(1)).z
    )
    assert not np.array_equal(
        a.sample(100, np.random.default_rng(1)).z, b.sample(100, np.random.default_rng(1)).z
    )
