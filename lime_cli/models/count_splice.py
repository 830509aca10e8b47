"""Word counts of LIME's perturbed documents without building or tokenising them.

A scikit-learn text pipeline whose first step is a ``CountVectorizer`` or
``TfidfVectorizer`` turns each document into counts of its vocabulary's
terms, then (tf-idf) weights and normalises them. LIME's perturbed copies of a
document differ from it only by the words they drop (bag of words: every
occurrence of a word goes). When the vectorizer's terms never reach across
the separators between words, a copy's counts are the separators' counts
plus, for each word it keeps, that word's counts over its occurrences:

    counts(copy) = base + z @ per_word        (z the copy's 0/1 row)

So each document's pieces are analysed once, and each block of copies is
counted with a few array operations (:meth:`CountSplice.counts`): no
perturbed string is built and none is tokenised. On BBC
articles the vectorizer's tokenising was 40% of the model's time and building
the strings another 4% (``bench/bench_text.py``).

When it is used (:func:`count_splice`): the vectorizer's ``analyzer`` is
``"word"`` with unigrams (``ngram_range`` (1, 1)), its own preprocessing and
tokenizer (``preprocessor`` and ``tokenizer`` None: a custom one may look at
the whole document) and one of the token patterns that match runs of word
characters (:data:`WORD_RUN_PATTERNS`, the default among them), it reads
``input="content"``; the text features are bag-of-words (not positional, not
characters), words alternate with separators, and every separator is still a
non-empty run of non-word characters after the vectorizer's lowercasing and
accent stripping (no capital sigma when lowercasing: its small form depends
on its neighbours). Then a
term is a run of word characters, runs end at every separator whatever is
dropped, and the sum is exact; ``lowercase``, ``strip_accents``,
``stop_words``, the vocabulary's limits and ``binary`` apply per term.

Finally the splice is checked against the vectorizer itself (its counts and
its output, compared exactly) on the document, the document without words and
a few random copies: any difference and the document's copies go through the
pipeline as strings, as before. It is a speed-up, never a second opinion. The
output is the vectorizer's tf-idf weighting of the counts it made, which is
how scikit-learn's ``TfidfVectorizer.transform`` computes it, so the copies
are tokenised once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Token patterns whose matches are runs of word characters (``\w``), each
#: ending where a non-word character (or the text) does.
WORD_RUN_PATTERNS = frozenset(
    {r"(?u)\b\w\w+\b", r"(?u)\b\w+\b", r"\b\w\w+\b", r"\b\w+\b", r"(?u)\w+", r"\w+"}
)
#: (Copy, term) cells counted at once (:meth:`CountSplice.counts`): bounds the
#: dense blocks' memory whatever the document's number of distinct words.
COUNT_ENTRIES = 1 << 21
#: Up to this many terms of several entries (``The`` and ``the``) have their
#: counts written term by term (a few operations each, on a column of copies);
#: beyond, every (copy, term) cell's count goes in one table first (a fixed
#: cost, about 1 ms per 1000 copies of an article, whatever their number).
FEW_SEVERAL = 64
#: Random copies of the document checked against the vectorizer per document.
CHECKED_COPIES = 6
#: Seed of the checked copies (their own stream: the explanation's is not touched).
CHECK_SEED = 0
_WORD_CHARACTER = re.compile(r"\w")


@dataclass(frozen=True)
class CountSplice:
    """How to compute the first step's output for any perturbed copy of one document.

    The document's term counts are a table of entries ``(source, term, count)``:
    word feature ``source`` (or ``d``, the separators, kept in every copy) adds
    ``count`` to vocabulary column ``term``. Most terms have one entry (one
    word); a few have more (``The`` and ``the`` both count ``the``). A block of
    copies is counted as a dense boolean (copies x terms) array of the present
    terms, in vocabulary order, from which the non-zero counts are read row by
    row: the CSR rows come out with sorted columns and no zeros, as the
    vectorizer makes them, so nothing is sorted afterwards (a sparse product,
    then sorting, took 6 ms for 1000 copies of a BBC article; int32 arrays of
    the counts, 1.4 ms; this, 0.9 ms). Memory: a block holds at most
    :data:`COUNT_ENTRIES` copies x (words, terms or extra entries, whichever
    are most) cells, so a document of many distinct words is counted in
    blocks of fewer copies: boolean arrays of the kept words and present
    terms (2 MB each at most), the extra entries' counts and, with many terms
    of several entries, a table of every cell's count (8 bytes a cell: 16 MB
    at most each), and up to 32 bytes per non-zero count; the result is one
    CSR matrix.

    Attributes
    ----------
    terms : ndarray of intp, shape (u,)
        The document's vocabulary columns, ascending.
    sources : ndarray of intp, shape (u,)
        Each term's first entry's word feature (``d`` for the separators).
    amounts : ndarray of int32, shape (u,)
        Each term's first entry's count.
    more : ndarray of intp, shape (r, 3)
        The other entries, as (position in ``terms``, source, count).
    vocabulary_size : int
        ``V``, the width of the vectorizer's output.
    dtype : numpy dtype
        The vectorizer's ``dtype`` (its count matrices').
    binary : bool
        Counts clipped to 1 (``binary=True``).
    finish : callable
        Counts to the first step's output: the tf-idf weighting and norm of a
        ``TfidfVectorizer``, nothing for a ``CountVectorizer``.
    num_features : int
        ``d``, the document's word features.
    shares_calls : bool
        Whether the pipeline answers each row on its own, whatever rows share
        its call (:func:`answers_rows_alone`): then several documents' copies
        may go in one call (:mod:`lime_cli.text.stacked`).
    """

    terms: np.ndarray
    sources: np.ndarray
    amounts: np.ndarray
    more: np.ndarray
    vocabulary_size: int
    dtype: Any
    binary: bool
    finish: Callable[[Any], Any]
    num_features: int
    shares_calls: bool = False

    def features(self, z: np.ndarray) -> Any:
        """The first step's output for sample rows ``z`` (b, d) of 0/1: a CSR matrix
        (b, V), the same as the vectorizer's ``transform`` of the copies' texts."""
        return self.finish(self.counts(z))

    def counts(self, z: np.ndarray) -> Any:
        """The copies' term counts (b, V), CSR, as the vectorizer counts them
        (its dtype, sorted indices, no stored zeros, clipped to 1 when binary)."""
        from scipy import sparse

        z = np.asarray(z)
        widest = max(1, len(self.terms), self.num_features + 1, len(self.more))
        rows = max(1, COUNT_ENTRIES // widest)
        if z.shape[0] <= rows:
            return self._counted(z)
        blocks = [self._counted(z[start : start + rows]) for start in range(0, len(z), rows)]
        counts = sparse.vstack(blocks, format="csr")
        counts.has_sorted_indices = True  # each block's rows are
        return counts

    def _counted(self, z: np.ndarray) -> Any:
        """:meth:`counts` of a block of copies.

        Which terms each copy has is one boolean gather of its kept words
        (``present``, copies x terms); a present term's count is its first
        entry's amount, read per non-zero. The few terms of several entries
        (:attr:`more`) are summed apart, on their own columns
        (:meth:`_several`), and written over their non-zeros' counts.
        """
        from scipy import sparse

        b, u = z.shape[0], len(self.terms)
        kept = np.empty((b, self.num_features + 1), dtype=bool)
        np.not_equal(z, 0, out=kept[:, :-1])
        kept[:, -1] = True  # column d: the separators, in every copy
        present = kept[:, self.sources]  # (b, u)
        several = self._several(kept) if len(self.more) else None
        if several is not None:
            positions, totals = several
            present[:, positions] = totals != 0
        per_row = np.count_nonzero(present, axis=1)
        indptr = np.zeros(b + 1, dtype=np.int64)
        np.cumsum(per_row, out=indptr[1:])
        # Row by row, columns ascending within a row: a position in the flattened
        # (b, u) array less its row's start is the term's position in ``terms``.
        flat = np.flatnonzero(present)
        data = None
        if several is not None and not self.binary and len(several[0]) > FEW_SEVERAL:
            # Many such terms: every cell's count in one (b, u) table, read per non-zero.
            table = np.empty((b, u), dtype=self.dtype)
            table[:] = self.amounts
            table[:, several[0]] = several[1]
            data = table.ravel().take(flat)
        if u:
            flat -= np.repeat(np.arange(0, b * u, u, dtype=np.int64), per_row)
        columns = self.terms.take(flat)
        if self.binary:
            data = np.ones(len(flat), dtype=self.dtype)
        elif data is None:
            data = self.amounts.astype(self.dtype).take(flat)
            if several is not None:
                _write_several(data, present, indptr, *several)
        counts = sparse.csr_matrix((data, columns, indptr), shape=(b, self.vocabulary_size))
        counts.has_sorted_indices = True
        return counts

    def _several(self, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The terms of several entries: their positions in ``terms`` (ascending,
        P of them) and each copy's count of each, (b, P) int64, from ``kept``
        (b, d + 1). :attr:`more` lists a term's other entries together, in term
        order, so each term's extra counts are one slice summed (``reduceat``)."""
        more = self.more
        positions, first = np.unique(more[:, 0], return_index=True)
        totals = kept[:, self.sources[positions]] * self.amounts[positions].astype(np.int64)
        totals += np.add.reduceat(kept[:, more[:, 1]] * more[:, 2], first, axis=1)
        return positions, totals

    def batch(self, z: np.ndarray) -> CountedBatch:
        """A block of copies as the model's adapter takes them."""
        return CountedBatch(self, np.asarray(z))


