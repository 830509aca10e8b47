"""Which columns a tabular explanation explains, and what it says about them.

Small scikit-learn pipelines and CSV files are built in a temporary folder;
runs use few samples so the module stays fast.
"""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from lime_cli.cli import cli
from lime_cli.tabular.data import TrainingStats, compute_stats
from lime_cli.tabular.domain import ColumnPlan, RowLayout, TabularDomain

FAST = ["--num-samples", "500", "--seed", "3"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


def run(*args: str):
    return CliRunner().invoke(cli, ["tabular", *args], env=CLEAN_ENV)


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def customers(n: int, seed: int) -> pd.DataFrame:
    """income numeric, island text; y depends on both."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, size=n)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], size=n)
    score = (income - 50) / 10 + np.where(island == "Dream", 1.5, 0.0)
    return pd.DataFrame(
        {
            "income": income,
            "island": island,
            "y": np.where(score + 0.3 * rng.normal(size=n) > 0.5, "yes", "no"),
        }
    )


def save_csv(folder, name: str, frame: pd.DataFrame) -> str:
    path = str(folder / name)
    frame.to_csv(path, index=False)
    return path


def shop_table(n: int, seed: int) -> pd.DataFrame:
    """The issue's table: id, signup date, zip code, income, island; y from the last two."""
    rng = np.random.default_rng(seed)
    frame = customers(n, seed)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 400, size=n), unit="D")
    return pd.DataFrame(
        {
            "customer_id": 100_000 + seed * 10_000 + rng.permutation(n),
            "signup_date": days.strftime("%Y-%m-%d"),
            "income": frame["income"],
            "island": frame["island"],
            "zip": rng.integers(10_000, 10_400, size=n).astype(str),
            "y": frame["y"],
        }
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("shop")
    paths = {"folder": str(folder), "train": save_csv(folder, "train.csv", shop_table(300, 0))}
    train = pd.read_csv(paths["train"])  # as its user would read it: zip codes are numbers
    x = train.drop(columns=["y"])
    rows = shop_table(6, 1).drop(columns=["y"])
    rows.loc[1, "island"] = "Atlantis"
    paths["rows"] = save_csv(folder, "rows.csv", rows)

    def save(name: str, first: object) -> None:
        paths[name] = str(folder / f"{name}.joblib")
        joblib.dump(make_pipeline(first, LogisticRegression()).fit(x, train["y"]), paths[name])

    # Drops customer_id by name; signup_date and zip are left to remainder='drop'.
    save("drops", ColumnTransformer(
        [("ids", "drop", ["customer_id"]),
         ("cat", OneHotEncoder(handle_unknown="ignore"), ["island"]),
         ("num", "passthrough", ["income"])],
        remainder="drop",
    ))  # fmt: skip
    # Uses every column (the dates and zip codes as categories).
    save("all", ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["island", "zip", "signup_date"])],
        remainder=StandardScaler(),
    ))  # fmt: skip
    return paths


def shop_run(shop, model: str, *args: str):
    return run("--model", shop[model], "--train", shop["train"], "--target", "y", shop["rows"],
               *FAST, *args)  # fmt: skip


def json_of(result) -> list[dict]:
    return [json.loads(line) for line in ok(result).splitlines()]


# -- error lines -----------------------------------------------------------------------


