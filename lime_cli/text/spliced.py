"""A document whose perturbed copies reach the model as spliced token ids.

:func:`for_model` wraps a :class:`~lime_cli.text.domain.TextDomain` when the
model can assemble token ids for its copies without tokenising them (ONNX
token models, :meth:`lime_cli.models.onnx_text.OnnxTextModel.token_splice`);
everything but the model input (the samples, distances, features, the
explanation's ``input``) is the text domain's own, so explanations are the
same as with perturbed strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lime_cli.models.token_splice import SplicedBatch, TokenSplice
from lime_cli.text.domain import TextDomain


class SplicedTextDomain:
    """A :class:`TextDomain` whose ``to_model_input`` is a :class:`SplicedBatch`."""

    modality = "text"

    def __init__(self, domain: TextDomain, splice: TokenSplice) -> None:
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

    def to_model_input(self, z: np.ndarray) -> SplicedBatch:
        """The rows (b, d) with the splice: the model builds token ids from them."""
        return SplicedBatch(self.splice, np.asarray(z))

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
