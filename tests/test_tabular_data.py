"""Reading CSV files, typing columns, and training statistics (compute, save, load)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lime_cli.errors import InputError, UsageError
from lime_cli.tabular.data import (
    CategoricalColumn,
    NumericColumn,
    TrainingStats,
    compute_stats,
    convert_rows,
    load_stats,
    read_table,
    save_stats,
)


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    age = rng.integers(18, 80, size=n)
    income = rng.normal(50_000, 12_000, size=n)
    income[:10] = np.nan
    housing = rng.choice(["rent", "own", "free"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    housing[10:15] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "housing": housing,
            "smoker": rng.random(n) < 0.3,
            "label": (age > 40).astype(int),
        }
    )


# -- reading --------------------------------------------------------------------------


def test_read_table_infers_types_and_missing_values(tmp_path):
    path = write(tmp_path, "t.csv", "a,b,c,d\n1,x,True,2.5\n2,,False,\n3,y,True,4\n")
    table = read_table(path)
    assert pd.api.types.is_integer_dtype(table["a"])
    assert table["b"].isna().tolist() == [False, True, False]
    assert pd.api.types.is_bool_dtype(table["c"])
    assert np.isnan(table["d"][1])


def test_read_table_as_text_keeps_strings(tmp_path):
    path = write(tmp_path, "t.csv", "zip,n\n02139,1\n,2\n")
    table = read_table(path, as_text=True)
    assert table["zip"][0] == "02139"
    assert pd.isna(table["zip"][1])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        ("a,b,c\n", "no data rows"),
        ("a,,c\n1,2,3\n", "no name"),
        ("a,b,a\n1,2,3\n", "repeats the column name 'a'"),
        (b"a,b\n\x00\x01,2\n", "binary"),
        (b"a,b\n\xff\xfe,2\n", "UTF-8"),
        ("a,b\n1,2\n3,4,5,6\n", "not a readable CSV"),
        # One field too many in the first row: pandas took the first column as
        # the index and shifted the row's values left.
        ("a,b\nx,1,2\n3,4\n", "more fields than the header"),
        ("a;b;c\n1;2;3\n", "looks semicolon-separated"),
        ("a\tb\n1\t2\n", "looks tab-separated"),
    ],
)
def test_read_table_refuses_unusable_files(tmp_path, content, message):
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(InputError, match=message):
        read_table(path)


@pytest.mark.parametrize("content", ["", "a,b\n"])
def test_an_empty_csv_gets_the_same_message_read_whole_or_in_chunks(tmp_path, content):
    """An empty file read in chunks (--all) said the first line must be a header row."""
    from lime_cli.tabular.data import read_table_chunks

    path = write(tmp_path, "e.csv", content)
    with pytest.raises(InputError) as whole:
        read_table(path)
    with pytest.raises(InputError) as chunked:
        read_table_chunks(path)
    assert chunked.value.message == whole.value.message


@pytest.mark.parametrize("row", [0, 2, 25_000])
def test_read_table_chunks_refuses_a_row_with_a_field_too_many(tmp_path, row):
    from lime_cli.tabular.data import read_table_chunks

    lines = ["a,b"] + [f"{i},{i}" for i in range(30_000)]
    lines[row + 1] = "x," + lines[row + 1]
    path = write(tmp_path, "rows.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match="fields"):
        _, chunks = read_table_chunks(path)
        for _ in chunks:
            pass


def test_read_table_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_table(str(tmp_path / "nope.csv"))


# -- statistics -----------------------------------------------------------------------


def test_column_kinds_follow_dtypes_and_the_categorical_option(frame):
    stats = compute_stats(frame, target="label")
    kinds = {c.name: c.kind for c in stats.columns}
    assert kinds == {
        "age": "numeric",
        "income": "numeric",
        "housing": "categorical",
        "smoker": "categorical",
    }
    assert stats.column("age").dtype == "integer"
    assert stats.column("smoker").dtype == "bool"
    forced = compute_stats(frame, target="label", categorical=["age"])
    assert forced.column("age").kind == "categorical"
    assert forced.column("age").dtype == "integer"


def test_quartile_bins_are_lime_quartiles_of_the_non_missing_values(frame):
    stats = compute_stats(frame, target="label")
    income = stats.column("income")
    assert isinstance(income, NumericColumn)
    present = frame["income"].dropna().to_numpy()
    assert income.count == len(present) and income.missing == 10
    expected = np.unique(np.percentile(present, [25, 50, 75]))
    assert np.array_equal(income.bins.edges, expected)
    which = np.searchsorted(expected, present)
    assert list(income.bins.counts) == np.bincount(which, minlength=4).tolist()
    for b in range(4):
        chosen = present[which == b]
        assert income.bins.means[b] == pytest.approx(chosen.mean())
        assert income.bins.stds[b] == pytest.approx(chosen.std())
    assert income.mean == pytest.approx(present.mean())
    assert income.std == pytest.approx(present.std())


def test_decile_bins(frame):
    stats = compute_stats(frame, target="label", discretizer="decile")
    age = frame["age"].to_numpy()
    expected = np.unique(np.percentile(age, np.arange(10, 100, 10)))
    assert np.array_equal(stats.column("age").bins.edges, expected)


def test_entropy_bins_split_where_the_target_changes():
    x = np.arange(100, dtype=float)
    frame = pd.DataFrame({"x": x, "noise": np.zeros(100), "y": np.where(x < 37, "low", "high")})
    stats = compute_stats(frame, target="y", discretizer="entropy")
    edges = stats.column("x").bins.edges
    assert 36 < edges[0] < 37 and len(edges) == 1
    # A column that does not predict the target falls back to its median.
    assert stats.column("noise").bins.edges == (0.0,)


def test_entropy_needs_a_target(frame):
    with pytest.raises(UsageError, match="--target"):
        compute_stats(frame, discretizer="entropy")


def test_no_bins_without_discretisation(frame):
    stats = compute_stats(frame, target="label", discretizer="none")
    assert stats.column("income").bins is None and not stats.discretize


def test_categorical_frequencies_with_missing_as_its_own_count(frame):
    stats = compute_stats(frame, target="label")
    housing = stats.column("housing")
    assert isinstance(housing, CategoricalColumn)
    counts = frame["housing"].value_counts()
    assert dict(zip(housing.values, housing.counts)) == counts.to_dict()
    assert housing.missing == 5
    assert list(housing.counts) == sorted(housing.counts, reverse=True)


def test_unknown_columns_named_in_options_are_input_errors(frame):
    with pytest.raises(InputError, match="'wage'"):
        compute_stats(frame, target="wage")
    with pytest.raises(InputError, match="'colour'"):
        compute_stats(frame, categorical=["colour"])


def test_infinite_and_all_missing_training_columns_are_refused(frame):
    bad = frame.assign(income=np.inf)
    with pytest.raises(InputError, match="infinite"):
        compute_stats(bad, target="label")
    empty = frame.assign(income=np.nan)
    with pytest.raises(InputError, match="no values"):
        compute_stats(empty, target="label")
    # Finite but beyond squaring: the spread of 1e200 overflows to infinity.
    for huge in (1e200, -1e308):
        with pytest.raises(InputError, match="income.*value of .*e\\+?.*within"):
            compute_stats(frame.assign(income=frame.income.where(frame.index > 0, huge)))


def test_pandas_category_columns_keep_their_categories_in_order(frame):
    dtype = pd.CategoricalDtype(["own", "rent", "free", "castle"])
    typed = frame.assign(housing=frame["housing"].astype(dtype))
    housing = compute_stats(typed, target="label").column("housing")
    assert housing.dtype == "category"
    assert housing.values == ("own", "rent", "free", "castle")
    assert housing.counts[3] == 0 and housing.missing == 5


# -- saving and loading -------------------------------------------------------------


@pytest.mark.parametrize("discretizer", ["quartile", "decile", "none"])
def test_statistics_survive_json_exactly(tmp_path, frame, discretizer):
    stats = compute_stats(frame, target="label", discretizer=discretizer, source="train.csv")
    path = str(tmp_path / "stats.json")
    save_stats(path, stats)
    again = load_stats(path)
    assert again == stats
    assert json.loads(Path(path).read_text())["format"] == "lime-explain/tabular-stats"


def test_loading_something_else_is_an_input_error(tmp_path):
    for content, message in [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not usable"),
        ('{"format": "other"}', "not usable"),
        ('{"format": "lime-explain/tabular-stats", "version": 1}', "not usable"),
    ]:
        path = write(tmp_path, "s.json", content)
        with pytest.raises(InputError, match=message):
            load_stats(path)


def test_save_stats_is_whole_or_nothing(tmp_path, frame):
    stats = compute_stats(frame, target="label")
    with pytest.raises(InputError):
        save_stats(str(tmp_path / "missing-folder" / "s.json"), stats)
    assert not (tmp_path / "missing-folder").exists()
    assert list(tmp_path.iterdir()) == []


# -- converting rows -------------------------------------------------------------------


def test_rows_are_converted_to_training_types(tmp_path, frame):
    stats = compute_stats(frame.assign(code=frame["age"] % 3), target="label", categorical=["code"])
    path = write(
        tmp_path,
        "rows.csv",
        "age,income,housing,smoker,code\n30,1e4,rent,true,2\n,inf,castle,False,7\n",
    )
    rows = convert_rows(read_table(path, as_text=True), stats, [0, 1], "rows.csv")
    names = stats.names
    first = dict(zip(names, rows[0]))
    assert first == {"age": 30.0, "income": 1e4, "housing": "rent", "smoker": True, "code": 2}
    assert isinstance(first["code"], int) and first["smoker"] is True
    second = dict(zip(names, rows[1]))
    assert np.isnan(second["age"]) and second["income"] == np.inf
    assert second["housing"] == "castle" and second["smoker"] is False and second["code"] == 7.0


def test_unreadable_numbers_fail_their_row_only(tmp_path, frame):
    stats = compute_stats(frame, target="label")
    path = write(
        tmp_path, "rows.csv", "age,income,housing,smoker\n30,12,rent,True\nold,1,own,False\n"
    )
    rows = convert_rows(read_table(path, as_text=True), stats, [0, 1], "rows.csv")
    assert isinstance(rows[0], list)
    assert isinstance(rows[1], InputError)
    assert "row 1" in rows[1].message and "'old'" in rows[1].message
    assert "'age'" in rows[1].message


def test_stats_from_dict_rejects_inconsistent_bins(frame):
    data = compute_stats(frame, target="label").to_dict()
    data["columns"][0]["bins"]["counts"].append(1)
    with pytest.raises(ValueError, match="inconsistent"):
        TrainingStats.from_dict(data)
