"""One simulation of re-runs shared by ties, stability and selection bias
(lime_cli.engine.simulation), and the max-|t| shortcut of declare_ties."""

from __future__ import annotations

import numpy as np
import pytest

from lime_cli.engine import stability
from lime_cli.engine.confidence import assess
from lime_cli.engine.selection import select_features
from lime_cli.engine.simulation import SharedDraws
from lime_cli.engine.stability import candidate_features, declare_ties, ranking_keys
from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.engine.uncertainty import coefficient_errors

D, K, N = 24, 6, 800


def _problem(seed: int, beta: np.ndarray | None = None):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, size=(N, D)).astype(np.float64)
    z[0] = 1.0
    if beta is None:
        beta = np.r_[np.linspace(2.0, 1.0, 4), np.full(D - 4, 0.2)]
    y = z @ beta + rng.standard_normal(N) * (0.6 + 0.4 * z[:, 0])
    design = WeightedDesign(z, np.ones(N))
    chosen = np.asarray(select_features(design, y, K, "highest"), dtype=np.intp)
    errors = coefficient_errors(design, y, chosen, 1.0)
    candidates = candidate_features(design, y, chosen, 1.0, "highest")
    keys = ranking_keys(design, y, candidates, 1.0, "highest", K)
    return design, y, chosen, errors, keys


def test_shared_noise_has_the_keys_and_weights_joint_covariance():
    _, _, _, errors, keys = _problem(1)
    draws = SharedDraws(keys, errors, seed=3, pairs=20_000)
    assert draws.weight_noise is not None
    m = len(keys.features)
    joint = np.hstack([draws.keys_noise, draws.weight_noise])
    expected_cross = keys.scores.T @ errors.scores
    empirical = np.cov(joint, rowvar=False)
    scale = np.sqrt(np.outer(np.diag(empirical), np.diag(empirical)))
    assert np.allclose(empirical[:m, :m] / scale[:m, :m], keys.cov / scale[:m, :m], atol=0.03)
    assert np.allclose(empirical[:m, m:] / scale[:m, m:], expected_cross / scale[:m, m:], atol=0.03)
    # The two runs of a pair share their truth; groups of pairs share one posterior draw.
    half = draws.pairs
    assert np.array_equal(draws.truths[:half], draws.truths[half:])
    assert len(np.unique(draws.truths[:half], axis=0)) <= half // draws.per + 1


def test_nothing_is_drawn_until_used():
    _, _, _, errors, keys = _problem(2)
    draws = SharedDraws(keys, errors, seed=0)
    assert "_drawn" not in vars(draws)
    draws.masks(K)
    assert "_drawn" in vars(draws)


def test_shared_draws_give_the_same_figures_as_separate_ones_up_to_monte_carlo():
    _, _, _, errors, keys = _problem(4)
    separate = stability.topk_agreement(keys.keys, keys.cov, K, seed=11, draws=20_000)
    shared = stability.topk_agreement(
        keys.keys, keys.cov, K, shared=SharedDraws(keys, errors, seed=12, pairs=20_000)
    )
    assert 0.0 < separate.value < 1.0
    assert shared.value == pytest.approx(separate.value, abs=0.01)


@pytest.mark.parametrize("seed", range(8))
def test_skipping_the_max_t_simulation_changes_no_verdict(seed, monkeypatch):
    """declare_ties skips the max-|t| quantile when no pair's verdict could move
    between one pair's critical value and Bonferroni's; forcing it changes nothing.
    The K-th feature goes from tied with the crowd (seed 0) to well above it (7)."""
    beta = np.r_[np.full(5, 1.5), 0.3 + 0.08 * seed, np.full(D - 6, 0.3)]
    _, _, _, errors, keys = _problem(100 + seed, beta)
    simulated = []
    original = stability._max_t_critical

    def counted(*args, **kwargs):
        simulated.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(stability, "_max_t_critical", counted)
    quick = declare_ties(errors.coef, errors.cov, errors.features, keys, k=K, seed=seed)
    # Near-ties need the quantile; a clear boundary does not.
    assert bool(simulated) == (not quick.separated)
    monkeypatch.setattr(stability, "_verdicts", lambda diff, se, critical, tol: critical)
    forced = declare_ties(errors.coef, errors.cov, errors.features, keys, k=K, seed=seed)
    assert np.array_equal(quick.boundary, forced.boundary)
    assert np.array_equal(quick.contenders, forced.contenders)
    assert (quick.separated, quick.settled) == (forced.separated, forced.settled)


