"""Train the gradient-boosting samples on the breast cancer CSVs in ``sample_data/tabular``.

- ``breast_cancer_xgb.json``: XGBoost (``binary:logistic``, 100 trees of
  depth 3), saved with ``Booster.save_model``; it stores the column names, so
  lime-explain gives it the CSV's columns by name.
- ``breast_cancer_lgbm.txt``: LightGBM (100 trees, 15 leaves), its text model
  file; LightGBM rewrites column names, so it takes the columns in order.

Native model files are read by the libraries themselves (no pickle) and
their formats stay readable across versions, so they are committed (about
200 KB together). Seeded and single-threaded: rebuilding gives the same
models. Run ``python sample_models/build_booster_models.py`` (dev extras).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "sample_data" / "tabular"
TARGET = "diagnosis"


def main() -> None:
    import lightgbm as lgb
    import xgboost as xgb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    train = pd.read_csv(DATA / "breast_cancer_train.csv")
    test = pd.read_csv(DATA / "breast_cancer_test.csv")
    x, y = train.drop(columns=[TARGET]), train[TARGET]
    xt, yt = test.drop(columns=[TARGET]), test[TARGET]
    labels = sorted(y.unique())
    y_codes, yt_codes = (y.map(labels.index), yt.map(labels.index))
    xclf = xgb.XGBClassifier(
        n_estimators=100, max_depth=3, learning_rate=0.1, random_state=0, n_jobs=1
    ).fit(x, y_codes)
    lclf = lgb.LGBMClassifier(
        n_estimators=100, num_leaves=15, random_state=0, n_jobs=1, deterministic=True,
        verbose=-1,
    ).fit(x.to_numpy(), y_codes)  # fmt: skip
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    for name, save in (
        ("breast_cancer_xgb.json", xclf.get_booster().save_model),
        ("breast_cancer_lgbm.txt", lclf.booster_.save_model),
    ):
        tmp = out / f".{name}.tmp{Path(name).suffix}"
        save(str(tmp))
        os.replace(tmp, out / name)
    for name, clf, data in (("xgb", xclf, xt), ("lgbm", lclf, xt.to_numpy())):
        accuracy = float(np.mean(clf.predict(data) == yt_codes.to_numpy()))
        print(f"breast_cancer_{name}: test accuracy {accuracy:.3f} (classes {labels})")


if __name__ == "__main__":
    main()