def test_a_row_error_names_the_input_once(tmp_path, monkeypatch):
    train = customers(200, 0)
    save_csv(tmp_path, "train.csv", train)
    model = make_pipeline(
        ColumnTransformer(
            [("i", OneHotEncoder(handle_unknown="ignore"), ["island"])], remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(train[["income", "island"]], train["y"])
    joblib.dump(model, tmp_path / "m.joblib")
    (tmp_path / "bad.csv").write_text("income,island\nforty,Dream\n")
    monkeypatch.chdir(tmp_path)
    result = run("--model", "m.joblib", "--train", "train.csv", "--target", "y", "bad.csv")
    assert result.exit_code == 3
    assert result.stderr == (
        "lime-explain: input error: bad.csv row 0: "
        "cannot read 'forty' in column 'income' as a number\n"
    )


# -- which columns a model uses ----------------------------------------------------------


def test_the_columns_a_fitted_model_ignores_are_found():
    from sklearn.pipeline import FeatureUnion

    from lime_cli.models.sklearn_adapter import unused_input_columns

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "b": rng.normal(size=40),
            "customer_id": np.arange(40),
            "island": rng.choice(["x", "y"], size=40),
            "zip": rng.choice(["1", "2"], size=40),
        }
    )
    y = rng.random(40) < 0.5
    columns = list(frame.columns)
    rest = ["customer_id", "island", "zip"]

    def fitted(first):
        return make_pipeline(first, LogisticRegression()).fit(frame, y)

    only_ab = ColumnTransformer([("n", StandardScaler(), ["a", "b"])], remainder="drop")
    assert sorted(unused_input_columns(fitted(only_ab), columns)) == rest
    drops = ColumnTransformer(
        [("ids", "drop", ["customer_id"]), ("cat", OneHotEncoder(), ["island"])],
        remainder="passthrough",
    )
    frame["zip"] = frame["zip"].astype(int)  # passthrough columns must be numbers
    unused = unused_input_columns(fitted(drops), columns)
    assert list(unused) == ["customer_id"] and "'ids' is 'drop'" in unused["customer_id"]
    frame["zip"] = frame["zip"].astype(str)
    # By position, through a nested Pipeline whose ColumnTransformer drops b again.
    inner = make_pipeline(ColumnTransformer([("a", "passthrough", ["a"])]), StandardScaler())
    nested = ColumnTransformer([("ab", inner, [0, 1]), ("i", OneHotEncoder(), slice(3, 4))])
    assert sorted(unused_input_columns(fitted(nested), columns)) == ["b", "customer_id", "zip"]
    # A FeatureUnion uses what any branch uses.
    union = FeatureUnion(
        [
            ("a", ColumnTransformer([("a", "passthrough", ["a"])])),
            ("b", ColumnTransformer([("b", "passthrough", ["b"])])),
        ]  # fmt: skip
    )
    assert sorted(unused_input_columns(fitted(union), columns)) == rest
    # Columns the model was not fitted on at all.
    plain = LogisticRegression().fit(frame[["a", "b"]], y)
    unused = unused_input_columns(plain, columns)
    assert sorted(unused) == rest
    assert "feature_names_in_" in unused["zip"]
    # A model that uses everything, and one we cannot read, ignore nothing.
    every = ColumnTransformer([("n", "passthrough", ["a", "b", "customer_id"])],
                              remainder=OneHotEncoder())  # fmt: skip
    assert unused_input_columns(fitted(every), columns) == {}
    assert unused_input_columns(object(), columns) == {}


# -- columns held at the row's value ---------------------------------------------------------


def test_columns_the_model_drops_are_held_and_listed_not_explained(shop):
    [exp] = json_of(shop_run(shop, "drops", "--row", "0", "--format", "json"))
    features = exp["explanations"][0]["features"]
    assert {f["column"] for f in features} == {"income", "island"}
    assert exp["input"]["num_features"] == 2
    ignored = {c["column"]: c["reason"] for c in exp["input"]["ignored_columns"]}
    assert list(ignored) == ["customer_id", "signup_date", "zip"]
    assert ignored["customer_id"] == "dropped by the model's ColumnTransformer: 'ids' is 'drop'"
    assert ignored["zip"] == "dropped by the model's ColumnTransformer: remainder='drop'"
    [warning] = [w for w in exp["warnings"] if "not explained" in w]
    assert warning.startswith(
        "held at the row's value and not explained, as the model does not use them: "
        "'customer_id' (dropped by the model's ColumnTransformer: 'ids' is 'drop'), "
    )
    terminal = ok(shop_run(shop, "drops", "--row", "0"))
    assert "warning: held at the row's value" in terminal
    assert "customer_id" not in terminal.split("warning:")[0]  # no feature for it


def test_held_columns_keep_the_rows_value_in_every_sample():
    frame = shop_table(200, 0).drop(columns=["y", "signup_date"])
    stats = compute_stats(frame)
    values = [frame[c].iloc[3] for c in stats.names]
    values[0] = float(values[0])
    columns = ColumnPlan(stats, ignore=["customer_id"], freeze=["island"])
    domain = TabularDomain(values, stats, columns=columns)
    assert columns.describe() == [
        {"column": "customer_id", "reason": "--ignore-columns"},
        {"column": "island", "reason": "--freeze-columns"},
    ]
    sample = domain.sample(300, np.random.default_rng(0))
    assert sample.shape == (300, 2) and len(domain.feature_names) == 2
    assert not any(n.startswith(("customer_id", "island")) for n in domain.feature_names)
    given = RowLayout(stats).to_model_input(sample)
    assert (given[:, 0] == values[0]).all() and (given[:, 2] == values[2]).all()
    assert len(set(given[:, 1])) > 50  # the others still vary
    assert domain.default_kernel_width == pytest.approx(0.75 * np.sqrt(2))


