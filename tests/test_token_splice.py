"""Token ids spliced from the document's own: exactly the tokenizer's, or not used.

Every tokenizer and model is built here from a few sentences (no downloads).
The reference is always the tokenizer itself, run on the perturbed strings the
text domain builds (the string path).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _cli import run
from _onnx_text_fixtures import SENTENCES, bag_of_tokens_graph, token_weights, word_piece_tokenizer

from lime_cli.engine import LabelRequest, LimeParams, explain
from lime_cli.models.loading import load_model
from lime_cli.models.token_splice import SplicedBatch
from lime_cli.text.domain import TextDomain
from lime_cli.text.spliced import SplicedTextDomain, for_model

pytest.importorskip("tokenizers")
pytest.importorskip("onnx")

WORDS = {"goal": [3.0, 0.0], "scored": [2.0, 0.0], "bank": [0.0, 3.0], "shares": [0.0, 2.0]}
DOCUMENTS = [
    "The striker scored a late goal while the bank sold shares of the club.",
    # Accents, CJK, curly quotes, dashes, nbsp, tabs, a word longer than
    # WordPiece reads (100 characters), repeated words.
    "Café naïve — “quoted” e-mail: a+b=c, 3.14%! 東京 Ümlaut\u00a0nbsp\ttab striker's goal... "
    + "x" * 120
    + " scored goal goal",
    # "£" is no punctuation for BERT: "£5m" is one of the tokenizer's words.
    "Shares rose £5m and the bank paid £12bn; the goal (2-1) came late.\n\nNew paragraph here.",
    "   leading spaces, trailing ones   ",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("splice")
    tok = word_piece_tokenizer(d / "tokenizer.json")
    bag_of_tokens_graph(d / "model.onnx", token_weights(tok, WORDS, 2))
    return d


def load(folder: Path, **options):
    return load_model(str(folder / "model.onnx"), purpose="text", **options)


def tokenizer_feeds(model, domain: TextDomain, z: np.ndarray) -> dict[str, np.ndarray]:
    """What the string path feeds: the tokenizer on the perturbed strings."""
    encodings = model.tokenizer.encode_batch(domain.to_model_input(z))
    columns = {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
    return {
        name: np.array(columns[name], dtype=model.input_types[name]) for name in model.input_names
    }


def assert_same_feeds(model, domain: TextDomain, copies: int = 300, seed: int = 0) -> None:
    splice = model.token_splice(domain)
    assert splice is not None, domain.text
    z = domain.sample(copies, np.random.default_rng(seed))
    z[1] = 0  # every word removed
    for start in range(0, copies, 37):  # blocks of several widths
        block = z[start : start + 37]
        spliced, expected = splice.feeds(block), tokenizer_feeds(model, domain, block)
        texts = domain.to_model_input(block)
        assert splice.characters(block).tolist() == [len(t) for t in texts]
        assert spliced.keys() == expected.keys()
        for name in expected:
            assert spliced[name].dtype == expected[name].dtype
            np.testing.assert_array_equal(spliced[name], expected[name], err_msg=name)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_spliced_ids_are_the_tokenizer_s_on_random_copies(folder: Path, text: str):
    assert_same_feeds(load(folder), TextDomain(text))


def test_a_piece_spanning_a_separator_and_a_word_has_two_alternatives(folder: Path):
    model = load(folder)
    domain = TextDomain(DOCUMENTS[2])
    splice = model.token_splice(domain)
    assert splice is not None and splice.when_removed.any()  # "£" alone when "5m" is removed
    assert_same_feeds(model, domain)


@pytest.mark.parametrize("max_length", [6, 12, 40])
def test_truncation_cuts_as_the_tokenizer_does(folder: Path, max_length: int):
    model = load(folder, max_length=max_length)
    for text in DOCUMENTS:
        assert_same_feeds(model, TextDomain(text))


@pytest.mark.parametrize(
    ("inputs", "dtype", "length"),
    [
        (("input_ids", "attention_mask", "token_type_ids"), "int64", None),  # BERT-family
        (("input_ids",), "int32", None),
        (("input_ids", "attention_mask"), "int64", 64),  # a fixed sequence length
    ],
)
def test_every_input_in_the_declared_type_and_shape(folder: Path, tmp_path, inputs, dtype, length):
    table = token_weights(folder / "tokenizer.json", WORDS, 2)
    path = bag_of_tokens_graph(
        tmp_path / "m.onnx", table, inputs=inputs, dtype=dtype, length=length
    )
    model = load_model(str(path), purpose="text", tokenizer=str(folder / "tokenizer.json"))
    for text in DOCUMENTS:
        domain = TextDomain(text)
        assert_same_feeds(model, domain, copies=80)
        if length:
            assert model.token_splice(domain).feeds(np.ones((2, domain.num_features))).get(
                "input_ids"
            ).shape == (2, length)


def test_predictions_and_weights_are_the_string_path_s(folder: Path):
    for text in DOCUMENTS[:3]:
        spliced_model, string_model = load(folder), load(folder)
        domain = TextDomain(text)
        spliced = for_model(domain, spliced_model)
        assert isinstance(spliced, SplicedTextDomain)
        z = domain.sample(200, np.random.default_rng(4))
        got = spliced_model.predict(spliced.to_model_input(z))
        np.testing.assert_array_equal(got, string_model.predict(domain.to_model_input(z)))
        for row in (0, 1, 57, 199):  # in the samples' order (the calls go shortest first)
            alone = string_model.predict(domain.to_model_input(z[row : row + 1]))
            np.testing.assert_allclose(got[row], alone[0], rtol=1e-5, atol=1e-7)
        params = LimeParams(num_samples=500, seed=3)
        a = explain(spliced, spliced_model, LabelRequest(top=2), params, np.random.default_rng(3))
        b = explain(domain, string_model, LabelRequest(top=2), params, np.random.default_rng(3))
        assert a.to_dict() == b.to_dict()


def test_the_command_gives_the_same_json_with_or_without_splicing(folder: Path, monkeypatch):
    from lime_cli.models.onnx_text import OnnxTextModel

    docs = [folder / "long.txt", folder / "short.txt"]
    docs[0].write_text(" ".join(DOCUMENTS) * 4)
    docs[1].write_text(DOCUMENTS[2])
    args = ("text", "--model", folder / "model.onnx", *docs, "--num-samples", "400", "--seed", "2")
    spliced = run(*args, "--format", "json")
    assert spliced.exit_code == 0, spliced.stderr
    calls = []
    original = OnnxTextModel.predict

    def predict(self, batch):
        calls.append(type(batch))
        return original(self, batch)

    monkeypatch.setattr(OnnxTextModel, "predict", predict)
    run(*args, "--format", "json")
    assert calls and all(kind is SplicedBatch for kind in calls)  # the command splices
    monkeypatch.setattr(OnnxTextModel, "token_splice", lambda self, domain: None)
    calls.clear()
    strings = run(*args, "--format", "json")
    assert strings.exit_code == 0, strings.stderr
    assert calls and all(kind is list for kind in calls)
    assert spliced.stdout.count("\n") == 2  # one JSON line per document
    assert [json.loads(line) for line in spliced.stdout.splitlines()] == [
        json.loads(line) for line in strings.stdout.splitlines()
    ]


class RecordingSession:
    """An onnxruntime session that notes the shape of every call's input_ids."""

    def __init__(self, session) -> None:
        self.session = session
        self.shapes: list[tuple[int, ...]] = []

    def run(self, names, feeds):
        self.shapes.append(feeds["input_ids"].shape)
        return self.session.run(names, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


@pytest.mark.parametrize(  # feeds built for all calls, or a few at a time
    "limit", [None, ("BLOCK_TOKENS", 100), ("BLOCK_CANDIDATES", 5000)]
)
def test_model_calls_are_the_string_path_s_over_several_documents(
    folder: Path, monkeypatch, limit: tuple[str, int] | None
):
    import lime_cli.models.token_splice as token_splice

    if limit:
        monkeypatch.setattr(token_splice, *limit)
    # A long document (150 distinct words of several tokens each), then short ones.
    vocabulary = sorted(set(" ".join(SENTENCES).split()))
    long = " ".join(a + b for a in vocabulary[:15] for b in vocabulary[15:25])
    texts = [long, DOCUMENTS[0], DOCUMENTS[2]]
    calls, found = [], []
    for splice in (True, False):
        model = load(folder)
        model.session = RecordingSession(model.session)
        for text in texts:
            domain = TextDomain(text)
            if splice:
                domain = for_model(domain, model)
                assert isinstance(domain, SplicedTextDomain)
            params = LimeParams(num_samples=300, seed=1)
            found.append(explain(domain, model, LabelRequest(), params, np.random.default_rng(1)))
        calls.append(model.session.shapes)
    assert calls[0] == calls[1]
    half = len(texts)
    assert [e.to_dict() for e in found[:half]] == [e.to_dict() for e in found[half:]]
    assert len(calls[0]) > 3 * len(texts)  # several calls per document
    # Shortest copies first: each call pads to about its own length, not the document's.
    first_document = [width for _, width in calls[0][:5]]
    assert first_document[0] < first_document[-1] / 2


def test_added_tokens_written_in_the_document_are_left_to_the_tokenizer(folder: Path):
    model = load(folder)
    domain = TextDomain("the bank [SEP] sold shares [CLS] of the club")
    assert model.token_splice(domain) is None
    assert for_model(domain, model) is domain
    # "[" alone cannot make "[SEP]": still spliced when no added token can be matched.
    assert model.token_splice(TextDomain("the bank sold shares")) is not None


def test_a_piece_spanning_two_words_is_left_to_the_tokenizer(folder: Path):
    # "x£5m": BERT keeps "x£5m" whole (no space, no punctuation), LIME has two words.
    assert load(folder).token_splice(TextDomain("bank x£5m goal")) is None


def test_positional_and_character_features_are_left_to_the_tokenizer(folder: Path):
    model = load(folder)
    assert model.token_splice(TextDomain(DOCUMENTS[0], bow=False)) is None
    assert model.token_splice(TextDomain(DOCUMENTS[0], char_level=True)) is None


def test_a_splice_that_differs_from_the_tokenizer_is_never_used(folder: Path, monkeypatch):
    import lime_cli.models.token_splice as token_splice

    model = load(folder)
    real = token_splice._pieces

    def off_by_one(tokenizer, spans):
        found = real(tokenizer, spans)
        if found is None or not len(found.ids):
            return found
        found.ids[-1] += 1  # one wrong id at the end of the document
        return found

    monkeypatch.setattr(token_splice, "_pieces", off_by_one)
    assert model.token_splice(TextDomain(DOCUMENTS[0])) is None


def byte_level_bpe(path: Path) -> Path:
    """A GPT-2/RoBERTa style tokenizer: byte-level BPE, the space inside the next word."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"])
    tok.train_from_iterator(SENTENCES, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    tok.save(str(path))
    return path


def test_byte_level_bpe_is_tokenised_as_strings(tmp_path):
    tok = byte_level_bpe(tmp_path / "tokenizer.json")
    path = bag_of_tokens_graph(tmp_path / "model.onnx", token_weights(tok, WORDS, 2))
    model = load_model(str(path), purpose="text")
    assert model.splicer is None
    domain = TextDomain(DOCUMENTS[0])
    assert for_model(domain, model) is domain
    params = LimeParams(num_samples=200, seed=1)
    found = explain(domain, model, LabelRequest(), params, np.random.default_rng(1))
    assert found.explanations[0].features