@dataclass(frozen=True)
class CountedBatch:
    """A block of perturbed copies of one document, for a spliced scikit-learn pipeline:
    the sample rows ``z`` (b, d) and the splice (see
    :meth:`lime_cli.models.sklearn_adapter.SklearnModel.predict`)."""

    splice: CountSplice
    z: np.ndarray

    def __len__(self) -> int:
        return int(self.z.shape[0])

    def features(self) -> Any:
        """What the pipeline's second step takes: the first step's output (b, V)."""
        return self.splice.features(self.z)


@dataclass(frozen=True)
class StackedCounts:
    """Blocks of perturbed copies of several documents in one model call, for the
    same spliced pipeline: ``parts`` are (splice, sample rows) pairs, in order
    (see :mod:`lime_cli.text.stacked`)."""

    parts: tuple[tuple[CountSplice, np.ndarray], ...]

    def __len__(self) -> int:
        return sum(int(z.shape[0]) for _, z in self.parts)

    def features(self) -> Any:
        """The first step's output for every part's rows, stacked (rows, V): the
        counts of each document, then one tf-idf weighting (row by row, so the
        same as each document's own)."""
        from scipy import sparse

        counts = sparse.vstack([splice.counts(z) for splice, z in self.parts], format="csr")
        return self.parts[0][0].finish(counts)


