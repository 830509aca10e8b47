"""Word counts spliced from the document's own: exactly the vectorizer's, or not used.

Every pipeline is trained here on a few sentences. The reference is always the
pipeline itself, run on the perturbed strings the text domain builds (the
string path).
"""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
from _cli import run
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

from lime_cli.engine import LabelRequest, LimeParams, explain
from lime_cli.errors import ModelError
from lime_cli.models.count_splice import CountedBatch, count_splice
from lime_cli.models.sklearn_adapter import SklearnModel
from lime_cli.text.domain import TextDomain
from lime_cli.text.spliced import SplicedTextDomain, for_model

TRAIN = [
    "the striker scored a late goal for the club",
    "a goal and another goal, the keeper saved nothing",
    "Café naïve fans cheered the GOAL in München",
    "the bank sold shares as markets fell",
    "shares in the bank rose; investors bought bonds",
    "markets, bonds and shares: the bank's quarter",
]
LABELS = [0, 0, 0, 1, 1, 1]
DOCUMENTS = [
    "The striker scored a late goal while the bank sold shares of the club.",
    # Accents, a ligature, CJK, curly quotes, dashes, nbsp, tabs, repeated words.
    "Café naïve — “quoted” e-mail: a+b=c, 3.14%! 東京 ﬁnal Ümlaut\u00a0nbsp\ttab GOAL goal goal",
    "   Shares rose and the BANK paid; the goal (2-1) came late.\n\nNew paragraph.  ",
]

VECTORIZERS = {
    "count": lambda: CountVectorizer(),
    "tfidf": lambda: TfidfVectorizer(sublinear_tf=True),
    "tfidf-l1-accents-stop": lambda: TfidfVectorizer(
        norm="l1", strip_accents="unicode", stop_words="english"
    ),
    "count-binary-cased-single": lambda: CountVectorizer(
        binary=True, lowercase=False, token_pattern=r"(?u)\b\w+\b"
    ),
    "tfidf-min-df": lambda: TfidfVectorizer(min_df=2, use_idf=False),
}


def pipeline(vectorizer, classifier=None):
    classifier = classifier or LogisticRegression(max_iter=1000)
    return make_pipeline(vectorizer, classifier).fit(TRAIN, LABELS)


def assert_vectorizers_output(splice, estimator, domain, z) -> None:
    """The splice's output for copies ``z`` is the vectorizer's on their texts."""
    ours, theirs = splice.features(z), estimator[0].transform(domain.to_model_input(z))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert (ours != theirs).nnz == 0


def model_of(estimator) -> SklearnModel:
    return SklearnModel(estimator, path="inline", fmt="joblib")


@pytest.mark.parametrize("name", sorted(VECTORIZERS))
@pytest.mark.parametrize("text", DOCUMENTS)
def test_spliced_inputs_are_the_vectorizers_own(name, text):
    estimator = pipeline(VECTORIZERS[name]())
    domain = TextDomain(text)
    splice = count_splice(estimator, domain)
    assert splice is not None
    z = np.random.default_rng(1).integers(0, 2, size=(300, domain.num_features)).astype(np.uint8)
    ours = splice.features(z)
    theirs = estimator[0].transform(domain.to_model_input(z))
    assert ours.dtype == theirs.dtype
    assert (ours != theirs).nnz == 0
    model = model_of(estimator)
    assert np.array_equal(
        model.predict(CountedBatch(splice, z)), model.predict(domain.to_model_input(z))
    )


@pytest.mark.parametrize("classifier", [LogisticRegression(max_iter=1000), MultinomialNB()])
def test_explanations_are_identical_spliced_or_not(classifier):
    model = model_of(pipeline(TfidfVectorizer(), classifier))
    for text in DOCUMENTS:
        domain = TextDomain(text)
        spliced = for_model(domain, model)
        assert isinstance(spliced, SplicedTextDomain)
        params = LimeParams(num_samples=600, seed=5)
        plain = explain(domain, model, LabelRequest(), params, np.random.default_rng(5))
        fast = explain(spliced, model, LabelRequest(), params, np.random.default_rng(5))
        assert [(f.index, f.weight, f.interval) for f in plain.explanations[0].features] == [
            (f.index, f.weight, f.interval) for f in fast.explanations[0].features
        ]
        assert plain.prediction == fast.prediction