def test_ignore_and_freeze_columns_hold_columns_the_model_uses(shop):
    [exp] = json_of(shop_run(shop, "all", "--row", "0", "--format", "json",
                             "--ignore-columns", "customer_id,zip",
                             "--freeze-columns", "signup_date"))  # fmt: skip
    assert {f["column"] for f in exp["explanations"][0]["features"]} == {"income", "island"}
    assert exp["input"]["ignored_columns"] == [
        {"column": "customer_id", "reason": "--ignore-columns"},
        {"column": "signup_date", "reason": "--freeze-columns"},
        {"column": "zip", "reason": "--ignore-columns"},
    ]
    assert not any("not explained" in w for w in exp["warnings"])  # asked for: no warning
    [exp] = json_of(shop_run(shop, "all", "--row", "0", "--format", "json"))
    assert exp["input"]["ignored_columns"] == []
    assert exp["input"]["num_features"] == 5


def test_a_forgotten_target_is_held_with_a_hint(shop, tmp_path):
    rows = pd.read_csv(shop["rows"]).assign(y="no")
    path = save_csv(tmp_path, "rows_y.csv", rows)
    result = run("--model", shop["drops"], "--train", shop["train"], path, "--row", "0",
                 "--format", "json", *FAST)  # fmt: skip
    [exp] = json_of(result)
    ignored = {c["column"]: c["reason"] for c in exp["input"]["ignored_columns"]}
    assert "name it with --target" in ignored["y"]
    assert any("'y' (not among the model's input columns" in w for w in exp["warnings"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--ignore-columns", "customer"], 3,
         "--ignore-columns names 'customer', which "),
        (["--freeze-columns", "income,"], 2,
         "--freeze-columns must be a comma-separated list of column names"),
        (["--freeze-columns", "income,island"], 3,
         "every column is held at the row's value ('customer_id', 'signup_date', 'income', "),
        (["--freeze-columns", "y"], 2, "--freeze-columns names 'y', the --target column"),
        (["--ignore-columns", "island", "--freeze-columns", "island"], 2,
         "--ignore-columns and --freeze-columns both name 'island'"),
    ],
)  # fmt: skip
def test_column_options_refuse_bad_names(shop, args, code, message):
    result = shop_run(shop, "drops", "--rows", "0:3", *args)  # one line, not one per row
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


# -- values training never had ---------------------------------------------------------------


def test_a_category_unseen_in_training_is_warned_about(shop):
    first, second = json_of(shop_run(shop, "drops", "--rows", "0:2", "--format", "json"))
    assert not any("not seen in training" in w for w in first["warnings"])
    [warning] = [w for w in second["warnings"] if "not seen in training" in w]
    assert warning.startswith(
        "the value 'Atlantis' of column 'island' was not seen in training: no sample shares it, "
        "so the weight of 'island = Atlantis' only measures how far"
    )
    terminal = ok(shop_run(shop, "drops", "--row", "1"))
    assert "warning: the value 'Atlantis' of column 'island' was not seen" in terminal
    # A held column's unseen value is the user's choice: no warning.
    [held] = json_of(shop_run(shop, "drops", "--row", "1", "--format", "json",
                              "--freeze-columns", "island"))  # fmt: skip
    assert not any("not seen in training" in w for w in held["warnings"])


# -- rare categories and saved statistics ---------------------------------------------------


def zips(n: int = 1000) -> pd.DataFrame:
    """120 zip codes, zip i about twice as frequent as zip i + 20."""
    rng = np.random.default_rng(4)
    p = 0.5 ** (np.arange(120) / 20)
    codes = rng.choice([f"Z{i:03d}" for i in range(120)], size=n, p=p / p.sum())
    return pd.DataFrame({"zip": codes, "x": rng.normal(size=n)})


