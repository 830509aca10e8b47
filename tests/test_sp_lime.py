"""SP-LIME's math: global importance, coverage and the greedy pick.

Hand-built explanations and weight matrices whose answers can be worked out
by hand or by brute force over every subset; properties that hold for every
matrix (distinct picks, non-increasing gains, each gain the best available,
the 1 - 1/e guarantee) are checked with hypothesis.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lime_cli.explanation import Explanation, FeatureWeight, LabelExplanation
from lime_cli.sp_lime import FeatureMatrix, coverage, feature_matrix, greedy_pick


def explanation(name: str, labels: dict[str, list[tuple[str, float]]]) -> Explanation:
    return Explanation(
        modality="text",
        input={"name": name},
        model={},
        prediction={},
        params={},
        explanations=[
            LabelExplanation(
                label,
                i,
                0.0,
                1.0,
                0.5,
                0.5,
                [FeatureWeight(f, w, j) for j, (f, w) in enumerate(features)],
            )
            for i, (label, features) in enumerate(labels.items())
        ],
    )


def column(matrix: FeatureMatrix, feature: str) -> np.ndarray:
    return matrix.weights[:, matrix.features.index(feature)]


def brute_coverage(matrix: FeatureMatrix, rows: list[int]) -> float:
    """Coverage written out from the paper's definition, feature by feature."""
    importance = [
        math.sqrt(sum(abs(w) for w in matrix.weights[:, j])) for j in range(len(matrix.features))
    ]
    return sum(
        importance[j]
        for j in range(len(matrix.features))
        if any(matrix.weights[i, j] != 0 for i in rows)
    )


# -- the matrix W and the importance I ---------------------------------------------


def test_feature_matrix_sums_each_inputs_absolute_weights_over_its_labels():
    explanations = [
        explanation("a", {"x": [("goal", 0.5), ("team", -0.2)], "y": [("goal", 0.25)]}),
        explanation("b", {"x": [("chip", 0.4)]}),
        explanation("c", {"x": [("team", 0.3), ("cake", 0.1)], "y": [("cake", -0.1)]}),
    ]
    matrix = feature_matrix(explanations)
    assert sorted(matrix.features) == ["cake", "chip", "goal", "team"]
    assert matrix.weights.shape == (3, 4)
    np.testing.assert_allclose(column(matrix, "goal"), [0.75, 0.0, 0.0])
    np.testing.assert_allclose(column(matrix, "team"), [0.2, 0.0, 0.3])
    np.testing.assert_allclose(column(matrix, "chip"), [0.0, 0.4, 0.0])
    # +0.1 for one label and -0.1 for the other do not cancel (lime's signed sum would).
    np.testing.assert_allclose(column(matrix, "cake"), [0.0, 0.0, 0.2])


def test_importance_is_the_root_of_the_summed_absolute_weights():
    explanations = [
        explanation("a", {"x": [("goal", 0.5), ("team", -0.2)], "y": [("goal", 0.25)]}),
        explanation("b", {"x": [("team", 0.3), ("chip", -0.04)]}),
    ]
    matrix = feature_matrix(explanations)
    importance = dict(zip(matrix.features, matrix.importance()))
    assert importance["goal"] == pytest.approx(math.sqrt(0.75))
    assert importance["team"] == pytest.approx(math.sqrt(0.2 + 0.3))
    assert importance["chip"] == pytest.approx(0.2)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 6)),
        elements=st.floats(-2, 2, allow_nan=False),
    )
)
def test_importance_matches_its_definition_for_any_matrix(weights):
    matrix = FeatureMatrix([f"f{j}" for j in range(weights.shape[1])], weights)
    expected = [math.sqrt(sum(abs(x) for x in weights[:, j])) for j in range(weights.shape[1])]
    np.testing.assert_allclose(matrix.importance(), expected, rtol=1e-12, atol=1e-12)


def test_empty_explanations_give_an_empty_matrix():
    matrix = feature_matrix([explanation("a", {"x": []})])
    assert matrix.weights.shape == (1, 0)
    assert greedy_pick(matrix, 3) == [(0, 0.0)]


# -- coverage and the greedy pick on a fixed case ----------------------------------

#: Five inputs over six features. Row 0 is strongest alone; row 3, nearly as strong,
#: shares its top feature; rows 1, 2 and 4 each bring something new.
FIXED = FeatureMatrix(
    ["f0", "f1", "f2", "f3", "f4", "f5"],
    np.array(
        [
            [0.9, 0.8, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.7, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.5, 0.4, 0.0],
            [0.8, 0.0, 0.05, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.1, 0.2],
        ]
    ),
)