@pytest.mark.parametrize(
    "vectorizer",
    [
        CountVectorizer(ngram_range=(1, 2)),  # bigrams reach across a dropped word
        CountVectorizer(analyzer="char_wb"),
        CountVectorizer(tokenizer=str.split, token_pattern=None),
        CountVectorizer(token_pattern=r"\S+"),  # terms may hold punctuation
        CountVectorizer(preprocessor=lambda s: s.lower()[:30]),  # sees the whole document
    ],
    ids=["bigrams", "characters", "own-tokenizer", "other-pattern", "own-preprocessor"],
)
def test_vectorizers_it_cannot_splice_exactly_are_left_alone(vectorizer):
    domain = TextDomain(DOCUMENTS[0])
    assert count_splice(pipeline(vectorizer), domain) is None


def test_only_bag_of_words_features_and_word_free_separators():
    estimator = pipeline(CountVectorizer())
    assert count_splice(estimator, TextDomain(DOCUMENTS[0], bow=False)) is None
    assert count_splice(estimator, TextDomain(DOCUMENTS[0], char_level=True)) is None
    # Split on spaces and underscores: "_" is a word character, so a separator
    # can join two words into one term once the word between them is dropped.
    assert count_splice(estimator, TextDomain("goal_the bank", split_expression=r"[ _]+")) is None
    assert count_splice(estimator, TextDomain("goal the bank", split_expression=r"[ _]+"))


@pytest.mark.parametrize(
    ("vectorizer", "train", "text", "split"),
    [
        # The small form of a capital sigma depends on the letters around it.
        (CountVectorizer(), ["ασ ββ", "ας γγ"], "ΑΣ.12.ΒΒ", r"\W+"),
        # Accent stripping drops the apostrophe: "l’Avion" is read as "lavion".
        (TfidfVectorizer(strip_accents="ascii"), ["avion vol", "train"], "l’Avion avion", r"\W+"),
        # A lookahead split makes a word of the space between "a" and "xy".
        (CountVectorizer(token_pattern=r"\b\w+\b"), ["a b", "xy c"], "a xy", r" (?=x)"),
        # Accent stripping makes letters of "™".
        (
            CountVectorizer(strip_accents="unicode", lowercase=False, vocabulary=["abTM", "x"]),
            ["abTM x", "x"],
            "ab™cd x",
            r"\W+",
        ),
    ],
    ids=["final-sigma", "ascii-apostrophe", "lookahead-split", "trademark"],
)
def test_separators_that_the_vectorizer_would_not_keep_apart_stop_the_splice(
    vectorizer, train, text, split
):
    """Cases found by a review where the splice had been used and some copies differed."""
    estimator = make_pipeline(vectorizer, LogisticRegression()).fit(train, [0, 1])
    domain = TextDomain(text, split_expression=split)
    assert count_splice(estimator, domain) is None


def test_a_splice_that_disagrees_with_the_vectorizer_is_not_used(monkeypatch):
    """The last guard: the splice's output is compared with the vectorizer's on
    the document, the document without words and random copies."""
    from lime_cli.models import count_splice as module

    estimator = pipeline(CountVectorizer())
    domain = TextDomain(DOCUMENTS[0])
    assert count_splice(estimator, domain) is not None
    honest = module.CountSplice.features

    def off_by_one(self, z):
        out = honest(self, z).tolil()
        out[len(z) - 1, 0] += 1  # one count wrong in the last copy checked
        return out.tocsr()

    monkeypatch.setattr(module.CountSplice, "features", off_by_one)
    assert count_splice(estimator, domain) is None


def test_a_failing_tail_is_a_model_error():
    estimator = pipeline(TfidfVectorizer())
    model = model_of(estimator)
    splice = count_splice(estimator, TextDomain(DOCUMENTS[0]))
    assert splice is not None
    estimator.steps[-1] = ("broken", object())
    with pytest.raises(ModelError):
        model.predict(CountedBatch(splice, np.ones((2, splice.num_features), dtype=np.uint8)))


