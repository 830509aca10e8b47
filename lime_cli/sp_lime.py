"""SP-LIME: global feature importance and the greedy pick of representative explanations.

From the paper (section 4): with W the inputs x features matrix of explanation
weights, feature j's global importance is ``I_j = sqrt(sum_i |W_ij|)``; the
pick step greedily adds the input whose explanation covers the most
not-yet-covered importance, ``c(V) = sum_j I_j [exists i in V: W_ij != 0]``,
until the budget is spent. Greedy maximisation of this coverage (a monotone
submodular function) is within 1 - 1/e of the best choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lime_cli.explanation import Explanation


@dataclass
class FeatureMatrix:
    """W: one row per explanation, one column per feature name seen anywhere."""

    features: list[str]
    weights: np.ndarray

    def importance(self) -> np.ndarray:
        """``I_j = sqrt(sum_i |W_ij|)``."""
        return np.sqrt(np.abs(self.weights).sum(axis=0))


def feature_matrix(explanations: list[Explanation]) -> FeatureMatrix:
    """Sum each input's absolute weights over its explained labels.

    lime's SubmodularPick sums the signed weights, so a word that pushes one
    label up and another down (always the case for the two labels of a binary
    model) cancels out and looks unimportant; absolute values keep it. With one
    label per input the two agree.
    """
    index: dict[str, int] = {}
    entries: list[tuple[int, int, float]] = []
    for row, explanation in enumerate(explanations):
        for label in explanation.explanations:
            for f in label.features:
                col = index.setdefault(f.feature, len(index))
                entries.append((row, col, abs(f.weight)))
    weights = np.zeros((len(explanations), len(index)))
    for row, col, weight in entries:
        weights[row, col] += weight
    return FeatureMatrix(list(index), weights)


def coverage(matrix: FeatureMatrix, picked: list[int]) -> float:
    """Importance covered by the picked explanations."""
    if not picked:
        return 0.0
    covered = (np.abs(matrix.weights[picked]) > 0).any(axis=0)
    return float(matrix.importance() @ covered)


def greedy_pick(matrix: FeatureMatrix, budget: int) -> list[tuple[int, float]]:
    """Up to ``budget`` distinct rows, each with the coverage it added (ties: lowest row)."""
    importance = matrix.importance()
    uses = np.abs(matrix.weights) > 0
    covered = np.zeros(matrix.weights.shape[1], dtype=bool)
    remaining = np.ones(matrix.weights.shape[0], dtype=bool)
    picked: list[tuple[int, float]] = []
    for _ in range(min(budget, matrix.weights.shape[0])):
        gains = (uses & ~covered) @ importance
        gains[~remaining] = -np.inf
        row = int(np.argmax(gains))
        picked.append((row, float(gains[row])))
        remaining[row] = False
        covered |= uses[row]
    return picked
