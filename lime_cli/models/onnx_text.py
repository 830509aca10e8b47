"""ONNX text classifiers as ``predict(list of n strings) -> (n, k)`` probabilities.

Two shapes of file are read:

* **Token ids** (a Hugging Face style export): inputs named ``input_ids`` and
  optionally ``attention_mask`` and ``token_type_ids`` (BERT-family models take
  three, DistilBERT and RoBERTa two), integer tensors of shape (batch, length),
  and a rank-2 output of logits or probabilities. The documents are tokenised
  with a Hugging Face ``tokenizers`` file (``tokenizer.json``), padded to the
  longest document of each model call (or to the model's fixed length) and
  truncated at ``max_length``.
* **Strings** (a scikit-learn text pipeline converted with skl2onnx): one
  ``tensor(string)`` input of shape (batch, 1) or (batch,), and the classifier's
  probabilities, as a tensor or as skl2onnx's ZipMap (one dict per row).

LIME's interpretable features stay the words of the document: the text
domain removes words and this adapter tokenises each perturbed copy, or, when
that is verified exact for the document and the tokenizer, assembles each
copy's token ids from the document's own (:mod:`lime_cli.models.token_splice`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from typing import Any

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import LimeCliError, ModelError, UsageError
from lime_cli.models.onnx_adapter import (
    OnnxScores,
    _dims,
    first_line,
    open_session,
    pick_scores,
    scores_label,
)
from lime_cli.models.token_splice import SplicedBatch, Splicer, TokenSplice, by_length

#: Input names a token-id model may take, in the order tokenizers produce them.
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
INTEGER_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
#: The length documents are cut to when neither the model, --max-length, the
#: sidecar nor the tokenizer says (BERT's and RoBERTa's position limit).
DEFAULT_MAX_LENGTH = 512
#: Per model call at most this many tokens (batch x length) and this many
#: token pairs (batch x length^2, the size of one attention map): a call holds
#: bounded memory however long the documents; --batch-size overrides.
TOKEN_BUDGET = 32_768
PAIR_BUDGET = 1 << 22
#: Names a tokenizer file is looked for under, beside the model.
TOKENIZER_NAMES = ("{stem}.tokenizer.json", "tokenizer.json")
PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<PAD>")


def is_text_session(session: Any) -> bool:
    """Whether the session takes documents: token ids, or one string tensor."""
    inputs = session.get_inputs()
    names = {i.name for i in inputs}
    if "input_ids" in names:
        return True
    return len(inputs) == 1 and inputs[0].type == "tensor(string)"


def takes_token_ids(session: Any) -> bool:
    """Whether the session takes token ids (and so needs a tokenizer)."""
    return any(i.name == "input_ids" for i in session.get_inputs())


def sidecar_path(model_path: str) -> str:
    """``MODEL.json`` beside ``MODEL.onnx``: class names, tokenizer, max length, output."""
    return os.path.splitext(model_path)[0] + ".json"


def read_sidecar(model_path: str) -> dict[str, Any]:
    """The sidecar's settings (empty when there is none); paths made relative to it.

    Keys: ``class_names`` (a list), ``class_names_file``, ``tokenizer``,
    ``max_length`` and ``output``; a Hugging Face ``config.json`` beside the
    model gives class names through its ``id2label`` when the sidecar does not.
    """
    found: dict[str, Any] = {}
    base = os.path.dirname(os.path.abspath(model_path))
    path = sidecar_path(model_path)
    if os.path.isfile(path):
        found = _read_json(path)
        for key in ("tokenizer", "class_names_file"):
            if isinstance(found.get(key), str):
                found[key] = os.path.join(base, found[key])
        unknown = sorted(
            set(found) - {"class_names", "class_names_file", "tokenizer", "max_length", "output"}
        )
        if unknown:
            raise UsageError(f"{path}: unknown setting {unknown[0]!r}")
    config = os.path.join(base, "config.json")
    if _names_from_config(found) and os.path.isfile(config):
        labels = _read_json(config).get("id2label")
        if isinstance(labels, dict) and labels:
            try:
                found["class_names"] = [str(labels[k]) for k in sorted(labels, key=int)]
            except (ValueError, TypeError):
                pass
    return found


def _names_from_config(sidecar: dict[str, Any]) -> bool:
    """Whether class names come from a ``config.json`` beside the model: only when
    the sidecar gives none."""
    return "class_names" not in sidecar and "class_names_file" not in sidecar


def files_read(model_path: str, tokenizer: str | None, names_given: bool) -> list[str]:
    """The files a text run reads for an ONNX model without being told their names:
    the sidecar, ``config.json`` (when it gives the class names), the tokenizer
    found beside the model or named by the sidecar (``tokenizer``: the one given
    instead), the class names file the sidecar names (``names_given``: the
    command gives the names). Unreadable ones are left to loading to report."""
    own = sidecar_path(model_path)
    found = [own] if os.path.isfile(own) else []
    try:
        named = _read_json(own) if found else {}
        sidecar = read_sidecar(model_path)
    except (LimeCliError, OSError, ValueError):
        return found
    config = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
    if not names_given and _names_from_config(named) and os.path.isfile(config):
        found.append(config)
    more = [
        None if tokenizer else find_tokenizer(model_path, None, sidecar),
        None if names_given else sidecar.get("class_names_file"),
    ]
    return found + [p for p in more if isinstance(p, str) and os.path.isfile(p)]


def find_tokenizer(model_path: str, given: str | None, sidecar: dict[str, Any]) -> str | None:
    """The tokenizer file: given, named by the sidecar, or beside the model."""
    if given:
        return given
    if isinstance(sidecar.get("tokenizer"), str):
        return str(sidecar["tokenizer"])
    base = os.path.dirname(os.path.abspath(model_path))
    stem = os.path.splitext(os.path.basename(model_path))[0]
    for pattern in TOKENIZER_NAMES:
        candidate = os.path.join(base, pattern.format(stem=stem))
        if os.path.isfile(candidate):
            return candidate
    return None


def load_tokenizer(path: str) -> Any:
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json`` (exit 3 if unreadable)."""
    from lime_cli.errors import InputError

    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ModelError(
            "ONNX text models with a tokenizer need the tokenizers package: "
            "pip install 'lime-explain[onnx-text]'"
        ) from None
    if not os.path.isfile(path):
        raise InputError(f"{path}: tokenizer file not found")
    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # the Rust library's own errors
        raise InputError(
            f"{path}: not a Hugging Face tokenizers file (tokenizer.json): {first_line(exc)}"
        ) from None


