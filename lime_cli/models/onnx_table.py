"""Tabular ONNX classifiers (scikit-learn pipelines converted with skl2onnx).

skl2onnx writes a table model in one of two ways, both read here:

* one float tensor of shape (batch, d): the CSV's columns in their order
  (``InputSpec("array")``);
* one input per column, each of shape (batch, 1), named after the column and
  typed float, double, int64 or string (mixed-type pipelines with a
  ColumnTransformer): the CSV's columns by name (``InputSpec("table")``).

The class scores are the first rank-2 float output, or skl2onnx's ZipMap
(a dict per row, whose keys name the classes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import ModelError, UsageError
from lime_cli.models.onnx_adapter import (
    OnnxScores,
    _dims,
    pick_scores,
    scores_label,
)

#: Column input element types and the NumPy type each column is cast to.
COLUMN_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": object,
}


def is_table_session(session: Any) -> bool:
    """Whether the session takes a table: columns by name, or one rank-2 numeric tensor."""
    inputs = session.get_inputs()
    if len(inputs) > 1:
        return all(i.type in COLUMN_TYPES and len(_dims(i.shape)) in (1, 2) for i in inputs)
    meta = inputs[0] if inputs else None
    return meta is not None and meta.type in COLUMN_TYPES and len(_dims(meta.shape)) == 2


class OnnxTableModel(OnnxScores):
    """Adapter around an onnxruntime session for a tabular classifier."""

    mode = "classification"

    def __init__(
        self,
        session: Any,
        *,
        path: str,
        class_names: list[str] | None = None,
        output: str = "auto",
    ) -> None:
        self._init_scores(session, path, output)
        inputs = session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.input_types = {i.name: COLUMN_TYPES.get(i.type) for i in inputs}
        self.input_ranks = {i.name: len(_dims(i.shape)) for i in inputs}
        bad = [f"{i.name} ({i.type})" for i in inputs if i.type not in COLUMN_TYPES]
        if bad:
            raise ModelError(f"{path}: unsupported input {bad[0]} for a table model")
        self.by_name = len(inputs) > 1
        if not self.by_name:
            width = _dims(inputs[0].shape)[1]
            self.width = width
            if inputs[0].type == "tensor(string)":
                raise ModelError(
                    f"{path}: the model takes one string input: a text model; "
                    "explain it with lime-explain text"
                )
        self.output_name, out_shape, self.zipmap = pick_scores(session.get_outputs(), path)
        k = out_shape[1]
        if k == 1:
            raise ModelError(
                f"{path}: the model has one output column (a regressor?); ONNX models are "
                "explained as classifiers"
            )
        if class_names is not None and k is not None and len(class_names) != k:
            raise UsageError(
                f"{len(class_names)} class names were given, but the model has {k} outputs"
            )
        self._named_classes = class_names is not None
        if class_names is not None:
            self.classes: list[str] = list(class_names)
        else:
            self.classes = [str(i) for i in range(k)] if k is not None else []

    @property
    def input_spec(self) -> InputSpec:
        """Columns by name (one input each), or one numeric tensor in CSV column order."""
        if self.by_name:
            return InputSpec("table", tuple(self.input_names), (None, len(self.input_names)))
        dtype = self.input_types[self.input_names[0]]
        return InputSpec("array", None, (None, self.width), np.dtype(dtype).name)

    def predict(self, batch: Any) -> np.ndarray:
        """Class probabilities for ``n`` rows, shape (n, k), float64."""
        feeds = self._feeds(batch)
        n = len(next(iter(feeds.values())))
        return self._probabilities(self._class_scores(self._run_output(feeds), n))

    def _feeds(self, batch: Any) -> dict[str, np.ndarray]:
        if not self.by_name:
            name = self.input_names[0]
            x = np.asarray(batch)
            if x.dtype.kind not in "biuf":
                raise ModelError(
                    f"{self.path}: the model takes one tensor of numbers; a column is not "
                    "numeric (convert the model with one input per column to mix types)"
                )
            return {name: x.astype(self.input_types[name], copy=False)}
        if not hasattr(batch, "columns"):
            raise ModelError(f"{self.path}: the model takes columns by name; got an array")
        feeds = {}
        for name in self.input_names:
            column = batch[name].to_numpy()
            dtype = self.input_types[name]
            if dtype is object:
                values = np.array([str(v) for v in column], dtype=object)
            else:
                try:
                    values = np.asarray(column, dtype=np.float64)
                except (TypeError, ValueError):
                    raise ModelError(
                        f"{self.path}: input {name} takes numbers; the column holds text"
                    ) from None
                if np.issubdtype(dtype, np.integer):
                    values = np.rint(values)
                values = values.astype(dtype)
            feeds[name] = values[:, None] if self.input_ranks[name] == 2 else values
        return feeds

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": "onnx",
            "mode": self.mode,
            "classes": list(self.classes),
            "type": "onnx-table",
            "input": {"names": list(self.input_names), "by_name": self.by_name},
            "output": {"name": self.output_name, "kind": self.output, "softmax": self._softmax},
            "scores": scores_label(self._softmax),
        }
