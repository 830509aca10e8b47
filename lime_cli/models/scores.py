"""Turning a model's raw scores into probabilities, shared by the model adapters."""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits; NaN rows stay NaN.

    Infinite logits give NaN too, quietly: the engine refuses NaN with one
    clear line, which NumPy's warning on stderr would only muddle.
    """
    with np.errstate(invalid="ignore"):
        shifted = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)
