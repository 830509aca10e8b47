"""Text as a bag of words (or positional words, or characters), lime's way."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from lime_cli.engine.kernels import binary_cosine_distance_to_ones
from lime_cli.errors import InputError, UsageError

DEFAULT_SPLIT = r"\W+"
DEFAULT_WORD_MASK = "UNKWORDZ"
DEFAULT_CHAR_MASK = "\x00"

#: Rows of the perturbation matrix drawn at once (bounds the float keys' memory).
_SAMPLE_BYTES = 64 * 1024 * 1024
#: Characters of perturbed documents handed to the model per call.
_BATCH_CHARACTERS = 32 * 1024 * 1024


class TextDomain:
    """Interpretable features of one document.

    Bag-of-words (default): a feature is a distinct word; removing it deletes
    every occurrence. Positional (``bow=False``): every occurrence is its own
    feature and is replaced by ``mask_token``. Character level: the same with
    single characters, all of them features (as lime does).
    """

    modality = "text"
    #: lime's text kernel width, over cosine distance times 100.
    default_kernel_width = 25.0

    def __init__(
        self,
        text: str,
        name: str = "-",
        *,
        split_expression: str = DEFAULT_SPLIT,
        bow: bool = True,
        char_level: bool = False,
        mask_token: str | None = None,
        max_features: int | None = None,
        max_characters: int | None = None,
    ) -> None:
        if max_characters is not None and len(text) > max_characters:
            raise InputError(
                f"{name}: {len(text)} characters exceed --max-characters {max_characters}; "
                "raise the limit if this machine has the memory (up to about 80 bytes a character)"
            )
        self.text = text
        self.name = name
        self.bow = bow
        self.char_level = char_level
        self.split_expression = split_expression
        if mask_token is None:
            mask_token = DEFAULT_CHAR_MASK if char_level else DEFAULT_WORD_MASK
        self.mask_token = mask_token
        self.tokens, is_word = _tokenise(text, split_expression, char_level)
        starts = np.cumsum([0] + [len(t) for t in self.tokens[:-1]]) if self.tokens else np.zeros(0)
        self.token_starts = np.asarray(starts, dtype=np.int64)
        self.feature_names, self.token_feature = _index_features(self.tokens, is_word, bow)
        if not self.feature_names:
            raise InputError(f"{name}: no words to explain (the text is empty or only separators)")
        if max_features is not None and len(self.feature_names) > max_features:
            raise InputError(
                f"{name}: {len(self.feature_names)} distinct features exceed --max-features "
                f"{max_features}; raise the limit if this machine has the memory"
            )
        self._word_tokens = np.flatnonzero(self.token_feature >= 0)
        self._word_features = self.token_feature[self._word_tokens]
        self._token_array = np.array(self.tokens, dtype=object)

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """0/1 matrix (uint8): per row, remove a uniform 1..d number of distinct features."""
        d = self.num_features
        z = np.ones((n, d), dtype=np.uint8)
        sizes = rng.integers(1, d + 1, size=n - 1)
        step = max(1, _SAMPLE_BYTES // (8 * d))
        for start in range(1, n, step):
            stop = min(n, start + step)
            # A random key per feature; the `size` smallest of a row are removed:
            # those up to the row's size-th smallest key (a sort of the keys, no
            # argsort: the same matrix as ranking them, barring equal keys).
            keys = rng.random((stop - start, d))
            cut = np.sort(keys, axis=1)[np.arange(stop - start), sizes[start - 1 : stop - 1] - 1]
            z[start:stop] = keys > cut[:, None]
        return z

    def to_model_input(self, z: np.ndarray) -> list[str]:
        """The perturbed documents for a block of sample rows.

        One boolean token mask for the whole block, then one C-level join per
        row: separators are always kept, a removed word is dropped (bag of
        words) or replaced by the mask token (positional, character level).
        """
        keep = np.ones((z.shape[0], len(self.tokens)), dtype=bool)
        keep[:, self._word_tokens] = np.asarray(z, dtype=bool)[:, self._word_features]
        tokens = self._token_array
        if self.bow:
            return ["".join(tokens[row].tolist()) for row in keep]
        mask = np.array(self.mask_token, dtype=object)  # a str scalar would drop NULs
        return ["".join(np.where(row, tokens, mask).tolist()) for row in keep]

    def preferred_batch_size(self, n: int) -> int:
        """As many documents per model call as fit in about 32 M characters.

        Per-call costs of models (a 500-tree forest walks every tree once per
        call) make few large calls much cheaper than many small ones.
        """
        return max(1, min(n, _BATCH_CHARACTERS // max(1, len(self.text))))

    def distances(self, z: np.ndarray) -> np.ndarray:
        """Cosine distance to the original times 100, as lime's text explainer."""
        return 100.0 * binary_cosine_distance_to_ones(z)

    def feature_info(self, j: int) -> dict[str, Any]:
        """Character offsets of the feature's occurrences in the text."""
        tokens = np.flatnonzero(self.token_feature == j)
        return {"positions": [int(p) for p in self.token_starts[tokens]]}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "characters": len(self.text),
            # The document itself, so a saved explanation can be drawn again.
            "text": self.text,
            "num_features": self.num_features,
            "bow": self.bow,
            "char_level": self.char_level,
            "split_expression": None if self.char_level else self.split_expression,
            "mask_token": None if self.bow else self.mask_token,
        }


def _tokenise(text: str, split_expression: str, char_level: bool) -> tuple[list[str], list[bool]]:
    """Split into tokens, keeping separators so the text can be rebuilt exactly."""
    if char_level:
        tokens = list(text)
        return tokens, [True] * len(tokens)
    try:
        inner = re.compile(split_expression)
        splitter = re.compile(rf"({split_expression})|$")
    except re.error as exc:
        raise UsageError(f"--split-expression is not a valid regular expression: {exc}") from None
    if inner.groups:
        # re.split would return each group's match too, duplicating text.
        raise UsageError(
            "--split-expression must not contain capturing groups; use (?:...) instead of (...)"
        )
    if inner.match(""):
        raise UsageError("--split-expression must not match the empty string")
    tokens = [t for t in splitter.split(text) if t]
    return tokens, [splitter.match(t) is None for t in tokens]


def _index_features(
    tokens: list[str], is_word: list[bool], bow: bool
) -> tuple[list[str], np.ndarray]:
    """Feature names and, per token, its feature index (-1 for separators)."""
    names: list[str] = []
    token_feature = np.full(len(tokens), -1, dtype=np.int64)
    vocab: dict[str, int] = {}
    for i, (tok, word) in enumerate(zip(tokens, is_word)):
        if not word:
            continue
        if bow:
            j = vocab.get(tok)
            if j is None:
                j = vocab[tok] = len(names)
                names.append(tok)
        else:
            j = len(names)
            names.append(tok)
        token_feature[i] = j
    return names, token_feature
