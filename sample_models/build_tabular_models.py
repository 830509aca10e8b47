"""Train the sample tabular models: breast cancer (RandomForest) and penguins (Pipeline).

- ``breast_cancer_rf``: a seeded 100-tree RandomForest on scikit-learn's
  bundled Wisconsin breast cancer data (569 rows, 30 numeric columns), fitted
  on a plain array as lime's tutorials do, so it gets arrays in column order.
- ``penguins_lr``: a Pipeline fitted on a DataFrame of the Palmer penguins
  (PyPI ``palmerpenguins``, MIT; string columns and missing values): a
  ColumnTransformer imputes and one-hot encodes the string columns, imputes and
  scales the numeric ones, then a logistic regression predicts the species.

Both use fixed splits and seeds, so the models are the same on every machine
with the same library versions. scikit-learn pickles are version-bound, which
is why models are built at set-up (``make sample-models``) and not committed.
``--write-data`` also rewrites the CSV files in ``sample_data/tabular`` (the
training and test splits, target column included), which are committed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE.parent / "sample_data" / "tabular"
SEED = 0


def breast_cancer_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) frames with the 30 measurements and a ``diagnosis`` column.

    ``test_size=0.35`` leaves exactly 200 test rows, the benchmark's workload.
    """
    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    frame["diagnosis"] = np.asarray(data.target_names)[data.target.to_numpy()]
    train, test = train_test_split(
        frame, test_size=0.35, random_state=SEED, stratify=frame["diagnosis"]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def penguins_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) frames of the penguins, ``species`` included, missing values kept."""
    from palmerpenguins import load_penguins

    frame = load_penguins()
    train, test = train_test_split(
        frame, test_size=0.25, random_state=SEED, stratify=frame["species"]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def breast_cancer_model(train: pd.DataFrame) -> RandomForestClassifier:
    x = train.drop(columns=["diagnosis"]).to_numpy()
    forest = RandomForestClassifier(n_estimators=100, random_state=SEED)
    return forest.fit(x, train["diagnosis"].to_numpy())


def penguins_model(train: pd.DataFrame) -> Pipeline:
    x = train.drop(columns=["species"])
    text = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numbers = [c for c in x.columns if c not in text]
    encode = ColumnTransformer(
        [
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                text,
            ),
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000))
    return model.fit(x, train["species"])


def save(model: object, name: str, out_dir: Path) -> None:
    joblib.dump(model, out_dir / f"{name}.joblib", compress=3)
    import skops.io as sio

    sio.dump(model, out_dir / f"{name}.skops")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument(
        "--write-data", action="store_true", help=f"also write the CSV splits to {DATA_DIR}"
    )
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    bc_train, bc_test = breast_cancer_split()
    forest = breast_cancer_model(bc_train)
    bc_accuracy = forest.score(bc_test.drop(columns=["diagnosis"]).to_numpy(), bc_test["diagnosis"])
    save(forest, "breast_cancer_rf", args.out_dir)

    pg_train, pg_test = penguins_split()
    pipeline = penguins_model(pg_train)
    pg_accuracy = pipeline.score(pg_test.drop(columns=["species"]), pg_test["species"])
    save(pipeline, "penguins_lr", args.out_dir)

    if args.write_data:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        bc_train.to_csv(DATA_DIR / "breast_cancer_train.csv", index=False)
        bc_test.to_csv(DATA_DIR / "breast_cancer_test.csv", index=False)
        pg_train.to_csv(DATA_DIR / "penguins_train.csv", index=False)
        pg_test.to_csv(DATA_DIR / "penguins_test.csv", index=False)

    print(
        f"breast_cancer_rf: {len(bc_train)} training rows, test accuracy {bc_accuracy:.3f}; "
        f"penguins_lr: {len(pg_train)} training rows, test accuracy {pg_accuracy:.3f}; "
        f"built in {time.perf_counter() - t0:.1f} s -> {args.out_dir}"
    )


if __name__ == "__main__":
    main()
