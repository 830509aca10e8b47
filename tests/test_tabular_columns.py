"""Which columns a tabular explanation explains, and what it says about them.

Small scikit-learn pipelines and CSV files are built in a temporary folder;
runs use few samples so the module stays fast.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from lime_cli.cli import cli

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
    from sklearn.preprocessing import StandardScaler

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
