"""A document whose perturbed copies reach the model spliced, not as strings.

:func:`for_model` wraps a :class:`~lime_cli.text.domain.TextDomain` when the
model can assemble its input for the copies without tokenising them: token
ids for ONNX token models
(:meth:`lime_cli.models.onnx_text.OnnxTextModel.token_splice`), word counts
for scikit-learn pipelines that start with a count or tf-idf vectorizer
(:meth:`lime_cli.models.sklearn_adapter.SklearnModel.token_splice`);
everything but the model input (the samples, distances, features, the
explanation's ``input``) is the text domain's own, so explanations are the
same as with perturbed strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lime_cli.models.count_splice import CountedBatch, CountSplice
from lime_cli.models.token_splice import SplicedBatch, TokenSplice
from lime_cli.text.domain import TextDomain


class SplicedTextDomain:
    """A :class:`TextDomain` whose ``to_model_input`` is the splice's batch
    (:class:`SplicedBatch` of token ids, or :class:`CountedBatch` of word counts)."""

    modality = "text"

    def __init__(self, domain: TextDomain, splice: TokenSplice | CountSplice) -> None:
        self.domain = domain
        self.splice = splice
        self.feature_names = domain.feature_names
        self.default_kernel_width = domain.default_kernel_width

    @property
    def num_features(self) -> int:
        return self.domain.num_features

    @property
    def text(self) -> str:
        return self.domain.text

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.domain.sample(n, rng)

    def to_model_input(self, z: np.ndarray) -> SplicedBatch | CountedBatch:
        """The rows (b, d) with the splice: the model builds its input from them."""
        return self.splice.batch(z)

    def preferred_batch_size(self, n: int) -> int:
        return self.domain.preferred_batch_size(n)

    def distances(self, z: np.ndarray) -> np.ndarray:
        return self.domain.distances(z)

    def feature_info(self, j: int) -> dict[str, Any]:
        return self.domain.feature_info(j)

    def describe(self) -> dict[str, Any]:
        return self.domain.describe()


def for_model(domain: TextDomain, model: Any) -> TextDomain | SplicedTextDomain:
    """``domain``, spliced for ``model`` when the model offers an exact splice for it."""
    build = getattr(model, "token_splice", None)
    splice = build(domain) if callable(build) else None
    return domain if splice is None else SplicedTextDomain(domain, splice)
