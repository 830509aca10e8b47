"""Save the sample models as MLflow pyfunc models, for `mlflow models serve` (run by
`make servers` with the MLflow virtual environment's Python).

Writes ``sample_models/served/mlflow/{breast-cancer,bbc-text}``: the scikit-learn
flavour with ``predict_proba`` as the pyfunc's predict, so the scoring server
answers class probabilities (one row per input, classes in ``classes_`` order).
The pickles are those of ``make sample-models``: the server's environment pins
the same scikit-learn version (see the Makefile).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import joblib
import mlflow.sklearn

HERE = Path(__file__).resolve().parent
OUT = HERE / "served" / "mlflow"
MODELS = {"breast-cancer": "breast_cancer_rf.joblib", "bbc-text": "bbc_rf.joblib"}


def main() -> int:
    for name, file in MODELS.items():
        target = OUT / name
        if target.exists():
            shutil.rmtree(target)
        estimator = joblib.load(HERE / file)
        mlflow.sklearn.save_model(
            estimator,
            str(target),
            serialization_format="pickle",
            pyfunc_predict_fn="predict_proba",
        )
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
