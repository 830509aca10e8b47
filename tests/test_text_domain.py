"""The text domain splits, perturbs and measures text exactly as lime 0.2.0.1 does.

lime's own ``IndexedString`` and ``IndexedCharacters`` are the reference for
features and perturbed documents; scikit-learn's cosine distance for the
kernel's distances.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from lime.lime_text import IndexedCharacters, IndexedString
from sklearn.metrics.pairwise import cosine_distances

from lime_cli.errors import InputError, UsageError
from lime_cli.text.domain import TextDomain

TEXTS = {
    "punctuation_and_repeats": "Hello, world! Hello again; the world is big.",
    "outer_spaces": "  leading and trailing spaces  ",
    "accents_and_cjk": "Ünïcödé wörds: café, naïve façade — 東京 タワー and émigré café.",
    "repeated_words": "repeated repeated repeated word word repeated",
    "brackets_and_joiners": "punctuation!!! ... ?? (brackets) [more] {braces} a-b c_d e'f",
    "numbers": "numbers 123 4.56 and 7,890 dollars $12",
    "newlines_and_tabs": "new\nlines\tand\ttabs\r\nhere\n",
    "one_letter": "x",
    "emoji": "emoji 😀 test 😀 ok",
    "cases": "The the THE tHe",
    "leading_separators": "...starts with separators and ends without",
}


def lime_index(text: str, bow: bool, char_level: bool, **kwargs: object) -> object:
    if char_level:
        return IndexedCharacters(text, bow=bow, **kwargs)
    return IndexedString(text, bow=bow, **kwargs)


def removal_sets(d: int, seed: int) -> list[list[int]]:
    """Feature ids to remove: each single one, all, and random subsets."""
    rng = np.random.default_rng(seed)
    sets = [[j] for j in range(min(d, 6))] + [list(range(d))]
    for _ in range(8):
        size = int(rng.integers(1, d + 1))
        sets.append(sorted(rng.choice(d, size=size, replace=False).tolist()))
    return sets


def row_without(d: int, removed: list[int]) -> np.ndarray:
    row = np.ones((1, d), dtype=np.uint8)
    row[0, removed] = 0
    return row


# -- features as lime indexes them ---------------------------------------------------


@pytest.mark.parametrize("char_level", [False, True], ids=["words", "chars"])
@pytest.mark.parametrize("bow", [True, False], ids=["bow", "positional"])
@pytest.mark.parametrize("text", TEXTS.values(), ids=list(TEXTS))
def test_features_and_positions_match_lime(text, bow, char_level):
    domain = TextDomain(text, bow=bow, char_level=char_level)
    ref = lime_index(text, bow, char_level)
    assert domain.feature_names == [str(w) for w in ref.inverse_vocab]
    for j in range(domain.num_features):
        expected = sorted(int(p) for p in np.ravel(ref.string_position(j)))
        assert sorted(domain.feature_info(j)["positions"]) == expected


@pytest.mark.parametrize("char_level", [False, True], ids=["words", "chars"])
@pytest.mark.parametrize("bow", [True, False], ids=["bow", "positional"])
@pytest.mark.parametrize("text", TEXTS.values(), ids=list(TEXTS))
def test_perturbed_documents_match_lime_inverse_removing(text, bow, char_level):
    domain = TextDomain(text, bow=bow, char_level=char_level)
    ref = lime_index(text, bow, char_level)
    d = domain.num_features
    sets = removal_sets(d, seed=len(text))
    block = np.vstack([np.ones((1, d), dtype=np.uint8)] + [row_without(d, s) for s in sets])
    docs = domain.to_model_input(block)
    assert docs[0] == text
    for removed, doc in zip(sets, docs[1:]):
        assert doc == ref.inverse_removing(removed), removed


@pytest.mark.parametrize(
    "split",
    [r"\s+", r"[ ,.]+", r"(?:, )|\s", r"\d+"],
)
def test_custom_split_expressions_match_lime(split):
    text = "one, two three.four  five, 6 seven 8 eight, two"
    domain = TextDomain(text, split_expression=split)
    ref = IndexedString(text, split_expression=split)
    assert domain.feature_names == list(ref.inverse_vocab)
    d = domain.num_features
    for removed in removal_sets(d, seed=1):
        assert domain.to_model_input(row_without(d, removed))[0] == ref.inverse_removing(removed)


def test_custom_mask_token_matches_lime():
    text = "keep this and mask that, keep this"
    domain = TextDomain(text, bow=False, mask_token="[MASK]")
    ref = IndexedString(text, bow=False, mask_string="[MASK]")
    for removed in removal_sets(domain.num_features, seed=2):
        row = row_without(domain.num_features, removed)
        assert domain.to_model_input(row)[0] == ref.inverse_removing(removed)


def test_words_are_case_sensitive():
    assert TextDomain("The the THE the").feature_names == ["The", "the", "THE"]


def test_positional_mode_makes_each_occurrence_a_feature():
    domain = TextDomain("spam eggs spam ham spam", bow=False)
    assert domain.feature_names == ["spam", "eggs", "spam", "ham", "spam"]


# -- perturbed documents ---------------------------------------------------------


def test_bag_of_words_removes_every_occurrence():
    text = "spam eggs spam ham, spam! Spam"
    domain = TextDomain(text)
    spam = domain.feature_names.index("spam")
    (doc,) = domain.to_model_input(row_without(domain.num_features, [spam]))
    assert re.findall(r"\w+", doc) == ["eggs", "ham", "Spam"]
    assert doc == " eggs  ham, ! Spam"


def test_positional_mode_masks_only_that_occurrence():
    domain = TextDomain("spam eggs spam ham spam", bow=False)
    (doc,) = domain.to_model_input(row_without(5, [2]))
    assert doc == "spam eggs UNKWORDZ ham spam"
    (doc,) = domain.to_model_input(row_without(5, [0, 4]))
    assert doc == "UNKWORDZ eggs spam ham UNKWORDZ"


def test_character_level_masks_with_nul_by_default():
    domain = TextDomain("abca", char_level=True, bow=False)
    assert domain.feature_names == ["a", "b", "c", "a"]
    (doc,) = domain.to_model_input(row_without(4, [1]))
    assert doc == "a\x00ca"
    bow = TextDomain("abca", char_level=True)
    assert bow.feature_names == ["a", "b", "c"]
    (doc,) = bow.to_model_input(row_without(3, [0]))
    assert doc == "bc"


def test_a_block_of_rows_gives_one_document_per_row_in_order():
    domain = TextDomain("alpha beta gamma delta")
    z = domain.sample(40, np.random.default_rng(3))
    docs = domain.to_model_input(z)
    assert len(docs) == 40
    for row, doc in zip(z, docs):
        kept = [w for w, keep in zip(domain.feature_names, row) if keep]
        assert re.findall(r"\w+", doc) == kept


# -- sampling --------------------------------------------------------------------


@pytest.mark.parametrize("d_words", [1, 2, 7, 30])
def test_sample_shape_values_and_first_row(d_words):
    text = " ".join(f"w{i}" for i in range(d_words))
    domain = TextDomain(text)
    z = domain.sample(500, np.random.default_rng(d_words))
    assert z.shape == (500, d_words)
    assert set(np.unique(z).tolist()) <= {0, 1}
    assert z[0].min() == 1
    removed = d_words - z[1:].sum(axis=1)
    assert removed.min() >= 1 and removed.max() <= d_words


def test_number_removed_per_row_is_uniform_on_one_to_d():
    d = 6
    domain = TextDomain("a b c d e f")
    n = 12001
    z = domain.sample(n, np.random.default_rng(11))
    removed = d - z[1:].astype(int).sum(axis=1)
    counts = np.bincount(removed, minlength=d + 1)
    assert counts[0] == 0
    expected = (n - 1) / d
    # Binomial standard deviation is about 41 here; 5 of them leave no room for bias.
    assert np.all(np.abs(counts[1:] - expected) < 5 * np.sqrt(expected))


def test_which_words_are_removed_is_uniform():
    d = 8
    domain = TextDomain(" ".join("abcdefgh"))
    n = 16001
    z = domain.sample(n, np.random.default_rng(12))
    rate = 1 - z[1:].mean(axis=0)
    # Removing a uniform 1..d words at random removes each with probability (d+1)/(2d).
    assert rate == pytest.approx(np.full(d, (d + 1) / (2 * d)), abs=0.02)
    one_removed = z[1:][z[1:].sum(axis=1) == d - 1]
    per_word = (1 - one_removed).sum(axis=0)
    assert per_word.min() > 0.6 * per_word.mean()


@pytest.mark.parametrize("d_words", [1, 5, 64, 700])
def test_sample_is_the_ranking_of_uniform_keys(d_words):
    """Each row removes its ``size`` features with the smallest random keys: the
    same matrix as ranking the keys with argsort (the draw lime-explain has always
    made), so seeds keep giving the same explanations."""
    domain = TextDomain(" ".join(f"w{i}" for i in range(d_words)))
    z = domain.sample(300, np.random.default_rng(d_words))
    rng = np.random.default_rng(d_words)
    sizes = rng.integers(1, d_words + 1, size=299)
    order = np.argsort(rng.random((299, d_words)), axis=1)
    expected = np.ones((300, d_words), dtype=np.uint8)
    np.put_along_axis(expected[1:], order, np.arange(d_words) >= sizes[:, None], axis=1)
    np.testing.assert_array_equal(z, expected)


def test_same_generator_state_same_sample():
    domain = TextDomain(TEXTS["punctuation_and_repeats"])
    a = domain.sample(100, np.random.default_rng(5))
    b = domain.sample(100, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


# -- distances --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [TEXTS["punctuation_and_repeats"], TEXTS["accents_and_cjk"], "solo", "a b c d e f g h"]
)
def test_distances_are_100_times_sklearn_cosine_distance_to_row_zero(text):
    domain = TextDomain(text)
    z = domain.sample(300, np.random.default_rng(7))
    expected = 100 * cosine_distances(z.astype(float), z[:1].astype(float)).ravel()
    np.testing.assert_allclose(domain.distances(z), expected, rtol=1e-9, atol=1e-9)
    assert domain.distances(z)[0] == pytest.approx(0.0, abs=1e-12)


def test_a_document_with_every_word_removed_is_at_distance_100():
    domain = TextDomain("a b c")
    z = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 0]], dtype=np.uint8)
    expected = 100 * cosine_distances(z.astype(float), z[:1].astype(float)).ravel()
    np.testing.assert_allclose(domain.distances(z), expected, atol=1e-9)
    assert domain.distances(z)[1] == pytest.approx(100.0)


# -- refusals and description ------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "!!! ... ???", "\n\t"])
def test_text_without_words_is_an_input_error(text):
    with pytest.raises(InputError):
        TextDomain(text)


def test_invalid_split_expression_is_a_usage_error():
    with pytest.raises(UsageError):
        TextDomain("some words", split_expression="([unclosed")


def test_too_many_features_is_an_input_error():
    with pytest.raises(InputError):
        TextDomain("a b c d e", max_features=4)
    assert TextDomain("a b c d", max_features=4).num_features == 4


def test_describe_reports_the_representation():
    info = TextDomain("one two two", name="doc.txt").describe()
    assert info["name"] == "doc.txt"
    assert info["num_features"] == 2
    assert info["bow"] is True and info["char_level"] is False