def test_coverage_counts_each_covered_feature_once():
    importance = FIXED.importance()
    assert coverage(FIXED, []) == 0.0
    assert coverage(FIXED, [0]) == pytest.approx(importance[0] + importance[1])
    assert coverage(FIXED, [0, 3]) == pytest.approx(importance[:3].sum())
    assert coverage(FIXED, [3]) == pytest.approx(importance[0] + importance[2])
    assert coverage(FIXED, list(range(5))) == pytest.approx(importance.sum())
    for rows in ([1, 4], [2, 3], [0, 2, 4]):
        assert coverage(FIXED, rows) == pytest.approx(brute_coverage(FIXED, rows))


@pytest.mark.parametrize("budget", [1, 2, 3, 4])
def test_no_single_swap_improves_the_greedy_pick(budget):
    picked = [row for row, _ in greedy_pick(FIXED, budget)]
    assert len(picked) == budget == len(set(picked))
    best = coverage(FIXED, picked)
    unpicked = [r for r in range(FIXED.weights.shape[0]) if r not in picked]
    assert unpicked
    for out, into in itertools.product(picked, unpicked):
        swapped = [into if r == out else r for r in picked]
        assert coverage(FIXED, swapped) <= best + 1e-12, (picked, out, into)


def test_greedy_on_the_fixed_case_is_also_the_best_subset():
    for budget in (1, 2, 3):
        picked = [row for row, _ in greedy_pick(FIXED, budget)]
        best = max(coverage(FIXED, list(c)) for c in itertools.combinations(range(5), budget))
        assert coverage(FIXED, picked) == pytest.approx(best)


def test_greedy_skips_an_input_that_repeats_what_is_covered():
    """Row 3 alone covers more than rows 1 or 2, but after row 0 it adds little."""
    importance = FIXED.importance()
    assert brute_coverage(FIXED, [3]) > brute_coverage(FIXED, [2]) > brute_coverage(FIXED, [1])
    picked = greedy_pick(FIXED, 3)
    assert [row for row, _ in picked][:2] == [0, 2]
    assert picked[0][1] == pytest.approx(importance[0] + importance[1])
    assert picked[1][1] == pytest.approx(importance[3] + importance[4])


def test_budget_beyond_the_inputs_picks_each_once():
    picked = greedy_pick(FIXED, 50)
    assert sorted(row for row, _ in picked) == list(range(5))
    assert sum(gain for _, gain in picked) == pytest.approx(FIXED.importance().sum())


# -- properties for any matrix -----------------------------------------------------

matrices = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(0, 7)),
    elements=st.sampled_from([0.0, 0.0, 0.0, -0.5, 0.1, 0.3, 1.0, -2.0, 0.05]),
).map(lambda w: FeatureMatrix([f"f{j}" for j in range(w.shape[1])], w))


@settings(max_examples=150, deadline=None)
@given(matrices, st.integers(1, 7))
def test_greedy_pick_properties(matrix, budget):
    n = matrix.weights.shape[0]
    picked = greedy_pick(matrix, budget)
    rows = [row for row, _ in picked]
    gains = [gain for _, gain in picked]
    assert len(rows) == min(budget, n) == len(set(rows))
    assert all(0 <= r < n for r in rows)
    # non-increasing gains that add up to the coverage of the pick
    assert all(later <= earlier + 1e-12 for earlier, later in zip(gains, gains[1:]))
    assert sum(gains) == pytest.approx(coverage(matrix, rows))
    assert coverage(matrix, rows) == pytest.approx(brute_coverage(matrix, rows))
    # each step takes the largest marginal gain still available
    for step in range(len(rows)):
        before = coverage(matrix, rows[:step])
        options = [
            coverage(matrix, rows[:step] + [r]) - before for r in range(n) if r not in rows[:step]
        ]
        assert gains[step] == pytest.approx(max(options))
        assert gains[step] == pytest.approx(coverage(matrix, rows[: step + 1]) - before)


@settings(max_examples=100, deadline=None)
@given(matrices, st.integers(1, 4))
def test_greedy_is_within_one_minus_one_over_e_of_the_best(matrix, budget):
    n = matrix.weights.shape[0]
    rows = [row for row, _ in greedy_pick(matrix, budget)]
    best = max(coverage(matrix, list(c)) for c in itertools.combinations(range(n), min(budget, n)))
    assert coverage(matrix, rows) >= (1 - 1 / math.e) * best - 1e-9