def splice_vectorizer(estimator: Any) -> Any:
    """The pipeline's first step when it is a vectorizer :func:`count_splice` can
    splice, else None."""
    steps = getattr(estimator, "steps", None)
    if not steps or len(steps) < 2:
        return None
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    first = steps[0][1]
    # Exactly these classes: a subclass may analyse documents its own way.
    if type(first) not in (CountVectorizer, TfidfVectorizer) or not hasattr(first, "vocabulary_"):
        return None
    if isinstance(first, TfidfVectorizer) and getattr(first, "_tfidf", None) is None:
        return None
    if (
        first.analyzer != "word"
        or tuple(first.ngram_range) != (1, 1)
        or first.tokenizer is not None
        or first.preprocessor is not None
        or callable(first.strip_accents)
        or first.input != "content"
        or first.token_pattern not in WORD_RUN_PATTERNS
    ):
        return None
    return first


def count_splice(estimator: Any, domain: Any) -> CountSplice | None:
    """The splice of ``domain``'s document for ``estimator``, or None when it would not
    be exact (see the module docstring) or the check against the vectorizer fails."""
    vectorizer = splice_vectorizer(estimator)
    if vectorizer is None or not domain.bow or domain.char_level:
        return None
    tokens: list[str] = list(domain.tokens)
    owner = np.asarray(domain.token_feature)
    if not _separated(tokens, owner, vectorizer, domain.text):
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyse = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    d = domain.num_features
    terms_of: dict[str, list[int]] = {}  # a word's vocabulary columns, analysed once
    table: dict[tuple[int, int], int] = {}  # (source, term) -> count; d: the separators
    for token, feature in zip(tokens, owner):
        columns = terms_of.get(token)
        if columns is None:
            found = (vocabulary.get(term) for term in analyse(token))
            columns = terms_of[token] = [c for c in found if c is not None]
        source = int(feature) if feature >= 0 else d
        for column in columns:
            table[source, column] = table.get((source, column), 0) + 1
    keys = sorted(table, key=lambda key: (key[1], key[0]))  # term order
    entries = np.array([(term, source, table[source, term]) for source, term in keys])
    entries = entries.reshape(-1, 3).astype(np.intp)
    terms, first = np.unique(entries[:, 0], return_index=True)
    later = np.ones(len(entries), dtype=bool)
    later[first] = False
    more = entries[later]
    more[:, 0] = np.searchsorted(terms, more[:, 0])  # a term's position in ``terms``
    # The counts handed to ``finish`` are always new (made for it): weighting
    # them in place saves the transformer's copy of every block.
    finish: Callable[[Any], Any] = (
        functools.partial(vectorizer._tfidf.transform, copy=False)
        if isinstance(vectorizer, TfidfVectorizer)
        else _same
    )
    splice = CountSplice(
        terms=terms,
        sources=entries[first, 1],
        amounts=entries[first, 2].astype(np.int32),  # counts within one document
        more=more,
        vocabulary_size=len(vocabulary),
        dtype=vectorizer.dtype,
        binary=bool(vectorizer.binary),
        finish=finish,
        num_features=d,
        shares_calls=answers_rows_alone(estimator),
    )
    return splice if _agrees(splice, vectorizer, domain) else None