def test_the_command_gives_the_same_json_spliced_or_not(tmp_path, monkeypatch):
    path = tmp_path / "m.joblib"
    joblib.dump(pipeline(TfidfVectorizer(sublinear_tf=True)), path)
    doc = tmp_path / "doc.txt"
    doc.write_text(DOCUMENTS[1], encoding="utf-8")
    args = ("text", "--model", path, doc, "--seed", "3", "--format", "json", "--num-samples", "500")
    spliced = run(*args)
    monkeypatch.setattr(SklearnModel, "token_splice", lambda self, domain: None)
    plain = run(*args)
    assert spliced.exit_code == plain.exit_code == 0
    assert json.loads(spliced.stdout) == json.loads(plain.stdout)


@pytest.mark.parametrize("name", ["count", "tfidf", "count-binary-cased-single"])
def test_copies_counted_in_blocks_are_the_vectorizers_own(name, monkeypatch):
    """A document of many distinct words is counted a block of copies at a time
    (bounded memory): the same counts and output as the vectorizer's."""
    from lime_cli.models import count_splice as module

    monkeypatch.setattr(module, "COUNT_ENTRIES", 40)  # a few copies a block
    estimator = pipeline(VECTORIZERS[name]())
    domain = TextDomain(DOCUMENTS[0] + " " + DOCUMENTS[2])
    splice = count_splice(estimator, domain)
    assert splice is not None
    z = np.random.default_rng(2).integers(0, 2, size=(37, domain.num_features)).astype(np.uint8)
    assert len(splice.terms) * 37 > 40 * 5  # several blocks
    assert_vectorizers_output(splice, estimator, domain, z)


@pytest.mark.parametrize("term_by_term", [True, False], ids=["term-by-term", "table"])
@pytest.mark.parametrize("name", ["count", "tfidf"])
def test_terms_of_several_words_are_counted_as_the_vectorizer_counts_them(
    name, term_by_term, monkeypatch
):
    """A term written several ways (``Goal``, ``goal``, ``GOAL``) is one column
    whose count sums the kept spellings' occurrences; such terms side by side,
    first and last in the vocabulary's order, and among single-spelling ones.
    Their counts are written term by term when they are few, through a table
    of every cell when they are many: both ways checked."""
    from lime_cli.models import count_splice as module

    monkeypatch.setattr(module, "FEW_SEVERAL", 64 if term_by_term else 0)
    estimator = pipeline(VECTORIZERS[name]())
    text = (
        "Bank bank BANK bank goal Goal goal GOAL shares. Shares, the The THE the; a "
        "Striker striker scored bonds Bonds bonds markets Markets keeper"
    )
    domain = TextDomain(text)
    splice = count_splice(estimator, domain)
    assert splice is not None
    assert len(np.unique(splice.more[:, 0])) >= 5  # several terms of several words
    z = np.random.default_rng(4).integers(0, 2, size=(300, domain.num_features)).astype(np.uint8)
    z[0], z[1] = 1, 0  # the document and none of its words
    assert_vectorizers_output(splice, estimator, domain, z)
    counts = splice.counts(z)
    reference = CountVectorizer.transform(estimator[0], domain.to_model_input(z))
    assert (counts != reference).nnz == 0 and counts.dtype == reference.dtype


def test_a_document_without_a_word_of_the_vocabulary_is_spliced_too():
    """No term to count: every copy's counts are empty, as the vectorizer's."""
    estimator = pipeline(VECTORIZERS["tfidf"]())
    domain = TextDomain("zzqx, qqvv; wxyz")
    splice = count_splice(estimator, domain)
    assert splice is not None and len(splice.terms) == 0
    z = np.random.default_rng(5).integers(0, 2, size=(20, domain.num_features)).astype(np.uint8)
    ours, theirs = splice.features(z), estimator[0].transform(domain.to_model_input(z))
    assert ours.shape == theirs.shape == (20, len(estimator[0].vocabulary_))
    assert ours.nnz == theirs.nnz == 0 and ours.dtype == theirs.dtype
