"""The two contracts the engine is written against: a Domain and a Model.

The engine (``lime_cli.engine.explain``) knows nothing else about an input or
a model. A modality implements :class:`Domain` for one input; a model adapter
(``lime_cli.models``) implements :class:`Model` for one model file, callable
or endpoint. Shapes use ``n`` for samples, ``d`` for interpretable features
and ``k`` for the model's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: What ``Model.input_spec.kind`` can be.
INPUT_KINDS = ("text", "table", "array", "tensor", "unknown")


@dataclass(frozen=True)
class InputSpec:
    """The input a model takes, as far as its file says.

    kind
        ``"text"``: a list of ``n`` strings. ``"table"``: a DataFrame with the
        columns ``names`` (in that order). ``"array"``: a 2-D numeric array of
        ``shape[1]`` columns by position. ``"tensor"``: a numeric tensor of
        ``shape`` (images: rank 4 NCHW/NHWC, or rank 2 flattened pixels)
        named ``names[0]``. ``"unknown"``: the file does not say.
    names
        Column names (``"table"``) or input tensor names (``"tensor"``).
    shape
        The batch's shape with ``None`` for open dimensions (the batch size,
        a dynamic height); ``None`` when unknown.
    dtype
        NumPy dtype name the model wants (``"float32"``), ``None`` if any.
    """

    kind: str = "unknown"
    names: tuple[str, ...] | None = None
    shape: tuple[int | None, ...] | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {self.kind!r}; expected one of {INPUT_KINDS}")

    @property
    def rank(self) -> int:
        """The number of dimensions of a batch (0 when unknown)."""
        return len(self.shape) if self.shape is not None else 0


@runtime_checkable
class Model(Protocol):
    """A model, adapted to what the engine needs.

    classes
        ``k`` output names, in the order of ``predict``'s columns: class names
        for a classifier (empty until the first ``predict`` when the file does
        not say), ``["value"]`` for a regressor.
    mode
        ``"classification"`` or ``"regression"``.
    input_spec
        What ``predict`` takes (see :class:`InputSpec`); commands check it
        against their modality before any sampling.
    """

    classes: list[str]
    mode: str

    @property
    def input_spec(self) -> InputSpec: ...

    def predict(self, batch: Any) -> np.ndarray:
        """Outputs for a batch of ``n`` model inputs: float array of shape (n, k).

        Classifiers return class probabilities (rows sum to 1; adapters turn
        logits and decision margins into probabilities and say so in
        ``describe``); regressors return (n, 1) values. Failures raise
        :class:`lime_cli.errors.ModelError`.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for the explanation's ``model`` object (path, format, mode...)."""
        ...


class Domain(Protocol):
    """The interpretable representation of one input (a modality's, e.g. ``lime_cli.text``).

    feature_names
        ``d`` human-readable names (words, ``"superpixel 12"``, ``"age <= 31.00"``).
    default_kernel_width
        lime's kernel width for this modality and input.
    """

    modality: str
    feature_names: list[str]
    default_kernel_width: float

    def sample(self, n: int, rng: np.random.Generator) -> Any:
        """``n`` perturbed samples: an (n, d) matrix (ndarray, or scipy CSR where d is
        large) of 0/1 (1 = the feature as in the input), row 0 all ones (the input
        itself); tabular domains without discretisation use real values."""
        ...

    def to_model_input(self, z: Any) -> Any:
        """The model's input for a block of sample rows (b, d): what ``Model.predict``
        takes for b inputs (strings, pixels, a DataFrame...)."""
        ...

    def distances(self, z: Any) -> np.ndarray:
        """Each sample's distance to the input, shape (n,), for the kernel."""
        ...

    def feature_info(self, j: int) -> dict[str, Any]:
        """JSON-ready facts about feature ``j`` (positions, bounding box, column)."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready ``input`` object: the name and everything a renderer needs
        to draw the explanation again without the model."""
        ...

    def preferred_batch_size(self, n: int) -> int:
        """Samples per model call that keep one batch of model input in bounded memory."""
        ...
