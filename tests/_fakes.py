"""Models with known behaviour for the engine and CLI tests.

Engine tests need models whose answer is a known function of the words present
(so the right explanation is known in advance); CLI tests need misbehaving
estimators that can be saved with joblib (they live here, at module level, so
pickle can find them again: load them with ``--trust-module _fakes``), and a
tiny real scikit-learn text classifier trained in a fraction of a second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

WORD = re.compile(r"\w+")


def words_in(doc: str) -> set[str]:
    """The distinct words of a document, split as lime's default ``\\W+`` does."""
    return set(WORD.findall(doc))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


# -- engine-level model adapters (predict(batch) -> (n, k)) ---------------------


class AdapterBase:
    """What the engine needs from a model adapter, plus a record of every call."""

    mode = "classification"

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = list(classes)
        self.batches: list[list[str]] = []

    @property
    def input_spec(self) -> Any:
        from lime_cli.engine.protocols import InputSpec

        return InputSpec("text", None, (None,))

    def predict(self, batch: Any) -> np.ndarray:
        docs = list(batch)
        self.batches.append(docs)
        return self.answer(docs)

    def answer(self, docs: list[str]) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"path": "fake", "format": "fake", "mode": self.mode, "classes": list(self.classes)}


class WordLogitModel(AdapterBase):
    """Softmax over classes of summed word weights: the logit of each class is linear
    in the presence of known words (two classes with one all-zero: a sigmoid)."""

    def __init__(self, logits: dict[str, dict[str, float]]) -> None:
        super().__init__(list(logits))
        self.logits = logits

    def answer(self, docs: list[str]) -> np.ndarray:
        scores = np.zeros((len(docs), len(self.classes)))
        for i, doc in enumerate(docs):
            present = words_in(doc)
            for c, name in enumerate(self.classes):
                scores[i, c] = sum(w for word, w in self.logits[name].items() if word in present)
        return softmax(scores)


class LinearProbabilityModel(AdapterBase):
    """Two classes whose probability is exactly linear in the known words present."""

    def __init__(self, base: float, weights: dict[str, float]) -> None:
        super().__init__(["neg", "pos"])
        self.base = base
        self.weights = weights

    def answer(self, docs: list[str]) -> np.ndarray:
        p = np.array(
            [self.base + sum(w for t, w in self.weights.items() if t in words_in(d)) for d in docs]
        )
        return np.column_stack([1.0 - p, p])


class FunctionModel(AdapterBase):
    """Answers with ``func(docs)`` as it is, so tests can return anything."""

    def __init__(
        self,
        classes: Sequence[str],
        func: Callable[[list[str]], Any],
        mode: str = "classification",
    ) -> None:
        super().__init__(classes)
        self.func = func
        self.mode = mode

    def answer(self, docs: list[str]) -> np.ndarray:
        return self.func(docs)


# -- misbehaving estimators that survive joblib.dump (CLI tests) ----------------


class _TwoClassEstimator:
    classes_ = np.array(["ham", "spam"])

    def fit(self, x: Any, y: Any = None) -> _TwoClassEstimator:
        return self

    def predict(self, x: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]


class RaisingClassifier(_TwoClassEstimator):
    """predict_proba fails with ``message`` (many libraries' messages span lines)."""

    def __init__(self, message: str = "cannot score these documents") -> None:
        self.message = message

    def predict_proba(self, x: Any) -> np.ndarray:
        raise ValueError(self.message)


class NaNClassifier(_TwoClassEstimator):
    def predict_proba(self, x: Any) -> np.ndarray:
        return np.full((len(x), 2), np.nan)


class WrongShapeClassifier(_TwoClassEstimator):
    """Declares two classes and answers with three columns."""

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.full((len(x), 3), 1.0 / 3.0)


class ConstantClassifier(_TwoClassEstimator):
    """The same probabilities whatever the input."""

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.tile([0.3, 0.7], (len(x), 1))


class NoClassesClassifier:
    """A valid predict_proba but no ``classes_`` attribute (a hand-written wrapper)."""

    def predict(self, x: Any) -> np.ndarray:
        return np.argmax(self.predict_proba(x), axis=1)

    def predict_proba(self, x: Any) -> np.ndarray:
        p = np.array([0.8 if "spam" in words_in(doc) else 0.2 for doc in x])
        return np.column_stack([1.0 - p, p])


# -- tiny real scikit-learn models ----------------------------------------------

SENTENCES = {
    "sports": [
        "the team won the match with a late goal",
        "the striker scored twice and the team celebrated the win",
        "fans cheered as the players won the final",
        "the coach praised the team after the match",
        "a late goal gave the home team the win",
    ],
    "tech": [
        "the new phone has a faster chip and better software",
        "engineers released a software update for the laptop",
        "the computer chip uses less power than the old one",
        "the app crashed after the software update",
        "the laptop screen and the phone battery improved",
    ],
    "food": [
        "the chef cooked pasta with fresh tomato sauce",
        "we baked bread and a chocolate cake",
        "the soup had garlic onion and fresh herbs",
        "dinner was pasta and a green salad",
        "the cake was sweet and the bread was warm",
    ],
}

SPORTS_DOC = "The striker scored a late goal and the team won the match."


def training_set() -> tuple[list[str], list[str]]:
    docs = [s for label in SENTENCES for s in SENTENCES[label]]
    labels = [label for label in SENTENCES for _ in SENTENCES[label]]
    return docs, labels


def text_classifier() -> Any:
    """TF-IDF + logistic regression on the sentences above (three classes)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    docs, labels = training_set()
    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(docs, labels)


def margin_classifier() -> Any:
    """TF-IDF + LinearSVC: decision_function only, no predict_proba."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    docs, labels = training_set()
    return make_pipeline(TfidfVectorizer(), LinearSVC()).fit(docs, labels)


def text_regressor() -> Any:
    """TF-IDF + ridge regression predicting how 'sporty' a sentence is."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    docs, labels = training_set()
    target = [1.0 if label == "sports" else 0.0 for label in labels]
    return make_pipeline(TfidfVectorizer(), Ridge(alpha=0.1)).fit(docs, target)