def test_rare_categories_are_pooled_and_drawn_at_their_combined_frequency():
    frame = zips()
    stats = compute_stats(frame)
    column = stats.column("zip")
    counts = frame["zip"].value_counts()
    assert len(column.values) == 50 and column.distinct == counts.size
    assert list(column.counts) == counts.iloc[:50].tolist()  # the 50 most frequent
    assert column.other_values == counts.size - 50
    assert column.other_count == counts.iloc[50:].sum()
    # Given to the model as the most frequent pooled value.
    assert column.other_value not in column.values and counts[column.other_value] == counts.iloc[50]
    rare = counts.index[-1]
    domain = TabularDomain([rare, 0.0], stats)
    assert domain.feature_names[0] == f"zip = {rare} (rare)"
    assert not any("not seen" in w for w in domain.warnings)  # pooled, not unseen
    sample = domain.sample(20_001, np.random.default_rng(0))
    drawn = RowLayout(stats).to_model_input(sample)[1:, 0]
    other = drawn == column.other_value
    assert set(drawn) <= set(column.values) | {column.other_value}
    share = column.other_count / len(frame)
    assert abs(other.mean() - share) < 4 * np.sqrt(share * (1 - share) / 20_000)
    assert (sample.z[1:, 0] == other).all()  # the row shares the level of every rare value


def test_statistics_files_say_what_was_pooled_and_old_files_still_load(tmp_path):
    from lime_cli.tabular.data import load_stats, save_stats

    stats = compute_stats(zips())
    path = tmp_path / "s.json"
    save_stats(str(path), stats)
    data = json.loads(path.read_text())
    assert data["version"] == 2
    [saved] = [c for c in data["columns"] if c["name"] == "zip"]
    assert len(saved["values"]) == 50
    zip_column = stats.column("zip")
    assert saved["other"] == {"values": zip_column.other_values, "count": zip_column.other_count,
                              "as": zip_column.other_value}  # fmt: skip
    assert zip_column.other_values > 50
    assert load_stats(str(path)) == stats
    # A file written before pooling existed (version 1) is read as it was.
    old = {"format": "lime-explain/tabular-stats", "version": 1, "source": "t.csv", "rows": 3,
           "target": None, "discretizer": "quartile",
           "columns": [{"name": "c", "kind": "categorical", "dtype": "string",
                        "values": ["a", "b"], "counts": [2, 1], "missing": 0}]}  # fmt: skip
    path.write_text(json.dumps(old))
    column = load_stats(str(path)).column("c")
    assert column.values == ("a", "b") and column.other_values == 0
    with pytest.raises(ValueError, match="reads versions 1, 2"):
        TrainingStats.from_dict({**old, "version": 3})


def test_save_stats_reports_pooled_columns_and_explains_as_the_csv_does(shop, tmp_path):
    stats = tmp_path / "s.json"
    args = ["--categorical", "zip", "--rows", "0:3", "--format", "json"]
    result = shop_run(shop, "all", *args, "--save-stats", str(stats))
    distinct = pd.read_csv(shop["train"])["zip"].nunique()
    assert result.stderr == (
        f"lime-explain: {stats}: pooled the rare values of 1 column into one 'other' level "
        f"each (kept the 50 most frequent): 'zip' ({distinct - 50} of {distinct} values)\n"
    )
    [zip_stats] = [c for c in json.loads(stats.read_text())["columns"] if c["name"] == "zip"]
    assert len(zip_stats["values"]) == 50 and zip_stats["other"]["values"] == distinct - 50
    again = run("--model", shop["all"], "--train", str(stats), shop["rows"], *FAST, *args)
    assert ok(again) == ok(result)


# -- identifiers and columns of many values ---------------------------------------------------


def test_identifier_like_columns_are_recognised():
    rng = np.random.default_rng(2)
    ids = rng.permutation(100) + 5000.0
    ids[7] = np.nan  # read as floats, still whole numbers
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "name": [f"person {i}" for i in range(100)],
            "income": rng.normal(size=100),  # all different, but not whole numbers
            "visits": rng.integers(0, 30, size=100),  # whole numbers that repeat
        }
    )
    stats = compute_stats(frame)
    assert [c.identifier for c in stats.columns] == [True, True, False, False]
    assert not any(c.identifier for c in compute_stats(frame.iloc[:10]).columns)  # too few rows
    assert TrainingStats.from_dict(stats.to_dict()) == stats
    warnings = ColumnPlan(stats).warnings
    assert warnings[0] == (
        "column 'customer_id' has a different value in every training row, like an identifier: "
        "conditions on it say little about the model (hold it with --ignore-columns customer_id)"
    )
    assert len(warnings) == 2 and warnings[1].startswith("column 'name' has a different value")
    assert ColumnPlan(stats, ignore=["customer_id", "name"]).warnings == []


