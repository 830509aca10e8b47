"""XGBoost and LightGBM native model files as ``predict(batch) -> (n, k)``.

XGBoost saves ``.json`` or ``.ubj`` (``Booster.save_model``); LightGBM saves a
text file starting ``tree`` (``Booster.save_model``). Both are read by their
own library (the optional extras ``lime-explain[xgboost]`` and
``lime-explain[lightgbm]``), which parses the file itself: no Python object is
unpickled. The objective stored in the file decides what ``predict`` means:

* XGBoost ``binary:logistic`` / ``multi:softprob``, LightGBM ``binary`` /
  ``multiclass``: class probabilities;
* XGBoost ``binary:logitraw`` / ``multi:softmax``: raw margins, turned into
  probabilities by a logistic or softmax (reported as scores);
* regression objectives: the predicted value, one column (``--mode
  regression`` is implied).

The files do not store class names: they are ``0..k-1`` unless
``--class-names`` names them. Feature names stored in an XGBoost file make the
model take columns by name (``InputSpec("table")``); otherwise, and always for
LightGBM (which rewrites names: spaces become underscores), it takes the CSV's
columns in order, as it was trained.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import ModelError, UsageError
from lime_cli.models.onnx_adapter import first_line
from lime_cli.models.sklearn_adapter import margins_to_probabilities

#: What each library's extra is called, for the error when it is missing.
EXTRAS = {"xgboost": "xgboost", "lightgbm": "lightgbm"}


def _library(fmt: str) -> Any:
    try:
        if fmt == "xgboost":
            import xgboost

            return xgboost
        import lightgbm

        return lightgbm
    except ImportError:
        raise ModelError(
            f"reading {fmt} model files needs the {fmt} package: "
            f"pip install 'lime-explain[{EXTRAS[fmt]}]'"
        ) from None


def load_booster(
    path: str, fmt: str, *, mode: str | None = None, class_names: list[str] | None = None
) -> BoosterModel:
    """Read an XGBoost or LightGBM native file with its own library."""
    lib = _library(fmt)
    try:
        if fmt == "xgboost":  # from bytes: XGBoost tells JSON from UBJSON itself, silently
            booster = lib.Booster()
            with open(path, "rb") as fh:
                booster.load_model(bytearray(fh.read()))
        else:
            booster = lib.Booster(model_file=path)
    except Exception as exc:  # the libraries raise their own error classes
        raise ModelError(f"{path}: not a readable {fmt} model ({first_line(exc)})") from None
    return BoosterModel(booster, path=path, fmt=fmt, mode=mode, class_names=class_names)


class BoosterModel:
    """Adapter around an ``xgboost.Booster`` or a ``lightgbm.Booster``."""

    def __init__(
        self,
        booster: Any,
        *,
        path: str,
        fmt: str,
        mode: str | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        self.booster = booster
        self.path = path
        self.format = fmt
        if fmt == "xgboost":
            self.objective, k, names, width = _xgboost_facts(booster)
        else:
            self.objective, k, names, width = _lightgbm_facts(booster)
        self.feature_names = names
        self.width = width
        regression = self.objective.startswith(("reg", "regression", "count", "survival"))
        regression = regression or self.objective in ("huber", "fair", "poisson", "quantile")
        regression = regression or self.objective.startswith(
            ("mape", "gamma", "tweedie", "rank", "lambdarank")
        )
        if mode == "classification" and regression:
            raise UsageError(f"{path}: the model's objective {self.objective} is a regression")
        if mode == "regression" and not regression:
            raise UsageError(f"{path}: the model's objective {self.objective} is a classifier")
        self.mode = "regression" if regression else "classification"
        if self.mode == "regression":
            classes = ["value"]
        else:
            classes = [str(i) for i in range(max(k, 2))]
        if class_names is not None:
            if self.mode == "regression" or len(class_names) != len(classes):
                raise UsageError(
                    f"--class-names gives {len(class_names)} names but the model has "
                    f"{len(classes)} classes"
                )
            classes = list(class_names)
        self.classes: list[str] = classes
        self.margins = self.objective in ("binary:logitraw", "multi:softmax")

    @property
    def input_spec(self) -> InputSpec:
        """Columns by name when the file names them, else by position."""
        if self.feature_names:
            names = tuple(self.feature_names)
            return InputSpec("table", names, (None, len(names)))
        return InputSpec("array", None, (None, self.width))

    def predict(self, batch: Any) -> np.ndarray:
        """Probabilities (n, k), or a regressor's (n, 1) values, float64."""
        x = batch[list(self.feature_names)] if self.feature_names else batch
        try:
            values = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise ModelError(
                f"{self.path}: the model takes numbers; a column holds text "
                "(encode categories as numbers before training, or explain a scikit-learn "
                "pipeline that encodes them)"
            ) from None
        try:
            if self.format == "xgboost":
                import xgboost

                data = xgboost.DMatrix(values, feature_names=self.feature_names)
                raw = self.booster.predict(data, output_margin=self.margins)
            else:
                raw = self.booster.predict(values)
            out = np.asarray(raw, dtype=np.float64)
        except Exception as exc:  # foreign code: any failure is the model's
            raise ModelError(
                f"{self.path}: the model failed to predict ({first_line(exc)})"
            ) from exc
        if self.mode == "regression":
            return out.reshape(-1, 1)
        if self.margins:
            return margins_to_probabilities(out)
        if out.ndim == 1:  # binary: the probability of class 1
            return np.column_stack([1.0 - out, out])
        return out

    @property
    def scores(self) -> str:
        """What the explained numbers are (see ``onnx_adapter.SCORES``)."""
        if self.mode == "regression":
            return "value"
        if self.margins:
            return (
                "decision_function->logistic"
                if len(self.classes) == 2
                else "decision_function->softmax"
            )
        return "probabilities"

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "mode": self.mode,
            "classes": list(self.classes),
            "type": f"{self.format}.Booster",
            "objective": self.objective,
            "output": "margin" if self.margins else "predict",
            "scores": self.scores,
        }


def _xgboost_facts(booster: Any) -> tuple[str, int, list[str] | None, int]:
    """(objective, classes, feature names, number of features) of an XGBoost booster."""
    import json

    config = json.loads(booster.save_config())
    learner = config.get("learner", {})
    objective = str(learner.get("objective", {}).get("name", "reg:squarederror"))
    k = int(learner.get("learner_model_param", {}).get("num_class", "0") or 0)
    names = booster.feature_names
    return objective, k, list(names) if names else None, int(booster.num_features())


def _lightgbm_facts(booster: Any) -> tuple[str, int, list[str] | None, int]:
    """(objective, classes, feature names, number of features) of a LightGBM booster."""
    objective = "regression"
    k = 1
    for line in booster.model_to_string(num_iteration=-1).splitlines()[:40]:
        if line.startswith("objective="):
            objective = line.split("=", 1)[1].split()[0]
        elif line.startswith("num_class="):
            k = int(line.split("=", 1)[1])
    # LightGBM rewrites names (spaces become underscores), so they cannot name
    # the CSV's columns: the model takes the columns in order, as trained.
    return objective, k, None, int(booster.num_feature())
