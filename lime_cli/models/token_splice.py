"""Token ids of LIME's perturbed documents without tokenising them: spliced per document.

LIME's perturbed copies of a document differ from it only by the words they
drop. When the tokenizer cuts the document only at places that stay cuts
whatever words are dropped, the ids of a copy are the ids of the pieces it
keeps, in order, between the template's special tokens. So one document is
tokenised once (and once with every word removed), and each copy's
``input_ids`` row is assembled from those ids with NumPy: no string is built
and no copy is tokenised.

When it is exact. Tokenizers normalise per character, pre-tokenise (cut the
text into words) and then run their model (WordPiece, BPE...) on each
pre-token on its own. :func:`build_splice` accepts only normalisers and
pre-tokenisers whose decision to cut between two characters depends on those
two characters alone (BERT's, whitespace and punctuation splitters; not
byte-level BPE, whose pre-tokens carry the space before a word, nor
SentencePiece's ``Metaspace``). Any two pieces that can meet in a copy (a word
and its separators; two separators once the word between them is dropped) meet
in the document itself or in the document with every word removed, so
tokenising those two texts shows every place the tokenizer cuts. A piece of the
tokenizer that spans a separator and one word (``£5m``: ``£`` is not
punctuation for BERT) is spliced as a unit with two alternatives (the word
kept, or only its separators); a piece spanning two words, context the two
reference texts do not show, added tokens (``[CLS]``) whose characters occur
in the document, or character-level features: no splicing, the perturbed
strings go through the tokenizer as before.

Finally every splice is checked against the tokenizer itself (the padded,
truncated batch the string path would feed, compared array for array) on the
document, the document without words and a few random copies; any difference
and the document is tokenised the ordinary way. It is a speed-up, never a
second opinion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Normalisers that map each character on its own (BertNormalizer: control
#: characters dropped, whitespace to spaces, spaces around CJK, lowercasing).
LOCAL_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFD", "NFKD", "StripAccents"}
#: Pre-tokenisers whose cuts depend only on the two characters either side.
LOCAL_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit", "Digits"}
#: Models that read each pre-token on its own, deterministically.
PER_WORD_MODELS = {"WordPiece", "WordLevel", "Unigram", "BPE"}
#: Random copies of the document checked against the tokenizer per document.
CHECKED_COPIES = 6
#: Tokens of model input built at once (then cut into model calls): bounds the
#: memory of a block (a few bytes per token and per token of the document).
BLOCK_TOKENS = 1 << 16
#: ... and at most this many candidate ids (copies x the document's ids): a long
#: document's blocks stay small (one call's copies at least).
BLOCK_CANDIDATES = 1 << 22


class TokenSplice:
    """How to assemble the model's inputs for any perturbed copy of one document.

    ``ids`` (L,) are the candidate token ids in document order; position ``p``
    is present in a copy when ``gate[p]`` is -1 (a separator's ids, always
    kept), else when feature ``gate[p]`` is kept (``when_removed[p]`` False) or
    removed (True: the separators of a piece that held the word). A copy's
    ``input_ids`` are ``prefix``, its present ids (the first ``budget``), then
    ``suffix``, padded with ``pad_id`` to the longest row of the call (or to
    ``fixed``); ``dtypes`` maps the model's input names to their integer types;
    ``characters`` is (the separators' characters, each word's characters over its
    occurrences), for :meth:`characters`.
    """

    def __init__(
        self,
        *,
        ids: np.ndarray,
        gate: np.ndarray,
        when_removed: np.ndarray,
        prefix: tuple[int, ...],
        suffix: tuple[int, ...],
        prefix_types: tuple[int, ...],
        suffix_types: tuple[int, ...],
        body_type: int,
        budget: int,
        pad_id: int,
        fixed: int | None,
        num_features: int,
        dtypes: tuple[tuple[str, Any], ...],
        characters: tuple[int, np.ndarray],
    ) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.gate = np.asarray(gate, dtype=np.intp)
        self.when_removed = np.asarray(when_removed, dtype=bool)
        self.num_features = num_features
        self.budget = budget
        self.pad_id = pad_id
        self.fixed = fixed
        self.dtypes = dtypes
        self.prefix, self.suffix = prefix, suffix
        self.prefix_types, self.suffix_types = prefix_types, suffix_types
        self.body_type = body_type
        # Ids per feature kept minus removed, and ids there whatever is removed:
        # lengths are a product with the samples, not a count over every candidate.
        gated = self.gate >= 0
        if_kept = np.bincount(self.gate[gated & ~self.when_removed], minlength=num_features)
        if_removed = np.bincount(self.gate[gated & self.when_removed], minlength=num_features)
        self._base = int(np.count_nonzero(~gated)) + int(if_removed.sum())
        # Characters of a copy: the separators', plus each kept word's occurrences.
        chars = np.zeros(num_features)
        chars[: len(characters[1])] = characters[1]
        self._delta = _narrow(if_kept - if_removed)
        self._chars, self._chars_base = _narrow(chars), int(characters[0])
        # int32 when the ids fit (they always do for a vocabulary): half the memory.
        small = not len(self.ids) or int(self.ids.max()) < 2**31
        self._tile = self.ids.astype(np.int32 if small else np.int64)
        self.longest = int(self.lengths(np.ones((1, num_features), dtype=np.uint8))[0])

    def batch(self, z: np.ndarray) -> SplicedBatch:
        """A block of copies as the model's adapter takes them."""
        return SplicedBatch(self, np.asarray(z))

    def measure(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per copy in ``z`` (b, d): ids of the document it holds before truncation,
        and characters of its text (``len`` of the perturbed string), each (b,)."""
        kept = np.asarray(z) != 0
        # Integer sums (exact) by einsum: no BLAS threads to wake for a thin product.
        counts = self._base + np.einsum("ij,j->i", kept, self._delta).astype(np.int64)
        characters = self._chars_base + np.einsum("ij,j->i", kept, self._chars)
        return counts, characters.astype(np.int64)

    def characters(self, z: np.ndarray) -> np.ndarray:
        """Characters of each copy's text, (b,)."""
        return self.measure(z)[1]

    def lengths(self, z: np.ndarray) -> np.ndarray:
        """Tokens (specials included, after truncation) of each copy in ``z`` (b, d)."""
        ends = np.minimum(self.measure(z)[0], self.budget)
        return ends + len(self.prefix) + len(self.suffix)

    def feeds(self, z: np.ndarray, counts: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The model's inputs for sample rows ``z`` (b, d) of 0/1: each (b, width).

        ``width`` is the longest row's length (or ``fixed``), as the
        tokenizer pads a batch; each array has the model's integer type.
        ``counts``: the rows' first :meth:`measure`, when already known.
        """
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.num_features:
            raise ValueError(f"expected samples of {self.num_features} features, got {z.shape}")
        rows = z.shape[0]
        if counts is None:
            counts = self.measure(z)[0]  # before truncation
        taken = np.minimum(counts, self.budget)
        head, tail = len(self.prefix), len(self.suffix)
        width = self.fixed or int(taken.max(initial=0)) + head + tail
        column = np.arange(width)[None, :]
        ends = head + taken  # where each row's suffix starts
        body = (column >= head) & (column < ends[:, None])
        out: dict[str, np.ndarray] = {}
        for name, dtype in self.dtypes:
            if name == "input_ids":
                values: np.ndarray = np.full((rows, width), self.pad_id, dtype=dtype)
                values[body] = self._kept_ids(z, counts, taken)
                pieces, last = self.prefix, self.suffix
            elif name == "attention_mask":
                values = (column < (ends + tail)[:, None]).astype(dtype)
                pieces, last = (), ()
            else:  # token_type_ids
                values = np.zeros((rows, width), dtype=dtype)
                if self.body_type:
                    values[body] = self.body_type
                pieces, last = self.prefix_types, self.suffix_types
            if pieces:
                values[:, :head] = pieces
            for j, token in enumerate(last):
                values[np.arange(rows), ends + j] = token
            out[name] = values
        return out

    def calls(self, z: np.ndarray, rows: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """The model calls for sample rows ``z`` (n, d): ``rows`` copies each, shortest
        first (:func:`by_length`, as the string path orders them); yields each
        call's row indices and feeds (as :meth:`feeds` of those rows). Feeds are
        built for many calls at once (up to :data:`BLOCK_TOKENS`) and cut per
        call, as building them costs more per call than per token (blocks of
        whole calls, within :data:`BLOCK_TOKENS` and :data:`BLOCK_CANDIDATES`)."""
        counts, characters = self.measure(z)
        order = by_length(characters)
        lengths = np.minimum(counts, self.budget) + len(self.prefix) + len(self.suffix)
        per_block = min(
            BLOCK_TOKENS // max(1, self.fixed or self.longest),
            BLOCK_CANDIDATES // max(1, len(self.ids)),
        )
        per_block = max(1, per_block // rows) * rows  # whole calls
        for first in range(0, len(order), per_block):
            block = order[first : first + per_block]
            feeds = self.feeds(z[block], counts[block])
            for start in range(0, len(block), rows):
                stop = min(len(block), start + rows)
                width = self.fixed or int(lengths[block[start:stop]].max())
                yield (
                    block[start:stop],
                    {
                        name: np.ascontiguousarray(values[start:stop, :width])
                        for name, values in feeds.items()
                    },
                )

    def _kept_ids(self, z: np.ndarray, counts: np.ndarray, taken: np.ndarray) -> np.ndarray:
        """Every row's ids (the first ``taken`` of its ``counts``), row after row."""
        kept = np.ones((z.shape[0], self.num_features + 1), dtype=bool)
        kept[:, :-1] = z != 0
        # gate -1 reads the last column (always kept); take, unlike kept[:, gate],
        # gives rows in order in memory, which compress reads flat.
        present = np.take(kept, self.gate, axis=1)
        if self.when_removed.any():
            present ^= self.when_removed
        if self._tile.size < present.size:  # the ids once per row, kept for the next call
            self._tile = np.tile(self.ids.astype(self._tile.dtype), present.shape[0])
        ids = np.compress(present.ravel(), self._tile[: present.size])
        if np.array_equal(taken, counts):
            return ids
        # Truncated rows: the first ``taken`` of each row's ids.
        starts = np.cumsum(counts) - counts
        within = np.arange(int(taken.max(initial=0)))[None, :]
        return ids[(starts[:, None] + within)[within < taken[:, None]]]


def _narrow(weights: np.ndarray) -> np.ndarray:
    """Integer weights as int32 when any sum of them fits, else int64."""
    weights = np.rint(np.asarray(weights)).astype(np.int64)
    fits = np.abs(weights).sum() < 2**31
    return weights.astype(np.int32) if fits else weights


def by_length(characters: np.ndarray) -> np.ndarray:
    """The order in which documents go to the model: shortest first (by characters,
    ties in their order), so that each call pads its documents to about the same
    length rather than to the longest of a random handful. Strings and spliced
    copies use the same key, so they make the same calls."""
    return np.argsort(characters, kind="stable")


@dataclass(frozen=True)
class SplicedBatch:
    """A block of perturbed copies of one document, as the model's token ids.

    What a text domain hands to a model that spliced the document
    (:meth:`lime_cli.models.onnx_text.OnnxTextModel.token_splice`): the
    sample rows ``z`` (b, d) and the splice; the model builds its feeds
    from them a call at a time.
    """

    splice: TokenSplice
    z: np.ndarray

    def __len__(self) -> int:
        return int(self.z.shape[0])


def local_tokenizer(spec: dict[str, Any]) -> bool:
    """Whether a tokenizer (its ``tokenizer.json`` as a dict) cuts text only by rules
    local to two characters, and reads each pre-token on its own."""
    model = spec.get("model") or {}
    if model.get("type") not in PER_WORD_MODELS or model.get("dropout"):
        return False
    return _all_of(spec.get("normalizer"), LOCAL_NORMALIZERS, "normalizers") and _all_of(
        spec.get("pre_tokenizer"), LOCAL_PRE_TOKENIZERS, "pretokenizers"
    )


def _all_of(step: Any, allowed: set[str], members: str) -> bool:
    if step is None:
        return True
    if not isinstance(step, dict):
        return False
    if step.get("type") == "Sequence":
        return all(_all_of(s, allowed, members) for s in step.get(members) or [])
    return step.get("type") in allowed


class Splicer:
    """Splices documents for one tokenizer (see the module): made once per model.

    ``full`` is the tokenizer without truncation or padding, ``batched`` the
    one the string path feeds from (truncating at ``max_length``, padding to
    the longest document of a call or to ``fixed``); ``dtypes`` maps the
    model's input names to their integer types.
    """

    def __init__(
        self,
        full: Any,
        batched: Any,
        *,
        max_length: int,
        pad_id: int,
        fixed: int | None,
        dtypes: dict[str, Any],
    ) -> None:
        self.full = full
        self.batched = batched
        self.max_length = max_length
        self.pad_id = pad_id
        self.fixed = fixed
        self.dtypes = tuple(dtypes.items())
        spec = json.loads(full.to_str())
        if not local_tokenizer(spec):
            raise ValueError("the tokenizer's cuts may depend on more than two characters")
        self.added = [set(str(t.get("content", ""))) for t in spec.get("added_tokens") or []]
        # The post-processor's special tokens around one sequence, and the type ids.
        probe = full.encode("a")
        specials = list(probe.special_tokens_mask)
        head = specials.index(0)
        tail = head + len(full.encode("a", add_special_tokens=False).ids)
        if any(specials[head:tail]) or not all(specials[tail:]):
            raise ValueError("the post-processor does not wrap the sequence in special tokens")
        self.prefix = tuple(probe.ids[:head])
        self.suffix = tuple(probe.ids[tail:])
        self.prefix_types = tuple(probe.type_ids[:head])
        self.suffix_types = tuple(probe.type_ids[tail:])
        self.body_type = int(probe.type_ids[head])

    @classmethod
    def for_tokenizer(cls, full: Any, batched: Any, **settings: Any) -> Splicer | None:
        """The splicer, or None when the tokenizer's pipeline is not one splicing
        can reproduce (byte-level BPE, SentencePiece's Metaspace, regex splits)."""
        try:
            return cls(full, batched, **settings)
        except Exception:  # noqa: BLE001 - any doubt: no splicing
            return None

    def splice(
        self, tokens: list[str], token_feature: np.ndarray, texts_of: Any
    ) -> TokenSplice | None:
        """The splice for one document, or None when it would not be exact.

        ``tokens`` are the document's words and separators in order,
        ``token_feature`` each token's feature (-1: a separator, always kept;
        bag of words: a feature is kept or dropped, never replaced by a mask);
        ``texts_of(z)`` builds the perturbed strings for sample rows ``z`` (the
        domain's own), to check the splice against the tokenizer.
        """
        token_feature = np.asarray(token_feature, dtype=np.intp)
        text = "".join(tokens)
        if not self._plain_characters(text):
            return None
        words = token_feature >= 0
        num_features = int(token_feature.max(initial=-1)) + 1
        doc = _pieces(self.full, tokens)
        # The document with every word removed: each separator beside the next.
        seps = np.flatnonzero(~words)
        bare = _pieces(self.full, [tokens[i] for i in seps])
        if doc is None or bare is None or len(bare.group_first) != len(seps):
            return None  # a piece of the tokenizer spans two separators
        # Per group of the document: its word's feature (-1: a lone separator).
        group_of_token = np.cumsum(doc.starts_group) - 1
        word_count = np.bincount(group_of_token[words], minlength=len(doc.group_first))
        if word_count.max(initial=0) > 1:
            return None  # one piece of the tokenizer spans two words
        group_feature = np.full(len(doc.group_first), -1, dtype=np.intp)
        group_feature[group_of_token[words]] = token_feature[words]
        kept_group = group_of_token[doc.token_span]  # group of each document id
        bare_group = group_of_token[seps[bare.token_span]]  # ... and of each bare id
        lone = group_feature[kept_group] < 0
        lone_bare = group_feature[bare_group] < 0
        # A lone separator must tokenise alike beside its words and beside separators.
        if not (
            np.array_equal(doc.ids[lone], bare.ids[lone_bare])
            and np.array_equal(kept_group[lone], bare_group[lone_bare])
        ):
            return None
        # Each group: its ids as in the document, then (word removed) its separators'.
        group = np.concatenate([kept_group, bare_group[~lone_bare]])
        order = np.lexsort((np.repeat([0, 1], [len(kept_group), int((~lone_bare).sum())]), group))
        ids = np.concatenate([doc.ids, bare.ids[~lone_bare]])[order]
        when_removed = (np.arange(len(group)) >= len(kept_group))[order]
        budget = self.max_length - len(self.prefix) - len(self.suffix)
        if budget < 1:
            return None
        splice = TokenSplice(
            ids=ids,
            gate=group_feature[group[order]],
            when_removed=when_removed,
            prefix=self.prefix,
            suffix=self.suffix,
            prefix_types=self.prefix_types,
            suffix_types=self.suffix_types,
            body_type=self.body_type,
            budget=budget,
            pad_id=self.pad_id,
            fixed=self.fixed,
            num_features=num_features,
            dtypes=self.dtypes,
            characters=(
                sum(len(tokens[i]) for i in seps),
                np.bincount(
                    token_feature[words],
                    weights=[len(tokens[i]) for i in np.flatnonzero(words)],
                    minlength=num_features,
                ),
            ),
        )
        return splice if self._agrees(splice, texts_of) else None

    def _plain_characters(self, text: str) -> bool:
        """Whether no added token (``[CLS]``, ``<s>``...) can be matched in any copy
        of ``text`` (each has a character in neither the text nor its normalised
        form), and the normaliser drops no character (which would join its
        neighbours)."""
        chars = set(text) | set(text.lower())
        normalizer = self.full.normalizer
        if normalizer is not None:
            try:
                if any(normalizer.normalize_str(c) == "" for c in set(text)):
                    return False
                chars |= set(normalizer.normalize_str(text))
            except Exception:  # noqa: BLE001 - any doubt: no splicing
                return False
        return all(content - chars for content in self.added)

    def _agrees(self, splice: TokenSplice, texts_of: Any) -> bool:
        """Whether the splice feeds exactly what the tokenizer does, on the document,
        the document without words and a few random copies (a fixed seed: the
        explanation's own random numbers are not touched)."""
        d = splice.num_features
        rng = np.random.default_rng(0)
        z = np.ones((CHECKED_COPIES + 2, d), dtype=np.uint8)
        z[1] = 0
        for row in z[2:]:
            row[rng.random(d) < rng.random()] = 0
        try:
            encodings = self.batched.encode_batch(texts_of(z))
        except Exception:  # noqa: BLE001 - the string path will report it
            return False
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        spliced = splice.feeds(z)
        return all(
            np.array_equal(spliced[name], np.asarray(columns[name], dtype=spliced[name].dtype))
            for name in spliced
        )


@dataclass(frozen=True)
class _Pieces:
    """A text tokenised once and cut into consecutive spans (the document's
    tokens): each id, the span it falls in, and which spans open a group (spans
    joined by a pre-token covering more than one of them start no group)."""

    ids: np.ndarray
    token_span: np.ndarray
    starts_group: np.ndarray

    @property
    def group_first(self) -> np.ndarray:
        return np.flatnonzero(self.starts_group)


def _pieces(tokenizer: Any, spans: list[str]) -> _Pieces | None:
    """Tokenise the concatenated ``spans`` once and share out its ids.

    A pre-token (one word of the tokenizer's, which its model reads on its
    own) covering several spans joins them into one group, and its ids go to
    the first. None when a token's characters cannot be placed.
    """
    text = "".join(spans)
    starts = np.cumsum([0] + [len(s) for s in spans])
    count = len(spans)
    encoding = tokenizer.encode(text, add_special_tokens=False)
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    first = np.searchsorted(starts, offsets[:, 0], side="right") - 1
    last = np.searchsorted(starts, np.maximum(offsets[:, 0], offsets[:, 1] - 1), side="right") - 1
    if len(first) and (first.min() < 0 or last.max() >= count or np.any(last < first)):
        return None
    # Pre-tokens: consecutive tokens with one word id (None: each token alone).
    words = np.array([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64)
    new_word = np.ones(len(words), dtype=bool)
    new_word[1:] = (words[1:] != words[:-1]) | (words[1:] < 0)
    word = np.cumsum(new_word) - 1
    low = np.minimum.reduceat(first, np.flatnonzero(new_word)) if len(words) else first
    high = np.maximum.reduceat(last, np.flatnonzero(new_word)) if len(words) else last
    joined = np.zeros(count + 1, dtype=np.int64)  # span i joined to span i - 1
    np.add.at(joined, low + 1, 1)
    np.add.at(joined, high + 1, -1)
    starts_group = np.cumsum(joined[:count]) == 0
    return _Pieces(
        ids=np.asarray(encoding.ids, dtype=np.int64),
        token_span=low[word] if len(words) else first,
        starts_group=starts_group,
    )