def test_identifiers_and_many_valued_columns_the_model_uses_are_warned_about(shop):
    [exp] = json_of(shop_run(shop, "all", "--row", "0", "--format", "json",
                             "--categorical", "zip"))  # fmt: skip
    distinct = pd.read_csv(shop["train"])["zip"].nunique()
    assert [w.split(" has ")[0] for w in exp["warnings"]] == ["column 'customer_id'",
                                                              "column 'zip'"]  # fmt: skip
    assert exp["warnings"][1] == (
        f"column 'zip' has {distinct} distinct values: the 50 most frequent are sampled as they "
        f"are and the other {distinct - 50} as one rare level, so its weight is seldom "
        "meaningful (if it identifies rows rather than describes them, hold it with "
        "--ignore-columns zip)"
    )
    # Held, or dropped by the model: nothing to warn about.
    [exp] = json_of(shop_run(shop, "all", "--row", "0", "--format", "json",
                             "--ignore-columns", "customer_id,zip"))  # fmt: skip
    assert exp["warnings"] == []
    [exp] = json_of(shop_run(shop, "drops", "--row", "0", "--format", "json"))
    assert not any("identifier" in w for w in exp["warnings"])


# -- held columns in saved statistics ----------------------------------------------------------


def test_save_stats_keeps_no_values_of_held_columns(shop, tmp_path):
    stats = tmp_path / "s.json"
    args = ["--rows", "0:3", "--format", "json", "--freeze-columns", "income"]
    result = shop_run(shop, "drops", *args, "--save-stats", str(stats))
    assert result.stderr == (
        f"lime-explain: {stats}: kept only the name and type of 3 held columns "
        "(--ignore-columns, or not used by the model): 'customer_id', 'signup_date', 'zip'\n"
    )
    text = stats.read_text()
    columns = {c["name"]: c for c in json.loads(text)["columns"]}
    assert columns["customer_id"] == {"name": "customer_id", "kind": "held", "dtype": "integer"}
    assert columns["signup_date"] == {"name": "signup_date", "kind": "held", "dtype": "string"}
    assert columns["income"]["kind"] == "numeric"  # frozen for this run only: kept
    train = pd.read_csv(shop["train"])
    assert train["signup_date"][0] not in text and f"{train['zip'][0]}," not in text
    # The saved statistics explain as the CSV did.
    again = run("--model", shop["drops"], "--train", str(stats), shop["rows"], *FAST, *args)
    assert ok(again) == result.stdout
    # Columns named by --ignore-columns are held in the file too.
    result = shop_run(shop, "all", "--row", "0", "--ignore-columns", "customer_id",
                      "--save-stats", str(stats), "--quiet")  # fmt: skip
    assert ok(result) == "" and "1 held column " in result.stderr
    held = [c["name"] for c in json.loads(stats.read_text())["columns"] if c["kind"] == "held"]
    assert held == ["customer_id"]


def test_columns_saved_without_values_are_held_for_any_model(shop, tmp_path):
    stats = tmp_path / "s.json"
    ok(shop_run(shop, "drops", "--row", "0", "--save-stats", str(stats), "--quiet"))
    # A model that uses them gets the row's own values, in their training types.
    result = run("--model", shop["all"], "--train", str(stats), shop["rows"], "--row", "0",
                 "--format", "json", *FAST)  # fmt: skip
    [exp] = json_of(result)
    assert {f["column"] for f in exp["explanations"][0]["features"]} == {"income", "island"}
    reasons = {c["column"]: c["reason"] for c in exp["input"]["ignored_columns"]}
    assert reasons["zip"].startswith("the statistics hold no values of it")
    row = pd.read_csv(shop["rows"]).iloc[0]
    assert exp["input"]["values"]["customer_id"] == row["customer_id"]
    assert exp["input"]["values"]["signup_date"] == row["signup_date"]
    from lime_cli.tabular.data import CategoryLookup, TrainingStats, compute_stats

    held = compute_stats(pd.read_csv(shop["train"])).holding({"customer_id", "signup_date"})
    assert TrainingStats.from_dict(held.to_dict()) == held
    assert CategoryLookup(held.column("customer_id")).match("100017") == 100017
    assert CategoryLookup(held.column("signup_date")).match("2020-01-03") == "2020-01-03"
