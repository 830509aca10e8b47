"""The winner's curse of feature selection: kept weights are biased outwards, and
the interval centres undo it (lime_cli.engine.selection_bias).

A synthetic model with 4 strong features and a crowd of 26 equal weak ones; an
explanation keeps 8, so 4 of the crowd are kept by luck, with the noise that
made them look strong. Over many independent runs the kept weak weights are
larger than their population value; the corrected centres are not.
"""

from __future__ import annotations

import numpy as np
import pytest

from lime_cli.engine.confidence import assess
from lime_cli.engine.selection import select_features
from lime_cli.engine.selection_bias import selection_bias
from lime_cli.engine.stability import candidate_features, ranking_keys
from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.engine.uncertainty import coefficient_errors

D, K, N = 30, 8, 600
BETA = np.r_[np.full(4, 1.0), np.full(D - 4, 0.15)]


def _run(seed: int) -> tuple[WeightedDesign, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, size=(N, D)).astype(np.float64)
    z[0] = 1.0
    w = np.ones(N)
    # Heavy residual noise that depends on the sample: the surrogate is never exact.
    y = z @ BETA + rng.standard_normal(N) * (0.5 + z[:, :3].sum(axis=1) * 0.3)
    design = WeightedDesign(z, w)
    chosen = np.asarray(select_features(design, y, K, "highest"), dtype=np.intp)
    return design, y, chosen


def test_kept_weak_weights_are_biased_outwards_and_the_centres_undo_it():
    raw, corrected, covered_raw, covered = [], [], 0, 0
    for seed in range(60):
        design, y, chosen = _run(seed)
        conf = assess(
            design, y, chosen, alpha=1.0, method="highest", k=K, level=0.95, tol=0.05,
            plan=[N], seed=seed,
        )  # fmt: skip
        centre = conf.intervals.mean(axis=1)
        weak = conf.errors.features >= 4
        truth = BETA[conf.errors.features[weak]]
        se = conf.errors.stderr[weak]
        raw.extend((conf.errors.centre[weak] - truth) / se)
        corrected.extend((centre[weak] - truth) / se)
        low, high = conf.intervals[weak].T
        covered += int(np.sum((low <= truth) & (truth <= high)))
        covered_raw += int(np.sum(np.abs(conf.errors.centre[weak] - truth) <= 1.96 * se))
    raw_bias, new_bias = float(np.mean(raw)), float(np.mean(corrected))
    # The curse is real here (about 1.5 standard errors), and most of it is removed:
    # the 95% intervals of the lucky picks cover their population weight again.
    assert raw_bias > 0.5
    assert abs(new_bias) < 0.4 * raw_bias
    assert covered_raw / len(raw) < 0.88
    assert covered / len(raw) >= 0.93


def test_no_correction_when_nothing_was_selected():
    design, y, _ = _run(1)
    every = np.arange(D, dtype=np.intp)
    errors = coefficient_errors(design, y, every, 1.0)
    keys = ranking_keys(
        design, y, candidate_features(design, y, every, 1.0, "none"), 1.0, "none", D
    )
    assert np.all(selection_bias(errors, keys) == 0.0)


def test_strong_features_are_not_moved():
    design, y, chosen = _run(3)
    errors = coefficient_errors(design, y, chosen, 1.0)
    keys = ranking_keys(
        design, y, candidate_features(design, y, chosen, 1.0, "highest"), 1.0, "highest", K
    )
    bias = selection_bias(errors, keys, seed=3)
    strong = errors.features < 4
    assert strong.any()
    # Always kept: the condition "kept" says nothing about their noise.
    assert np.all(np.abs(bias[strong]) < 0.15 * errors.stderr[strong])
    assert bias.shape == errors.coef.shape


def test_reproducible_under_a_seed():
    design, y, chosen = _run(5)
    errors = coefficient_errors(design, y, chosen, 1.0)
    keys = ranking_keys(
        design, y, candidate_features(design, y, chosen, 1.0, "highest"), 1.0, "highest", K
    )
    assert np.array_equal(
        selection_bias(errors, keys, seed=9), selection_bias(errors, keys, seed=9)
    )
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(
            selection_bias(errors, keys, seed=9), selection_bias(errors, keys, seed=10)
        )
