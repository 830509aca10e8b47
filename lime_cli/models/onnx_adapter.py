"""An ONNX classifier as ``predict(batch) -> (n, k)`` probabilities, through onnxruntime.

The model file says what it takes: one input tensor (its name, rank, element
type and any fixed sizes are read from the file) and a rank-2 output of class
scores. Quirks stay here: a fixed batch size is honoured by splitting and
padding, inputs are cast to the model's element type, and logits go through a
softmax (``output='logits'``, or ``'auto'`` when the scores are not already
probabilities).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import ModelError, UsageError
from lime_cli.models.scores import softmax

#: onnxruntime element types lime-explain can feed, and their NumPy types.
INPUT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
}
OUTPUT_TYPES = ("tensor(float)", "tensor(double)", "tensor(float16)")
SUPPORTED_INPUT_RANKS = (2, 4)

#: The ``scores`` field of every adapter's ``describe()``: what the explained
#: numbers are. "probabilities": the model's own; "logits->softmax": raw scores
#: through a softmax; "decision_function->softmax"/"decision_function->logistic":
#: margins turned into pseudo-probabilities (scores, not probabilities);
#: "value": a regressor's output; "unknown": not decided yet (no prediction made).
SCORES = (
    "probabilities", "logits->softmax", "decision_function->softmax",
    "decision_function->logistic", "value", "unknown",
)  # fmt: skip

#: Scores count as probabilities when every row sums to 1 within this.
PROBABILITY_TOLERANCE = 1e-3


class OnnxScores:
    """What every ONNX adapter (images, text, tables) shares: the ``--output``
    choice, class names from the output width, running the session, and the
    softmax decision (``auto`` decides once, from the first answers)."""

    session: Any
    path: str
    output: str
    output_name: str
    classes: list[str]
    _softmax: bool | None

    def _init_scores(self, session: Any, path: str, output: str) -> None:
        if output not in ("auto", "logits", "probabilities"):
            raise UsageError("--output must be probabilities, logits or auto")
        self.session = session
        self.path = path
        self.output = output
        self._softmax = {"auto": None, "logits": True, "probabilities": False}[output]

    def _name_classes(self, class_names: list[str] | None, k: int | None) -> None:
        """``class_names`` (checked against the ``k`` outputs), or "0".."k-1"."""
        if class_names is not None and k is not None and len(class_names) != k:
            raise UsageError(
                f"{len(class_names)} class names were given, but the model has {k} outputs"
            )
        if class_names is not None:
            self.classes = list(class_names)
        else:
            self.classes = [str(i) for i in range(k)] if k is not None else []

    def _run_output(self, feeds: dict[str, Any]) -> Any:
        """The chosen output for ``feeds``; the runtime's errors as one-line model errors."""
        try:
            (raw,) = self.session.run([self.output_name], feeds)
        except Exception as exc:  # onnxruntime's own error classes
            raise ModelError(f"{self.path}: the model failed to run ({_first_line(exc)})") from exc
        return raw

    def _class_scores(self, raw: Any, n: int) -> np.ndarray:
        """A converted scikit-learn model's answer as (n, k) floats.

        skl2onnx's ZipMap output (a list of {class: probability}) names the
        classes and is already probabilities; a plain tensor is taken as it is.
        Needs ``zipmap`` and ``_named_classes`` set by the adapter.
        """
        if getattr(self, "zipmap", False):
            named = bool(getattr(self, "_named_classes", False))
            out, names = zipmap_scores(raw, self.classes if named else [])
            if not named:
                self.classes = names
            if self._softmax is None:
                self._softmax = False
        else:
            out = np.asarray(raw, dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != n:
            raise ModelError(
                f"{self.path}: unexpected output shape {out.shape} for a batch of {n}; "
                "expected (batch, classes)"
            )
        return out

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Scores (n, k) as probabilities: softmax of logits, as decided once."""
        if not self.classes:
            self.classes = [str(i) for i in range(scores.shape[1])]
        if self._softmax is None:
            self._softmax = not _looks_like_probabilities(scores)
        return softmax(scores) if self._softmax else scores


class OnnxModel(OnnxScores):
    """Adapter around an onnxruntime session for one classifier."""

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
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ModelError(
                f"{path}: the model takes {len(inputs)} inputs ({names}); "
                "lime-explain feeds exactly one tensor"
            )
        meta = inputs[0]
        self.input_name: str = meta.name
        self.input_shape: tuple[int | None, ...] = _dims(meta.shape)
        if meta.shape is None or len(self.input_shape) not in SUPPORTED_INPUT_RANKS:
            raise ModelError(
                f"{path}: unexpected input rank {len(self.input_shape)} "
                f"(shape {_shape_text(self.input_shape)}); expected rank 4 (a batch of images, "
                "NCHW or NHWC) or rank 2 (a batch of flattened pixels)"
            )
        if meta.type not in INPUT_TYPES:
            raise ModelError(f"{path}: unsupported input element type {meta.type}")
        self.input_dtype = INPUT_TYPES[meta.type]
        self.output_name, self.output_shape = _pick_output(session.get_outputs(), path)
        self.fixed_batch = self.input_shape[0]
        self._name_classes(class_names, self.output_shape[1])

    @classmethod
    def load(
        cls,
        path: str,
        *,
        class_names: list[str] | None = None,
        output: str = "auto",
        threads: int | None = None,
    ) -> OnnxModel:
        """Open ``path`` with onnxruntime on the CPU."""
        session = open_session(path, threads)
        return cls(session, path=path, class_names=class_names, output=output)

    @property
    def input_spec(self) -> InputSpec:
        """One numeric tensor: its name, shape (None where dynamic) and dtype."""
        return InputSpec(
            "tensor", (self.input_name,), self.input_shape, np.dtype(self.input_dtype).name
        )

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch, shape (n, k), float64."""
        x = np.asarray(batch)
        if x.dtype.kind not in "biuf":  # documents, or anything else that is not numbers
            raise ModelError(
                f"{self.path}: an ONNX model takes a tensor of numbers, not {_kind_of(x)}; "
                "lime-explain explains ONNX models with the image command"
            )
        if np.issubdtype(self.input_dtype, np.integer) and not np.issubdtype(x.dtype, np.integer):
            x = np.clip(np.rint(x), 0, 255)
        x = x.astype(self.input_dtype, copy=False)
        if len(x.shape) != len(self.input_shape):
            raise ModelError(
                f"{self.path}: got a batch of rank {x.ndim} for an input of rank "
                f"{len(self.input_shape)}"
            )
        return self._probabilities(self._run(x))

    def _run(self, x: np.ndarray) -> np.ndarray:
        fixed = self.fixed_batch
        if fixed is None or fixed == x.shape[0]:
            return self._run_once(x)
        parts = []
        for start in range(0, x.shape[0], fixed):
            chunk = x[start : start + fixed]
            missing = fixed - chunk.shape[0]
            if missing:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], missing, axis=0)])
            parts.append(self._run_once(chunk)[: fixed - missing])
        return np.concatenate(parts)

    def _run_once(self, x: np.ndarray) -> np.ndarray:
        out = np.asarray(self._run_output({self.input_name: x}), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise ModelError(
                f"{self.path}: unexpected output shape {out.shape} for a batch of {x.shape[0]}; "
                "expected (batch, classes)"
            )
        return out

    def describe(self) -> dict[str, Any]:
        softmax_used = self._softmax
        return {
            "path": self.path,
            "format": "onnx",
            "mode": self.mode,
            "classes": list(self.classes),
            "type": "onnx",
            "input": {
                "name": self.input_name,
                "shape": [d if d is not None else "dynamic" for d in self.input_shape],
                "dtype": np.dtype(self.input_dtype).name,
            },
            "output": {
                "name": self.output_name,
                "kind": self.output,
                "softmax": softmax_used,
            },
            "scores": scores_label(softmax_used),
        }


def scores_label(softmax_used: bool | None) -> str:
    """What the explained numbers are, for renderers: see ``SCORES``."""
    if softmax_used is None:
        return "unknown"
    return "logits->softmax" if softmax_used else "probabilities"


def open_session(path: str, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path``; a broken file is a model error (exit 4).

    onnxruntime's StringNormalizer (skl2onnx writes one for a lowercasing text
    vectoriser) needs the C++ locale its graph names, en_US.UTF-8 by default:
    on a machine without it, the one line says so and how to fix it.
    """
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - onnxruntime is a declared dependency
        raise ModelError("reading .onnx files needs the onnxruntime package") from None
    options = ort.SessionOptions()
    # Fatal only: onnxruntime's own log line (coloured, timestamped, on the process's
    # stderr) would come before the one line below for a file that does not load.
    options.log_severity_level = 4
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own classes for broken files
        message = str(exc)
        if "locale" in message and (
            "string_normalizer" in message or "StringNormalizer" in message
        ):
            wanted = re.search(r"locale with name:\s*([^:\s]+)", message)
            name = wanted.group(1) if wanted else "en_US.UTF-8"
            raise ModelError(
                f"{path}: onnxruntime's StringNormalizer needs the {name} locale, which this "
                f"machine lacks: install it (locale-gen {name}), or convert the pipeline with "
                "skl2onnx option {'locale': 'C.UTF-8'} for its text vectoriser"
            ) from None
        raise ModelError(f"{path}: not a readable ONNX model ({first_line(exc)})") from None


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters.

    Foreign errors can quote the whole input batch; an error line never does.
    """
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def pick_scores(outputs: list[Any], path: str) -> tuple[str, tuple[int | None, ...], bool]:
    """The output holding class scores: ``(name, shape, is_zipmap)``.

    The first floating-point output of rank 2, else a sequence of maps from
    class label to probability (skl2onnx's ZipMap, its default for classifiers).
    """
    for meta in outputs:
        shape = _dims(meta.shape) if meta.shape is not None else ()
        if meta.type in OUTPUT_TYPES and len(shape) == 2:
            return meta.name, shape, False
    for meta in outputs:
        if str(meta.type).startswith("seq(map("):
            return meta.name, (None, None), True
    name, shape = _pick_output(outputs, path)  # raises, listing the outputs
    return name, shape, False  # pragma: no cover


def zipmap_scores(raw: Any, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """A ZipMap output (one ``{label: probability}`` per row) as an (n, k) array.

    The labels of the first row fix the class order when ``classes`` is empty.
    """
    rows = list(raw)
    if not rows:
        return np.empty((0, len(classes))), classes
    labels = list(rows[0].keys())
    names = classes or [str(label) for label in labels]
    out = np.array([[row[label] for label in labels] for row in rows], dtype=np.float64)
    return out, names


def _kind_of(x: np.ndarray) -> str:
    return "text" if x.dtype.kind in "USO" else f"{x.dtype} values"


def _looks_like_probabilities(scores: np.ndarray) -> bool:
    if not np.isfinite(scores).all():
        return False
    if scores.min() < 0 or scores.max() > 1:
        return False
    return bool(np.allclose(scores.sum(axis=1), 1.0, atol=PROBABILITY_TOLERANCE))


def _pick_output(outputs: list[Any], path: str) -> tuple[str, tuple[int | None, ...]]:
    """The first floating-point output of rank 2 (class scores)."""
    seen = []
    for meta in outputs:
        shape = _dims(meta.shape) if meta.shape is not None else ()
        seen.append(f"{meta.name} {meta.type} {_shape_text(shape)}")
        if meta.type in OUTPUT_TYPES and len(shape) == 2:
            return meta.name, shape
    raise ModelError(
        f"{path}: no output of rank 2 (batch, classes) with floating-point scores; "
        f"outputs: {'; '.join(seen) or 'none'}"
    )


def _dims(shape: Any) -> tuple[int | None, ...]:
    if shape is None:
        return ()
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


_first_line = first_line