def answers_rows_alone(estimator: Any) -> bool:
    """Whether every step after the vectorizer is known to answer a row of word
    counts from that row alone, in the same arithmetic whichever rows share the
    call: steps that keep the counts sparse (tf-idf weighting, row norms,
    column selection) and a final tree, forest, naive Bayes or linear model
    on sparse rows (SciPy's sparse-dense product sums each row on its own).

    Not so a dense matrix product: OpenBLAS picks its kernel by the whole
    call's size, and a ``TruncatedSVD`` -> ``MLPClassifier`` pipeline answered
    the same row differently in a call of 5,040 rows and one of 6,048 (in the
    last bits). Classes are matched exactly: a subclass may compute otherwise.
    """
    steps = getattr(estimator, "steps", None)
    if not steps or len(steps) < 2:
        return False
    middle, final = _row_wise_classes()
    *between, last = [step for _, step in steps[1:]]
    return all(type(step) in middle for step in between) and type(last) in final


@functools.cache
def _row_wise_classes() -> tuple[frozenset[type], frozenset[type]]:
    """The steps and the final models of :func:`answers_rows_alone` (imported when
    first asked: scikit-learn is loaded with the model)."""
    from sklearn import ensemble, linear_model, naive_bayes, svm, tree
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.feature_selection import SelectKBest, SelectPercentile, VarianceThreshold
    from sklearn.preprocessing import MaxAbsScaler, Normalizer

    steps = frozenset(
        {TfidfTransformer, Normalizer, MaxAbsScaler, SelectKBest, SelectPercentile,
         VarianceThreshold}
    )  # fmt: skip
    models = frozenset(
        {ensemble.RandomForestClassifier, ensemble.ExtraTreesClassifier,
         ensemble.RandomForestRegressor, ensemble.ExtraTreesRegressor,
         tree.DecisionTreeClassifier, tree.ExtraTreeClassifier, tree.DecisionTreeRegressor,
         naive_bayes.MultinomialNB, naive_bayes.ComplementNB, naive_bayes.BernoulliNB,
         linear_model.LogisticRegression, linear_model.SGDClassifier,
         linear_model.RidgeClassifier, linear_model.Perceptron,
         linear_model.PassiveAggressiveClassifier, linear_model.Ridge,
         linear_model.SGDRegressor, svm.LinearSVC, svm.LinearSVR}
    )  # fmt: skip
    return steps, models


