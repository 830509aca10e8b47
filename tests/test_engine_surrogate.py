"""The weighted ridge surrogate must be the model scikit-learn's Ridge fits.

lime fits ``Ridge(alpha, fit_intercept=True)`` with the kernel as sample
weights and reports its weighted R^2; lime-explain solves the same problem
through shared normal equations (or LSQR for many features), so every number
is checked against scikit-learn itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from lime_cli.engine import surrogate
from lime_cli.engine.surrogate import WeightedDesign, weighted_r2


def make_problem(kind: str, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random design (0/1 uint8 with an all-ones row 0, or real), weights and target."""
    rng = np.random.default_rng(seed)
    if kind == "binary":
        z = (rng.random((n, d)) < 0.6).astype(np.uint8)
        z[0] = 1
    else:
        z = rng.normal(size=(n, d))
    weights = rng.uniform(0.05, 1.0, size=n)
    y = z.astype(np.float64) @ rng.normal(size=d) + 0.3 * rng.normal(size=n) + 0.7
    return z, weights, y


def sklearn_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> Ridge:
    return Ridge(alpha=alpha, fit_intercept=True).fit(z.astype(np.float64), y, sample_weight=w)


PROBLEMS = [
    ("binary", 150, 8, 0),
    ("binary", 60, 25, 1),  # more features than a third of the rows
    ("binary", 20, 40, 2),  # more features than rows: only the penalty makes it unique
    ("real", 150, 8, 3),
    ("real", 30, 50, 4),
]


@pytest.mark.parametrize("alpha", [1.0, 0.01, 7.5])
@pytest.mark.parametrize("kind,n,d,seed", PROBLEMS)
def test_fit_on_all_features_matches_sklearn_ridge(kind, n, d, seed, alpha):
    z, w, y = make_problem(kind, n, d, seed)
    ref = sklearn_ridge(z, y, w, alpha)

    fit = WeightedDesign(z, w).fit(y, None, alpha)

    np.testing.assert_array_equal(fit.features, np.arange(d))
    np.testing.assert_allclose(fit.coef, ref.coef_, rtol=1e-7, atol=1e-9)
    assert fit.intercept == pytest.approx(ref.intercept_, rel=1e-7, abs=1e-9)
    assert fit.score == pytest.approx(ref.score(z.astype(float), y, sample_weight=w), abs=1e-9)


@pytest.mark.parametrize("kind,n,d,seed", PROBLEMS)
def test_solve_all_matches_sklearn_ridge(kind, n, d, seed):
    z, w, y = make_problem(kind, n, d, seed)
    design = WeightedDesign(z, w)
    for alpha in (1.0, 0.01):  # two penalties on one design: cached factors must not mix
        ref = sklearn_ridge(z, y, w, alpha)
        coef, intercept = design.solve_all(y, alpha)
        np.testing.assert_allclose(coef, ref.coef_, rtol=1e-7, atol=1e-9)
        assert intercept == pytest.approx(ref.intercept_, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("kind,n,d,seed", PROBLEMS)
def test_fit_on_chosen_features_matches_sklearn_ridge_on_those_columns(kind, n, d, seed):
    z, w, y = make_problem(kind, n, d, seed)
    design = WeightedDesign(z, w)
    rng = np.random.default_rng(seed + 100)
    for size in (1, 3, min(d, 6)):
        idx = rng.choice(d, size=size, replace=False)
        ref = sklearn_ridge(z[:, idx], y, w, 1.0)
        fit = design.fit(y, idx, 1.0)
        np.testing.assert_array_equal(fit.features, idx)
        np.testing.assert_allclose(fit.coef, ref.coef_, rtol=1e-7, atol=1e-9)
        assert fit.intercept == pytest.approx(ref.intercept_, rel=1e-7, abs=1e-9)
        expected_score = ref.score(z[:, idx].astype(float), y, sample_weight=w)
        assert fit.score == pytest.approx(expected_score, abs=1e-9)


@pytest.mark.parametrize("kind,n,d,seed", PROBLEMS)
def test_local_prediction_is_the_fitted_value_at_the_original(kind, n, d, seed):
    z, w, y = make_problem(kind, n, d, seed)
    design = WeightedDesign(z, w)
    for idx in (None, np.array([d - 1, 0])):
        fit = design.fit(y, idx, 1.0)
        cols = slice(None) if idx is None else idx
        ref = sklearn_ridge(z[:, cols], y, w, 1.0)
        expected = float(ref.predict(z[:1, cols].astype(float))[0])
        assert fit.local_prediction == pytest.approx(expected, rel=1e-7, abs=1e-9)


def test_binary_design_gives_the_same_fit_as_uint8_and_as_float():
    z, w, y = make_problem("binary", 120, 12, 5)
    a = WeightedDesign(z, w).fit(y, None, 1.0)
    b = WeightedDesign(z.astype(np.float64), w).fit(y, None, 1.0)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10, atol=1e-12)
    assert a.intercept == pytest.approx(b.intercept, rel=1e-10)
    assert a.score == pytest.approx(b.score, rel=1e-10)


