"""Feature selection keeps lime's meanings and always returns the asked number of features.

Each mode is compared with a direct re-implementation of lime 0.2.0.1's
procedure on top of scikit-learn (refit per candidate, Ridge(0.01) weights,
``lars_path`` on weighted centred data), so the fast normal-equation versions
in ``lime_cli.engine.selection`` must choose the same features.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge, lars_path

from lime_cli.engine.selection import METHODS, select_features
from lime_cli.engine.surrogate import WeightedDesign

SELECTING = ("auto", "forward", "highest", "lasso")


def make_problem(kind: str, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A design with a target that depends strongly on a few features, plus noise."""
    rng = np.random.default_rng(seed)
    if kind == "binary":
        z = (rng.random((n, d)) < 0.5).astype(np.uint8)
        z[0] = 1
    else:
        z = rng.normal(size=(n, d))
    coef = rng.normal(size=d) * (rng.random(d) < 0.5) + 0.2 * rng.normal(size=d)
    y = z.astype(np.float64) @ coef + 0.5 * rng.normal(size=n)
    w = rng.uniform(0.1, 1.0, size=n)
    return z, w, y


# -- reference implementations: lime 0.2.0.1's procedures on scikit-learn ------


def lime_forward_selection(z: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Greedy: for each step refit Ridge(alpha=0) on used + [candidate], keep the best score."""
    data = z.astype(np.float64)
    used: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(min(k, data.shape[1])):
            best, best_score = 0, -np.inf
            for j in range(data.shape[1]):
                if j in used:
                    continue
                cols = data[:, used + [j]]
                model = Ridge(alpha=0, fit_intercept=True).fit(cols, y, sample_weight=w)
                score = model.score(cols, y, sample_weight=w)
                if score > best_score:
                    best, best_score = j, score
            used.append(best)
    return np.array(used)


def lime_highest_weights(z: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    data = z.astype(np.float64)
    coef = Ridge(alpha=0.01, fit_intercept=True).fit(data, y, sample_weight=w).coef_
    weighted = coef * data[0]
    return np.array(sorted(range(data.shape[1]), key=lambda j: -abs(weighted[j]))[:k])


def lime_lasso_path(z: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    data = z.astype(np.float64)
    x = (data - np.average(data, axis=0, weights=w)) * np.sqrt(w[:, None])
    t = (y - np.average(y, weights=w)) * np.sqrt(w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, coefs = lars_path(x, t, method="lasso", verbose=False)
    nonzero = np.arange(data.shape[1])
    for i in range(coefs.shape[1] - 1, 0, -1):
        nonzero = coefs[:, i].nonzero()[0]
        if len(nonzero) <= k:
            break
    return nonzero


def select(z: np.ndarray, w: np.ndarray, y: np.ndarray, k: int, method: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lars_path's degeneracy warnings
        return select_features(WeightedDesign(z, w), y, k, method)


CASES = [(kind, seed) for kind in ("binary", "real") for seed in range(4)]


# -- each mode against lime's procedure ------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 6])
@pytest.mark.parametrize("kind,seed", CASES)
def test_forward_selection_equals_lime_refit_per_candidate(kind, seed, k):
    z, w, y = make_problem(kind, 120, 9, seed)
    chosen = select(z, w, y, k, "forward")
    np.testing.assert_array_equal(chosen, lime_forward_selection(z, w=w, y=y, k=k))


@pytest.mark.parametrize("k", [1, 4, 10])
@pytest.mark.parametrize("kind,seed", CASES)
def test_highest_weights_are_the_top_k_of_ridge_001(kind, seed, k):
    z, w, y = make_problem(kind, 150, 14, seed)
    chosen = select(z, w, y, k, "highest")
    np.testing.assert_array_equal(chosen, lime_highest_weights(z, y, w, k))


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("kind,seed", CASES)
def test_lasso_follows_lime_lasso_path(kind, seed, k):
    z, w, y = make_problem(kind, 150, 12, seed)
    chosen = select(z, w, y, k, "lasso")
    np.testing.assert_array_equal(np.sort(chosen), np.sort(lime_lasso_path(z, y, w, k)))


@pytest.mark.parametrize("kind,seed", CASES)
def test_auto_is_forward_up_to_six_features_and_highest_above(kind, seed):
    z, w, y = make_problem(kind, 150, 12, seed)
    for k in (1, 5, 6):
        np.testing.assert_array_equal(select(z, w, y, k, "auto"), select(z, w, y, k, "forward"))
    for k in (7, 10):
        np.testing.assert_array_equal(select(z, w, y, k, "auto"), select(z, w, y, k, "highest"))


def test_auto_and_forward_differ_from_highest_somewhere():
    """Guards the test above: the modes it tells apart really choose differently."""
    differs = False
    for seed in range(10):
        z, w, y = make_problem("binary", 60, 12, seed)
        for k in (3, 7):
            if not np.array_equal(select(z, w, y, k, "forward"), select(z, w, y, k, "highest")):
                differs = True
    assert differs


def test_none_means_every_feature():
    z, w, y = make_problem("binary", 50, 5, 0)
    assert select(z, w, y, 2, "none") is None


def test_unknown_method_is_refused():
    z, w, y = make_problem("binary", 50, 5, 0)
    assert set(METHODS) == {"auto", "forward", "highest", "lasso", "none"}
    with pytest.raises(ValueError):
        select(z, w, y, 2, "forward_selection")


# -- every mode returns exactly K distinct features -------------------------------


def assert_k_distinct(chosen: np.ndarray, k: int, d: int) -> None:
    chosen = np.asarray(chosen)
    assert chosen.shape == (k,), f"asked for {k} features, got {chosen.tolist()}"
    assert len(set(chosen.tolist())) == k
    assert chosen.min() >= 0 and chosen.max() < d


@pytest.mark.parametrize("method", SELECTING)
@pytest.mark.parametrize("kind,seed", CASES[:3] + CASES[4:6])
def test_each_mode_returns_exactly_k_features(method, kind, seed):
    d = 10
    z, w, y = make_problem(kind, 80, d, seed)
    for k in (1, 2, 5, 6, 7, 9, 10):
        assert_k_distinct(select(z, w, y, k, method), k, d)


@pytest.mark.parametrize("method", SELECTING)
def test_more_features_asked_than_exist_returns_all_of_them(method):
    z, w, y = make_problem("binary", 80, 5, 1)
    assert_k_distinct(select(z, w, y, 12, method), 5, 5)


@pytest.mark.parametrize("method", ("auto", "forward", "highest"))
def test_keeping_every_feature_skips_the_ranking_but_fits_the_same(method):
    """K equal to the number of features: every one is kept (in column order,
    without ranking them), and the surrogate on them is the fit lime's ranked
    order gives, to rounding."""
    z, w, y = make_problem("binary", 200, 5, 3)
    design = WeightedDesign(z, w)
    kept = select_features(design, y, 5, method)
    assert kept is not None and kept.tolist() == [0, 1, 2, 3, 4]
    ranked = lime_forward_selection(z, y, w, 5)
    assert sorted(ranked.tolist()) == kept.tolist()
    ours, theirs = design.fit(y, kept, 1.0), design.fit(y, ranked, 1.0)
    by_feature = dict(zip(theirs.features.tolist(), theirs.coef))
    np.testing.assert_allclose(ours.coef, [by_feature[j] for j in kept], rtol=1e-12)
    assert ours.intercept == pytest.approx(theirs.intercept, rel=1e-12)


def degenerate_problem(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, w, y = make_problem("binary", 100, 8, 11)
    if case == "constant_columns":
        z[:, 2] = 1
        z[:, 6] = 1
    elif case == "duplicated_columns":
        z[:, 5] = z[:, 1]
        z[:, 7] = z[:, 1]
    elif case == "constant_target":
        y = np.full_like(y, 0.4)
    elif case == "all_columns_constant":
        z[:] = 1
    elif case == "target_is_one_column":
        y = z[:, 3].astype(np.float64)
    return z, w, y


DEGENERATE = [
    "constant_columns",
    "duplicated_columns",
    "constant_target",
    "all_columns_constant",
    "target_is_one_column",
]


@pytest.mark.parametrize("case", DEGENERATE)
@pytest.mark.parametrize("method", SELECTING)
def test_degenerate_problems_still_return_k_features(method, case):
    z, w, y = degenerate_problem(case)
    for k in (1, 3, 6, 7, 8):
        assert_k_distinct(select(z, w, y, k, method), k, z.shape[1])


def test_forward_selection_picks_the_column_the_target_copies_first():
    z, w, y = degenerate_problem("target_is_one_column")
    assert select(z, w, y, 3, "forward")[0] == 3