class OnnxTextModel(OnnxScores):
    """Adapter around an onnxruntime session that reads documents."""

    mode = "classification"

    def __init__(
        self,
        session: Any,
        *,
        path: str,
        tokenizer: Any = None,
        tokenizer_path: str | None = None,
        class_names: list[str] | None = None,
        output: str = "auto",
        max_length: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        self._init_scores(session, path, output)
        self.batch_size = batch_size
        inputs = session.get_inputs()
        self.output_name, out_shape, self.zipmap = pick_scores(session.get_outputs(), path)
        self.tokenizer_path = tokenizer_path
        self.max_length: int = 0  # tokens read per document (0: strings, no limit)
        self.splicer: Splicer | None = None  # token ids without tokenising (token models)
        if takes_token_ids(session):
            self.kind = "tokens"
            self._setup_tokens(inputs, tokenizer, max_length)
        else:
            self.kind = "strings"
            if len(inputs) != 1 or inputs[0].type != "tensor(string)":
                raise ModelError(f"{path}: not a text model (no input_ids, no string input)")
            self.input_names = [inputs[0].name]
            self.string_shape = _dims(inputs[0].shape)
            if max_length is not None:
                raise UsageError("--max-length applies to ONNX models that take token ids")
        self._name_classes(class_names, out_shape[1] if len(out_shape) == 2 else None)
        self._named_classes = class_names is not None

    def _setup_tokens(self, inputs: list[Any], tokenizer: Any, max_length: int | None) -> None:
        unknown = [i.name for i in inputs if i.name not in TOKEN_INPUTS]
        if unknown:
            raise ModelError(
                f"{self.path}: the model also takes {', '.join(unknown)}; lime-explain feeds "
                f"{', '.join(TOKEN_INPUTS)}"
            )
        self.input_names = [name for name in TOKEN_INPUTS if name in {i.name for i in inputs}]
        self.input_types: dict[str, Any] = {}
        fixed: int | None = None
        for meta in inputs:
            if meta.type not in INTEGER_TYPES:
                raise ModelError(f"{self.path}: input {meta.name} is {meta.type}; expected int64")
            self.input_types[meta.name] = INTEGER_TYPES[meta.type]
            dims = _dims(meta.shape)
            if len(dims) != 2:
                raise ModelError(
                    f"{self.path}: input {meta.name} has rank {len(dims)}; "
                    "expected (batch, sequence)"
                )
            fixed = fixed or dims[1]
        if tokenizer is None:
            raise UsageError(
                f"{self.path}: the model takes token ids: give its tokenizer with "
                "--tokenizer tokenizer.json (or put tokenizer.json beside the model)"
            )
        self.fixed_length = fixed
        self._longest = 0
        if max_length is not None and fixed is not None and max_length > fixed:
            raise UsageError(f"--max-length {max_length}: the model takes {fixed} tokens")
        own = (tokenizer.truncation or {}).get("max_length")
        self.max_length = int(max_length or fixed or own or DEFAULT_MAX_LENGTH)
        self.pad_id = _pad_id(tokenizer)
        self._full = tokenizer  # no truncation, no padding: counts what is cut
        self._full.no_truncation()
        self._full.no_padding()
        from tokenizers import Tokenizer

        batched = Tokenizer.from_str(tokenizer.to_str())
        self.shortcut = WordPieceShortcut.for_tokenizer(self._full)
        batched.enable_truncation(self.max_length)
        if fixed is not None:
            batched.enable_padding(pad_id=self.pad_id, length=fixed)
        else:
            batched.enable_padding(pad_id=self.pad_id)  # to the longest of each call
        self.tokenizer = batched
        self.splicer = Splicer.for_tokenizer(
            self._full,
            batched,
            max_length=self.max_length,
            pad_id=self.pad_id,
            fixed=fixed,
            dtypes={name: self.input_types[name] for name in self.input_names},
        )

    @classmethod
    def load(
        cls,
        path: str,
        *,
        session: Any = None,
        tokenizer: str | None = None,
        class_names: list[str] | None = None,
        class_names_file: str | None = None,
        output: str | None = None,
        max_length: int | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
    ) -> OnnxTextModel:
        """Open ``path`` and what goes with it (tokenizer, class names) on the CPU.

        Explicit arguments win over the sidecar (``MODEL.json``), which wins
        over a Hugging Face ``config.json`` beside the model.
        """
        session = session if session is not None else open_session(path, threads)
        sidecar = read_sidecar(path)
        tok = None
        tokenizer_path = None
        if takes_token_ids(session):
            tokenizer_path = find_tokenizer(path, tokenizer, sidecar)
            tok = load_tokenizer(tokenizer_path) if tokenizer_path else None
        if class_names is None:
            names_file = class_names_file or sidecar.get("class_names_file")
            if names_file:
                from lime_cli.image.preprocess import read_class_names

                class_names = read_class_names(str(names_file))
            elif isinstance(sidecar.get("class_names"), list):
                class_names = [str(c) for c in sidecar["class_names"]]
        limit = max_length or sidecar.get("max_length")
        if limit is not None and (not isinstance(limit, int) or limit < 2):
            raise UsageError(f"{path}: max_length must be an integer >= 2, not {limit!r}")
        return cls(
            session,
            path=path,
            tokenizer=tok,
            tokenizer_path=tokenizer_path,
            class_names=class_names,
            output=output or str(sidecar.get("output", "auto")),
            max_length=limit,
            batch_size=batch_size,
        )

    @property
    def input_spec(self) -> InputSpec:
        """A list of strings."""
        return InputSpec("text", tuple(self.input_names), (None,), None)

    # -- predicting ------------------------------------------------------------------
    def token_splice(self, domain: Any) -> TokenSplice | None:
        """How to feed token ids for any perturbed copy of ``domain``'s document
        without tokenising it, or None (string models, positional or character
        features, or a tokenizer for which it would not be exact: see
        :mod:`lime_cli.models.token_splice`). The text command then hands
        :class:`SplicedBatch` blocks to :meth:`predict`."""
        if self.splicer is None or not domain.bow or domain.char_level:
            return None
        splice = self.splicer.splice(
            list(domain.tokens), domain.token_feature, domain.to_model_input
        )
        if splice is not None and splice.num_features != domain.num_features:
            return None
        return splice

    def predict(self, batch: Any) -> np.ndarray:
        """Class probabilities for ``n`` documents, shape (n, k), float64.

        ``batch`` is a list of strings, or a :class:`SplicedBatch` of
        perturbed copies of one document (token models only).
        """
        if isinstance(batch, SplicedBatch):
            if not len(batch):
                return np.empty((0, len(self.classes)))
            return self._probabilities(self._run_spliced(batch))
        texts = _as_texts(batch, self.path)
        if not texts:
            return np.empty((0, len(self.classes)))
        if self.kind == "strings":
            scores = self._run_strings(texts)
        else:
            scores = self._run_tokens(texts)
        if self.zipmap:
            self._softmax = False if self._softmax is None else self._softmax
        return self._probabilities(scores)

    def _run_strings(self, texts: list[str]) -> np.ndarray:
        x = np.array(texts, dtype=object)
        if len(self.string_shape) == 2:
            x = x[:, None]
        return self._run({self.input_names[0]: x}, len(texts))

    def _run_tokens(self, texts: list[str]) -> np.ndarray:
        if self.shortcut is not None and not self.shortcut.agrees(texts[0]):
            self.shortcut = None  # it disagreed once: the tokenizer itself from now on
        rows = self._rows_per_call(texts[0])
        order = by_length(np.array([len(t) for t in texts]))
        out: np.ndarray | None = None
        for start in range(0, len(texts), rows):
            chunk = order[start : start + rows]
            scores = self._run(self._feeds([texts[i] for i in chunk]), len(chunk))
            out = _place(out, chunk, scores, len(texts))
        assert out is not None
        return out

    def _run_spliced(self, batch: SplicedBatch) -> np.ndarray:
        splice, z = batch.splice, batch.z
        rows = self.batch_size
        if not rows:  # as _rows_per_call: the same calls, so the same answers as strings
            self._longest = max(self.fixed_length or splice.longest, self._longest, 1)
            rows = _rows_for(self._longest)
        out: np.ndarray | None = None
        for chunk, feeds in splice.calls(z, rows):
            out = _place(out, chunk, self._run(feeds, len(chunk)), len(batch))
        assert out is not None
        return out

    def _rows_per_call(self, first: str) -> int:
        """How many documents one call takes: --batch-size, or what memory allows.

        LIME's perturbed copies are never longer than the document, so the
        first (longest possible) sets the length bound.
        """
        if self.batch_size:
            return self.batch_size
        length = self.fixed_length or min(self.max_length, len(self._full.encode(first).ids))
        # The first call's first document is the input, the longest of its copies.
        self._longest = length = max(length, self._longest, 1)
        return _rows_for(length)

    def _feeds(self, texts: list[str]) -> dict[str, np.ndarray]:
        if self.shortcut is not None:  # checked on the call's first document
            feeds = self.shortcut.encode(texts, self.max_length, self.pad_id, self.fixed_length)
            return {
                name: feeds[name].astype(self.input_types[name], copy=False)
                for name in self.input_names
            }
        try:
            encodings = self.tokenizer.encode_batch(texts)
        except Exception as exc:  # the Rust library's own errors
            raise ModelError(f"the tokenizer failed: {first_line(exc)}") from None
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {
            name: np.array(columns[name], dtype=self.input_types[name]) for name in self.input_names
        }

    def _run(self, feeds: dict[str, np.ndarray], n: int) -> np.ndarray:
        return self._class_scores(self._run_output(feeds), n)

    # -- reporting -------------------------------------------------------------------
    def input_note(self, text: str) -> str | None:
        """A warning when ``text`` is longer than the model reads (tokens beyond are cut)."""
        if self.kind != "tokens":
            return None
        count = len(self._full.encode(text).ids)
        if count <= self.max_length:
            return None
        return (
            f"the document has {count} tokens; the model reads the first {self.max_length} "
            f"({count - self.max_length} tokens cut; --max-length sets the limit)"
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "format": "onnx",
            "mode": self.mode,
            "classes": list(self.classes),
            "type": "onnx-text" if self.kind == "tokens" else "onnx-sklearn-text",
            "input": {"names": list(self.input_names)},
            "output": {
                "name": self.output_name,
                "kind": self.output,
                "softmax": self._softmax,
            },
            "scores": scores_label(self._softmax),
        }
        if self.kind == "tokens":
            out["tokenizer"] = self.tokenizer_path
            out["max_length"] = self.max_length
            out["input"]["dtype"] = np.dtype(self.input_types["input_ids"]).name
        return out


def _place(out: np.ndarray | None, rows: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """``scores`` (b, k) written to rows ``rows`` of ``out`` (n, k), made on first use."""
    if out is None:
        out = np.empty((n, scores.shape[1]), dtype=scores.dtype)
    out[rows] = scores
    return out


def _rows_for(length: int) -> int:
    """Documents of ``length`` tokens per call within the token and pair budgets."""
    length = max(length, 1)
    return max(1, min(TOKEN_BUDGET // length, PAIR_BUDGET // (length * length)))


def _as_texts(batch: Any, path: str) -> list[str]:
    if isinstance(batch, str):
        return [batch]
    if isinstance(batch, np.ndarray) and batch.dtype.kind not in "USO":
        raise ModelError(
            f"{path}: the model reads text, not {batch.dtype} values; "
            "explain it with lime-explain text"
        )
    texts = list(batch)
    if texts and not isinstance(texts[0], str):
        raise ModelError(
            f"{path}: the model reads text, not {type(texts[0]).__name__} values; "
            "explain it with lime-explain text"
        )
    return [str(t) for t in texts]


def _pad_id(tokenizer: Any) -> int:
    padding = tokenizer.padding
    if padding and padding.get("pad_id") is not None:
        return int(padding["pad_id"])
    for token in PAD_TOKENS:
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def _read_json(path: str) -> dict[str, Any]:
    from lime_cli.errors import InputError

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


class WordPieceShortcut:
    """BERT-style tokenising of many near-identical documents, words cached.

    LIME's perturbed copies of a document share their words, and a tokenizer
    whose pre-tokeniser is ``BertPreTokenizer`` (split at whitespace, every
    punctuation character alone) with a ``WordPiece`` model and a per-character
    normaliser tokenises each word on its own: the ids of a document are its
    words' ids, between the template's special tokens. So each distinct word
    goes through the tokenizer once, not once per copy. Used only for such
    tokenizers, and checked against the tokenizer itself on the first document
    of every call: on any difference the adapter stops using it (it is a
    speed-up, never a second opinion).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        probe = tokenizer.encode("a")
        mask = probe.special_tokens_mask
        first = mask.index(0)
        last = len(mask) - 1 - mask[::-1].index(0)
        self.prefix = list(probe.ids[:first])
        self.suffix = list(probe.ids[last + 1 :])
        self.type_id = int(probe.type_ids[first]) if probe.type_ids else 0
        self.words = _bert_word_pattern()
        self.cache = _PieceCache(tokenizer)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> WordPieceShortcut | None:
        """The shortcut when ``tokenizer`` is BERT-style (see the class), else None."""
        try:
            spec = json.loads(tokenizer.to_str())
        except Exception:  # noqa: BLE001 - any doubt: no shortcut
            return None
        pre = spec.get("pre_tokenizer") or {}
        model = spec.get("model") or {}
        if pre.get("type") != "BertPreTokenizer" or model.get("type") != "WordPiece":
            return None
        if any(not t.get("special", False) for t in spec.get("added_tokens") or []):
            return None  # added words are matched in the raw text first
        try:
            return cls(tokenizer)
        except (ValueError, IndexError):
            return None

    def ids(self, text: str) -> list[int]:
        """The word-piece ids of ``text`` without special tokens or truncation."""
        pieces = map(self.cache.__getitem__, self.words.findall(text))
        return list(itertools.chain.from_iterable(pieces))

    def agrees(self, text: str) -> bool:
        """Whether the shortcut gives exactly the tokenizer's ids for ``text``."""
        full = self.tokenizer.encode(text).ids
        return full == self.prefix + self.ids(text) + self.suffix

    def encode(
        self, texts: list[str], max_length: int, pad_id: int, fixed: int | None
    ) -> dict[str, np.ndarray]:
        """input_ids, attention_mask and token_type_ids (int64), padded to the longest
        (or to ``fixed``), each document cut to ``max_length`` tokens with its specials."""
        budget = max(0, max_length - len(self.prefix) - len(self.suffix))
        rows = [self.prefix + self.ids(t)[:budget] + self.suffix for t in texts]
        lengths = np.array([len(r) for r in rows])
        width = fixed or int(lengths.max(initial=1))
        inside = np.arange(width)[None, :] < lengths[:, None]
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        ids[inside] = np.fromiter(itertools.chain.from_iterable(rows), np.int64, lengths.sum())
        mask = inside.astype(np.int64)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": mask * self.type_id,
        }


class _PieceCache(dict[str, list[int]]):
    """raw word -> its ids, tokenised (normalised, split, word-pieced) by the tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def __missing__(self, word: str) -> list[int]:
        pieces = list(self.tokenizer.encode(word, add_special_tokens=False).ids)
        self[word] = pieces
        return pieces


def _bert_word_pattern() -> re.Pattern[str]:
    """Runs of non-space, non-punctuation characters, or one punctuation character, as
    ``BertPreTokenizer`` splits (ASCII punctuation and Unicode category P, BMP)."""
    global _BERT_WORDS
    if _BERT_WORDS is None:
        import unicodedata

        punct = [
            chr(c)
            for c in range(0x10000)
            if (33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126)
            or unicodedata.category(chr(c)).startswith("P")
        ]
        cls = "".join(re.escape(c) for c in punct)
        _BERT_WORDS = re.compile(f"[{cls}]|[^\\s{cls}]+")
    return _BERT_WORDS


_BERT_WORDS: re.Pattern[str] | None = None