def _same(counts: Any) -> Any:
    return counts


def _write_several(
    data: np.ndarray,
    present: np.ndarray,
    indptr: np.ndarray,
    positions: np.ndarray,
    totals: np.ndarray,
) -> None:
    """Write the counts ``totals`` (b, P) of the terms at ``positions``
    (ascending) over their non-zeros in ``data`` (CSR order, in place).

    A term's non-zero in row ``r`` sits at ``indptr[r]`` plus the present
    terms before it in that row, counted from one such term to the next: one
    pass over ``present`` (b, u) in all, and a few operations on columns of b
    per term.
    """
    before = indptr[:-1].copy()
    start = 0
    for k, position in enumerate(positions):
        before += np.count_nonzero(present[:, start:position], axis=1)
        start = position
        rows = np.flatnonzero(present[:, position])
        data[before[rows]] = totals[rows, k]


def _separated(tokens: list[str], owner: np.ndarray, vectorizer: Any, text: str) -> bool:
    """Whether every two words stay apart as the vectorizer reads the text, whatever
    is dropped: no two words side by side (a split expression with lookarounds
    can make a word of a separator, or cut between two words), and every
    separator still a non-empty run of non-word characters after the
    vectorizer's preprocessing (``strip_accents`` can drop a "’" or a combining
    mark, or make letters of "™"). Lowercasing is per character except for a
    capital sigma, whose small form depends on the letters around it."""
    words = owner >= 0
    if bool(np.any(words[1:] & words[:-1])):
        return False
    if vectorizer.lowercase and "\u03a3" in text:
        return False
    preprocess = vectorizer.build_preprocessor()
    for token, feature in zip(tokens, owner):
        if feature < 0:
            kept = preprocess(token)
            if not kept or _WORD_CHARACTER.search(kept):
                return False
    return True


def _agrees(splice: CountSplice, vectorizer: Any, domain: Any) -> bool:
    """Whether the splice gives exactly the vectorizer's counts and output on the
    document, the document without words and a few random copies (the counts
    too: a normalised output can hide a wrong count)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    d = domain.num_features
    rng = np.random.default_rng(CHECK_SEED)
    z = np.vstack(
        [np.ones((1, d)), np.zeros((1, d)), rng.integers(0, 2, size=(CHECKED_COPIES, d))]
    ).astype(np.uint8)
    try:
        texts = domain.to_model_input(z)
        counts = CountVectorizer.transform(vectorizer, texts)
        # The vectorizer's transform is its counts, then (tf-idf) its weighting:
        # scikit-learn's TfidfVectorizer.transform, for exactly these classes,
        # from the counts already made (tokenising the copies once, not twice).
        tfidf = isinstance(vectorizer, TfidfVectorizer)
        output = vectorizer._tfidf.transform(counts) if tfidf else counts
        pairs = [(splice.counts(z), counts), (splice.features(z), output)]
    except Exception:  # the vectorizer refuses something: leave it to the string path
        return False
    return all(
        ours.shape == theirs.shape and ours.dtype == theirs.dtype and (ours != theirs).nnz == 0
        for ours, theirs in pairs
    )
