"""Date and time columns: recognised in training data, binned by date, given back as text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lime_cli.cli import cli
from lime_cli.errors import InputError
from lime_cli.tabular.data import (
    NumericColumn,
    TrainingStats,
    compute_stats,
    convert_rows,
    load_stats,
    read_table,
    save_stats,
)
from lime_cli.tabular.domain import RowLayout, TabularDomain

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


def dated(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2020-01-01")
    days = start + pd.to_timedelta(rng.integers(0, 400, size=n), unit="D")
    times = start + pd.to_timedelta(rng.integers(0, 10**7, size=n), unit="s")
    return pd.DataFrame(
        {
            "signup_date": days.strftime("%Y-%m-%d"),
            "last_seen": times.strftime("%Y-%m-%dT%H:%M:%S"),
            "x": rng.normal(size=n),
        }
    )


def test_text_columns_of_dates_are_numeric_columns_of_dates():
    frame = dated()
    frame.loc[3, "signup_date"] = np.nan
    frame.loc[4, "signup_date"] = "soon"  # one in 200 unreadable: still dates, counted missing
    stats = compute_stats(frame)
    signup, seen = stats.column("signup_date"), stats.column("last_seen")
    assert isinstance(signup, NumericColumn) and signup.dtype == "datetime"
    assert signup.format == "%Y-%m-%d" and seen.format == "%Y-%m-%dT%H:%M:%S"
    assert signup.missing == 2 and signup.count == 198
    # Days since 1970-01-01 for a date, seconds for a time.
    first = pd.to_datetime(frame["signup_date"], format="%Y-%m-%d", errors="coerce").min()
    assert signup.min == (first - pd.Timestamp(0)).days
    assert seen.min >= pd.Timestamp("2020-01-01").timestamp()
    # Mostly not dates, or asked for as categories: categorical, as before.
    frame.loc[:9, "signup_date"] = "unknown"
    assert compute_stats(frame).column("signup_date").kind == "categorical"
    forced = compute_stats(dated(), categorical=["last_seen"]).column("last_seen")
    assert forced.kind == "categorical"


def test_date_statistics_survive_json(tmp_path):
    stats = compute_stats(dated(), source="train.csv")
    save_stats(str(tmp_path / "s.json"), stats)
    assert load_stats(str(tmp_path / "s.json")) == stats
    data = stats.to_dict()
    data["columns"][0]["format"] = "%d.%m.%Y"
    with pytest.raises(ValueError, match="known format"):
        TrainingStats.from_dict(data)


def test_dates_are_explained_by_date_bins_and_the_model_gets_their_text():
    frame = dated()
    stats = compute_stats(frame)
    edges = stats.column("signup_date").bins.edges
    domain = TabularDomain([float(edges[0]) - 3, 1.6e9, 0.0], stats)
    first_edge = (pd.Timestamp(0) + pd.Timedelta(days=int(np.floor(edges[0])))).date()
    assert domain.feature_names[0] == f"signup_date <= {first_edge}"
    assert domain.feature_info(0)["range"] == [None, str(first_edge)]
    assert domain.feature_info(0)["value"] == str(first_edge - pd.Timedelta(days=3))
    sample = domain.sample(400, np.random.default_rng(1))
    given = RowLayout(stats, list(frame.columns)).to_model_input(sample)
    texts = given["signup_date"].to_numpy(dtype=object)
    assert texts[0] == domain.feature_info(0)["value"]
    # The text read back is in the bin z says it is in: names and samples agree.
    days = (pd.to_datetime(texts, format="%Y-%m-%d") - pd.Timestamp(0)).days.to_numpy()
    in_first = days <= edges[0]
    assert (sample.z[:, 0] == in_first).all() and 0 < in_first.mean() < 1
    assert pd.to_datetime(given["last_seen"], format="%Y-%m-%dT%H:%M:%S").notna().all()
    # Array models get object arrays with the same text.
    arrays = RowLayout(stats).to_model_input(sample)
    assert (arrays[:, 0] == texts).all()


def test_rows_with_unreadable_dates_fail_alone(tmp_path):
    stats = compute_stats(dated())
    path = tmp_path / "rows.csv"
    path.write_text(
        "signup_date,last_seen,x\n2020-02-03,2020-02-03T04:05:06,1\nsomeday,2020-02-03T04:05:06,1\n"
    )
    rows = convert_rows(read_table(str(path), as_text=True), stats, [0, 1], "rows.csv")
    assert rows[0][0] == (pd.Timestamp("2020-02-03") - pd.Timestamp(0)).days
    assert isinstance(rows[1], InputError)
    assert rows[1].message == (
        "rows.csv row 1: cannot read 'someday' in column 'signup_date' as a date like 2020-05-06"
    )


def test_the_cli_explains_a_date_column_by_dates(tmp_path):
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = dated(300)
    frame["y"] = np.where(frame["signup_date"] > "2020-07-01", "late", "early")
    frame.to_csv(tmp_path / "train.csv", index=False)
    train = pd.read_csv(tmp_path / "train.csv")
    encode = ColumnTransformer([("d", OneHotEncoder(handle_unknown="ignore"), ["signup_date"])])
    model = make_pipeline(encode, LogisticRegression()).fit(train.drop(columns="y"), train["y"])
    joblib.dump(model, tmp_path / "m.joblib")
    frame.iloc[:3].drop(columns="y").to_csv(tmp_path / "rows.csv", index=False)
    args = ["tabular", "--model", str(tmp_path / "m.joblib"), "--target", "y",
            "--train", str(tmp_path / "train.csv"), str(tmp_path / "rows.csv"), "--row", "0",
            "--num-samples", "300", "--seed", "1", "--format", "json"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=CLEAN_ENV)
    assert result.exit_code == 0, result.stderr
    exp = json.loads(result.stdout)
    assert exp["input"]["values"]["signup_date"] == frame.loc[0, "signup_date"]
    [date] = [f for f in exp["explanations"][0]["features"] if f["column"] == "signup_date"]
    assert date["feature"].count("signup_date") == 1 and "-" in date["feature"]
    assert all(v is None or len(v) == 10 for v in date["range"])  # YYYY-MM-DD