def test_assess_is_reproducible_under_its_seed():
    design, y, chosen, _, _ = _problem(5)

    def run(seed: int):
        conf = assess(
            design, y, chosen, alpha=1.0, method="highest", k=K, level=0.95, tol=0.05,
            plan=[N], seed=seed,
        )  # fmt: skip
        return conf.intervals, conf.stability.value, conf.selection_bias

    first, again = run(7), run(7)
    for a, b in zip(first, again):
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("shape", [(2000, 111), (4000, 250)])
def test_single_precision_normals_are_independent_standard_normals(shape):
    """Box-Muller in float32 (simulation.standard_normals): 0.2-1 million draws
    with the moments, tails and independence of N(0, 1) (limits ~5 standard errors)."""
    from lime_cli.engine.simulation import standard_normals

    z = standard_normals(np.random.default_rng(0), shape, np.float32)
    assert z.shape == shape and z.dtype == np.float32
    flat = z.astype(np.float64).ravel()
    size = flat.size
    assert abs(flat.mean()) < 5 / np.sqrt(size)
    assert abs(flat.var() - 1.0) < 5 * np.sqrt(2 / size)
    for cut, tail in ((1.0, 0.31731), (2.0, 0.04550), (3.0, 0.0026998)):
        share = np.mean(np.abs(flat) > cut)
        assert abs(share - tail) < 5 * np.sqrt(tail * (1 - tail) / size)
    # A cosine and its sine share a radius: their squares must still be uncorrelated,
    # as must neighbouring rows and columns.
    half = -(-shape[1] // 2)
    pairs = z[:, : shape[1] - half].astype(np.float64), z[:, half:].astype(np.float64)
    limit = 5 / np.sqrt(pairs[0].size)
    assert abs(np.corrcoef(pairs[0].ravel(), pairs[1].ravel())[0, 1]) < limit
    assert abs(np.corrcoef(pairs[0].ravel() ** 2, pairs[1].ravel() ** 2)[0, 1]) < limit
    assert abs(np.corrcoef(z[:-1].ravel(), z[1:].ravel())[0, 1]) < 5 / np.sqrt(z[1:].size)


def test_merging_close_posterior_atoms_keeps_the_posterior(monkeypatch):
    """posterior_draws merges atoms within ATOM_MERGE standard errors; with the
    same uniforms, the unmerged fit's draws barely move (a crowd of weak keys
    and a few strong ones, unequal standard errors)."""
    rng = np.random.default_rng(3)
    est = np.r_[rng.normal(0.0, 0.01, 80), [0.3, 0.25, 0.2, 0.2]]
    sd = rng.uniform(0.02, 0.03, len(est))
    merged = stability.posterior_draws(est, sd, 20_000, np.random.default_rng(9))
    width = stability.ATOM_MERGE
    monkeypatch.setattr(stability, "ATOM_MERGE", 0.0)
    exact = stability.posterior_draws(est, sd, 20_000, np.random.default_rng(9))
    moved = (merged - exact) / sd
    assert np.abs(moved.mean(axis=0)).max() < 0.002
    assert np.abs(merged.std(axis=0) / exact.std(axis=0) - 1).max() < 0.002
    assert np.quantile(np.abs(moved), 0.99) < width


def test_more_rows_of_key_noise_are_drawn_on_request_with_the_keys_covariance():
    """The max-|t| quantile of many looks wants more rows than the pairs have:
    SharedDraws.key_rows draws them when asked, from the same distribution."""
    _, _, _, errors, keys = _problem(6)
    draws = SharedDraws(keys, errors, seed=2, pairs=100)
    first = draws.keys_noise
    assert len(first) == 200 and draws.key_rows(150) is not None
    assert np.array_equal(draws.key_rows(150), first[:150])
    longer = draws.key_rows(30_000)
    assert longer.shape == (30_000, len(keys.features))
    assert np.array_equal(longer[:200], first)
    assert np.array_equal(draws.key_rows(20_000), longer[:20_000])
    empirical = np.cov(longer[200:].astype(np.float64), rowvar=False)
    scale = np.sqrt(np.outer(np.diag(keys.cov), np.diag(keys.cov)))
    assert np.allclose(empirical / scale, keys.cov / scale, atol=0.04)
    assert len(draws.keys_noise) == 200  # the pairs' figures are unchanged


def test_single_precision_only_where_its_rounding_cannot_matter():
    from lime_cli.engine.simulation import simulation_dtype

    keys = np.array([0.3, -0.2, 0.01, 0.0])
    sd = np.array([0.02, 0.02, 0.01, 0.0])
    assert simulation_dtype(keys, sd) is np.float32
    # A surrogate that fits almost exactly: float32 could not resolve the noise.
    assert simulation_dtype(keys, sd * 1e-6) is np.float64
    assert simulation_dtype(keys * 1e-33, sd * 1e-33) is np.float64
    assert simulation_dtype(keys, np.zeros(4)) is np.float64
    assert simulation_dtype(keys, sd, np.array([0.01, 0.0])) is np.float32
    assert simulation_dtype(keys, sd, np.array([1e-35, 0.01])) is np.float64