def test_fit_accepts_scipy_sparse_sample_matrices():
    """engine/matrix.py promises sparse 0/1 matrices for long texts: same answers."""
    sparse = pytest.importorskip("scipy.sparse")
    z, w, y = make_problem("binary", 80, 10, 6)
    ref = sklearn_ridge(z, y, w, 1.0)
    fit = WeightedDesign(sparse.csr_matrix(z), w).fit(y, None, 1.0)
    np.testing.assert_allclose(fit.coef, ref.coef_, rtol=1e-7, atol=1e-9)
    assert fit.intercept == pytest.approx(ref.intercept_, rel=1e-7)


@pytest.mark.parametrize("kind,n,d,seed", [("binary", 200, 30, 7), ("real", 50, 80, 8)])
def test_lsqr_path_agrees_with_the_cholesky_path(kind, n, d, seed, monkeypatch):
    z, w, y = make_problem(kind, n, d, seed)
    direct_fit = WeightedDesign(z, w).fit(y, None, 1.0)
    direct_solve = WeightedDesign(z, w).solve_all(y, 0.01)

    calls = []
    real_lsqr = surrogate.lsqr

    def spy(*args, **kwargs):
        calls.append(1)
        return real_lsqr(*args, **kwargs)

    monkeypatch.setattr(surrogate, "GRAM_LIMIT", 3)
    monkeypatch.setattr(surrogate, "lsqr", spy)
    iterative_fit = WeightedDesign(z, w).fit(y, None, 1.0)
    iterative_solve = WeightedDesign(z, w).solve_all(y, 0.01)

    assert calls, "GRAM_LIMIT below d must switch to the iterative solver"
    np.testing.assert_allclose(iterative_fit.coef, direct_fit.coef, rtol=1e-5, atol=1e-7)
    assert iterative_fit.intercept == pytest.approx(direct_fit.intercept, rel=1e-5, abs=1e-7)
    assert iterative_fit.score == pytest.approx(direct_fit.score, abs=1e-7)
    assert iterative_fit.local_prediction == pytest.approx(
        direct_fit.local_prediction, rel=1e-5, abs=1e-7
    )
    np.testing.assert_allclose(iterative_solve[0], direct_solve[0], rtol=1e-5, atol=1e-6)
    assert iterative_solve[1] == pytest.approx(direct_solve[1], rel=1e-5, abs=1e-6)


def test_constant_target_gives_zero_weights_and_its_value():
    z, w, _ = make_problem("binary", 100, 6, 9)
    y = np.full(100, 0.25)
    fit = WeightedDesign(z, w).fit(y, np.array([0, 2, 4]), 1.0)
    np.testing.assert_allclose(fit.coef, 0.0, atol=1e-12)
    assert fit.intercept == pytest.approx(0.25)
    assert fit.local_prediction == pytest.approx(0.25)
    # 0 or 1 by scikit-learn's convention, decided by rounding in the last bit.
    assert 0.0 <= fit.score <= 1.0


def test_no_features_fits_the_weighted_mean():
    z, w, y = make_problem("binary", 100, 6, 10)
    fit = WeightedDesign(z, w).fit(y, np.array([], dtype=np.intp), 1.0)
    assert fit.coef.shape == (0,)
    assert fit.intercept == pytest.approx(np.average(y, weights=w))
    assert fit.score == pytest.approx(0.0, abs=1e-12)


def test_zero_weights_are_refused():
    z, _, _ = make_problem("binary", 10, 3, 11)
    with pytest.raises(ValueError):
        WeightedDesign(z, np.zeros(10))


@pytest.mark.parametrize("seed", range(4))
def test_weighted_r2_matches_sklearn_r2_score(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=50)
    fitted = y + rng.normal(scale=0.5, size=50)
    w = rng.uniform(0.0, 2.0, size=50)
    assert weighted_r2(y, fitted, w) == pytest.approx(r2_score(y, fitted, sample_weight=w))


def test_weighted_r2_of_a_constant_target_follows_sklearn():
    y = np.full(5, 2.0)
    w = np.ones(5)
    assert weighted_r2(y, y.copy(), w) == r2_score(y, y.copy(), sample_weight=w) == 1.0
    off = y + np.array([0.1, 0, 0, 0, 0])
    assert weighted_r2(y, off, w) == r2_score(y, off, sample_weight=w) == 0.0
