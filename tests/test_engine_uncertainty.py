"""Uncertainty of LIME explanations: intervals, stability, ties and the adaptive stop rule.

Every claim is checked against brute force on synthetic models with LIME's
text sampling (row 0 keeps every feature, every other row removes a uniform
1..d number of them, cosine kernel of width 25): refits on many independent
sample sets for the standard errors, independent re-runs for the stability
figure, known weights for ties and stopping.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse

from lime_cli.engine.adaptive import STOP_REASONS, plan_rounds, should_stop
from lime_cli.engine.kernels import binary_cosine_distance_to_ones, exponential_kernel
from lime_cli.engine.selection import select_features
from lime_cli.engine.stability import (
    abs_differences,
    candidate_features,
    declare_ties,
    ranking_keys,
    topk_agreement,
)
from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.engine.uncertainty import coefficient_errors, intervals, z_value


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Small problems, as explain() runs them: one BLAS thread (no spinning on a busy box)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# -- synthetic LIME problems ----------------------------------------------------


def lime_text_sample(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """lime's text sampling: row 0 all ones, each other row drops 1..d random features."""
    z = np.ones((n, d), dtype=np.uint8)
    sizes = rng.integers(1, d + 1, size=n - 1)
    order = np.argsort(rng.random((n - 1, d)), axis=1)
    np.put_along_axis(z[1:], order, np.arange(d) >= sizes[:, None], axis=1)
    return z


def text_weights(z: np.ndarray) -> np.ndarray:
    return exponential_kernel(100.0 * binary_cosine_distance_to_ones(z), 25.0)


def logistic_model(beta: np.ndarray, bias: float, interaction: float = 0.0):
    """A probability that is nonlinear in the features (the surrogate is misspecified)."""

    def predict(z: np.ndarray) -> np.ndarray:
        x = z.astype(np.float64)
        s = x @ beta + bias + interaction * x[:, 0] * x[:, 1]
        return 1.0 / (1.0 + np.exp(-s))

    return predict


def draw(model, n: int, d: int, rng: np.random.Generator) -> tuple[WeightedDesign, np.ndarray]:
    z = lime_text_sample(n, d, rng)
    return WeightedDesign(z, text_weights(z)), model(z)


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b)


# -- standard errors and intervals ---------------------------------------------


def test_coefficients_are_the_surrogate_fit():
    rng = np.random.default_rng(0)
    model = logistic_model(rng.normal(size=12), -1.0, 1.0)
    design, y = draw(model, 400, 12, rng)
    features = np.array([3, 0, 7, 11])
    fit = design.fit(y, features, 1.0)
    errors = coefficient_errors(design, y, features, 1.0)
    np.testing.assert_array_equal(errors.features, features)
    np.testing.assert_allclose(errors.coef, fit.coef, rtol=1e-10, atol=1e-12)
    assert errors.intercept == pytest.approx(fit.intercept, rel=1e-10)
    assert errors.local_prediction == pytest.approx(fit.local_prediction, rel=1e-10)
    assert errors.cov.shape == (4, 4)
    np.testing.assert_allclose(errors.cov, errors.cov.T, atol=1e-15)
    assert np.all(np.linalg.eigvalsh(errors.cov) >= -1e-15)
    np.testing.assert_allclose(errors.stderr, np.sqrt(np.diag(errors.cov)))
    assert errors.intercept_stderr > 0 and errors.local_prediction_stderr > 0
    # the interval centre undoes the ridge's pull towards 0, for every feature
    assert np.all(np.abs(errors.centre) > np.abs(errors.coef))
    np.testing.assert_allclose(errors.intervals(0.95).mean(axis=1), errors.centre)
    assert 1 < errors.effective_samples < 400


def test_sparse_sample_matrix_gives_the_same_numbers():
    rng = np.random.default_rng(1)
    model = logistic_model(rng.normal(size=15), -0.5)
    z = lime_text_sample(300, 15, rng)
    w, y = text_weights(z), model(z)
    features = np.array([1, 4, 9, 2])
    dense = coefficient_errors(WeightedDesign(z, w), y, features, 1.0)
    sparse = coefficient_errors(WeightedDesign(scipy.sparse.csr_matrix(z), w), y, features, 1.0)
    for name in ("coef", "stderr", "cov"):
        np.testing.assert_allclose(getattr(sparse, name), getattr(dense, name), rtol=1e-10)
    assert sparse.intercept_stderr == pytest.approx(dense.intercept_stderr, rel=1e-10)
    keys_d = ranking_keys(WeightedDesign(z, w), y, np.arange(15), 1.0, "forward", 4)
    keys_s = ranking_keys(
        WeightedDesign(scipy.sparse.csr_matrix(z), w), y, np.arange(15), 1.0, "forward", 4
    )
    np.testing.assert_allclose(keys_s.cov, keys_d.cov, rtol=1e-9, atol=1e-18)


def test_no_features_and_constant_targets_are_harmless():
    rng = np.random.default_rng(2)
    design, _ = draw(logistic_model(np.ones(5), 0.0), 100, 5, rng)
    empty = coefficient_errors(design, np.full(100, 0.3), np.array([], dtype=np.intp), 1.0)
    assert empty.coef.shape == (0,) and empty.cov.shape == (0, 0)
    constant = coefficient_errors(design, np.full(100, 0.3), np.array([0, 1]), 1.0)
    np.testing.assert_allclose(constant.stderr, 0.0, atol=1e-15)
    with pytest.raises(ValueError):
        coefficient_errors(design, np.full(100, 0.3), np.array([0]), 1.0, correction="hc9")


def test_intervals_are_normal_quantiles():
    bounds = intervals(np.array([1.0, -2.0]), np.array([0.5, 0.0]), level=0.95)
    np.testing.assert_allclose(bounds, [[1 - 0.98, 1 + 0.98], [-2.0, -2.0]], atol=2e-3)
    assert z_value(0.95) == pytest.approx(1.959964, rel=1e-6)
    with pytest.raises(ValueError):
        intervals(np.zeros(1), np.ones(1), level=1.0)


def _replicate(model, d: int, n: int, reps: int, correction: str, seed: int):
    rng = np.random.default_rng(seed)
    features = np.arange(d)
    coefs, centres, errs = [], [], []
    for _ in range(reps):
        design, y = draw(model, n, d, rng)
        e = coefficient_errors(design, y, features, 1.0, correction=correction)
        coefs.append(e.coef)
        centres.append(e.centre)
        errs.append(e.stderr)
    return np.array(coefs), np.array(centres), np.array(errs)


@pytest.fixture(scope="module")
def calibration_problem():
    """A nonlinear model on 8 features and its population surrogate (100k samples)."""
    d = 8
    beta = np.array([2.0, -1.5, 1.0, 0.7, -0.5, 0.3, 0.1, 0.0])
    model = logistic_model(beta, -1.0, interaction=1.5)
    rng = np.random.default_rng(123)
    design, y = draw(model, 100_000, d, rng)
    truth = design.fit(y, np.arange(d), 1.0).coef
    return model, d, truth


def test_sandwich_standard_errors_match_the_spread_of_refits(calibration_problem):
    """300 independent sample sets: predicted stderr vs the refits' empirical SD."""
    model, d, truth = calibration_problem
    coefs, centres, errs = _replicate(model, d, 1000, 300, "hc3", seed=7)
    ratio = errs.mean(axis=0) / coefs.std(axis=0, ddof=1)
    assert np.all(np.abs(ratio - 1.0) < 0.15), ratio
    covered = np.abs(centres - truth) <= z_value(0.95) * errs
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()
    # every feature, the strongest included (ridge shrinkage is corrected for)
    assert covered.mean(axis=0).min() >= 0.88, covered.mean(axis=0)


def test_intervals_are_centred_on_the_penalty_corrected_weight(calibration_problem):
    """Around the raw ridge weight the strongest feature's interval misses too often."""
    model, d, truth = calibration_problem
    coefs, centres, errs = _replicate(model, d, 200, 150, "hc3", seed=9)
    raw = (np.abs(coefs[:, 0] - truth[0]) <= z_value(0.95) * errs[:, 0]).mean()
    corrected = (np.abs(centres[:, 0] - truth[0]) <= z_value(0.95) * errs[:, 0]).mean()
    assert raw < 0.8 and corrected >= 0.9, (raw, corrected)


def test_hc3_keeps_coverage_at_small_samples_where_hc0_falls_short(calibration_problem):
    """Why HC3: at 100 samples (about 60 effective) plain HC0 under-covers."""
    model, d, truth = calibration_problem
    cover = {}
    for correction in ("hc0", "hc3"):
        _, centres, errs = _replicate(model, d, 100, 300, correction, seed=8)
        cover[correction] = (np.abs(centres - truth) <= z_value(0.95) * errs).mean()
    assert cover["hc3"] > cover["hc0"] + 0.01, cover
    assert 0.93 <= cover["hc3"] <= 0.97, cover


# -- stability -----------------------------------------------------------------


def _stability_runs(model, d: int, k: int, n: int, runs: int, seed: int):
    """Independent re-runs: each one's top-K set and its predicted stability."""
    rng = np.random.default_rng(seed)
    sets, predicted = [], []
    for _ in range(runs):
        design, y = draw(model, n, d, rng)
        chosen = select_features(design, y, k, "auto")
        candidates = candidate_features(design, y, chosen, 1.0, "auto")
        keys = ranking_keys(design, y, candidates, 1.0, "auto", k)
        predicted.append(topk_agreement(keys.keys, keys.cov, k).value)
        sets.append(frozenset(chosen.tolist()))
    observed = np.mean([jaccard(a, b) for a, b in itertools.combinations(sets, 2)])
    return float(observed), np.array(predicted)


def test_stability_of_a_clear_explanation_is_one():
    model = logistic_model(np.r_[3.0, -2.5, 2.0, 1.6, -1.3, 0.2 * np.ones(10)], -3.0)
    observed, predicted = _stability_runs(model, 15, 5, 1000, 10, seed=3)
    assert observed == 1.0
    assert np.all(predicted >= 0.97), predicted


#: An exact tie at the K boundary (features 7 and 8; K = 8, lime's "highest" selection).
TIE_AT_BOUNDARY = np.r_[
    [2.5, -2, 1.8, -1.5, 1.3, 1.1, -1.0, 0.6, 0.6, 0.3],
    0.05 * np.random.default_rng(8).normal(size=15),
]
#: Three features that matter and a crowd of 27 near-zero ones (K = 10).
CROWD = np.r_[[3, -2, 1.5], 0.05 * np.random.default_rng(5).normal(size=27)]


@pytest.mark.parametrize(
    "d,k,beta,bias", [(25, 8, TIE_AT_BOUNDARY, -2.0), (30, 10, CROWD, -1.5)], ids=["tie", "crowd"]
)
def test_predicted_stability_matches_independent_reruns(d, k, beta, bias):
    """The figure predicts the mean pairwise top-K Jaccard of 20 re-runs within 0.07."""
    observed, predicted = _stability_runs(logistic_model(beta, bias), d, k, 1000, 20, seed=11)
    assert observed < 0.95  # a case where stability is not trivially 1
    assert abs(predicted.mean() - observed) <= 0.07, (observed, predicted.mean())
    assert np.abs(predicted - observed).mean() <= 0.07, (observed, predicted)


def test_topk_agreement_edge_cases_and_measures():
    keys = np.array([3.0, 2.0, 1.0, 0.0])
    tiny = np.eye(4) * 1e-8
    assert topk_agreement(keys, tiny, 4).value == 1.0
    assert topk_agreement(keys, tiny, 2).value == pytest.approx(1.0)
    # Two identical keys at the boundary and nothing else uncertain: a re-run
    # keeps either one, so half the pairs share 1 of 2 features.
    tied = np.array([3.0, 1.0, 1.0])
    est = topk_agreement(tied, np.eye(3) * 0.01, 2, draws=4000)
    assert est.value == pytest.approx(0.5 * 1.0 + 0.5 * (1 / 3), abs=0.05)
    assert topk_agreement(tied, np.eye(3) * 0.01, 2, measure="overlap").value == pytest.approx(
        0.75, abs=0.05
    )
    assert est.inclusion[0] == pytest.approx(1.0)
    assert est.inclusion[1] == pytest.approx(0.5, abs=0.1)
    again = topk_agreement(tied, np.eye(3) * 0.01, 2, draws=4000)
    assert again.value == est.value  # seeded: reproducible
    with pytest.raises(ValueError):
        topk_agreement(keys, tiny, 2, measure="dice")


def test_candidates_hold_the_selected_features_and_strong_outsiders_within_bounds():
    rng = np.random.default_rng(4)
    beta = np.r_[2.0, -1.8, 1.6, np.zeros(57)]
    design, y = draw(logistic_model(beta, -1.0), 800, 60, rng)
    selected = np.array([0, 1, 7])  # feature 2 is strong but left out
    cand = candidate_features(design, y, selected, 1.0, "highest", max_size=30)
    np.testing.assert_array_equal(cand[:3], selected)
    assert cand[3] == 2
    assert len(set(cand.tolist())) == len(cand) <= 30
    assert len(cand) >= 13  # at least max(2k, k + 10)
    sparse = WeightedDesign(scipy.sparse.csr_matrix(design.z), design.w)
    np.testing.assert_array_equal(
        candidate_features(sparse, y, selected, 1.0, "highest", max_size=30), cand
    )


# -- ties ----------------------------------------------------------------------


def test_abs_differences_uses_signs_in_the_variance():
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    diff, se = abs_differences(np.array([2.0, -1.0]), cov, np.array([0]), np.array([1]))
    assert diff[0] == 1.0
    assert se[0] == pytest.approx(np.sqrt(1 + 1 + 2 * 0.5))


def _keys_and_errors(model, d: int, k: int, n: int, seed: int, method: str = "highest"):
    rng = np.random.default_rng(seed)
    design, y = draw(model, n, d, rng)
    chosen = select_features(design, y, k, method)
    errors = coefficient_errors(design, y, chosen, 1.0)
    keys = ranking_keys(
        design, y, candidate_features(design, y, chosen, 1.0, method), 1.0, method, k
    )
    return errors, keys


def test_exact_tie_at_the_boundary_is_declared_not_ordered():
    """Features 2 and 3 have identical true weights; K = 3 must cut between them."""
    beta = np.r_[2.5, -2.0, 1.0, 1.0, 0.1 * np.ones(6)]
    errors, keys = _keys_and_errors(logistic_model(beta, -1.0), 10, 3, 2000, seed=5)
    report = declare_ties(errors.coef, errors.cov, errors.features, keys)
    tied_in = set(report.features[report.boundary].tolist())
    assert tied_in & {2, 3}
    assert set(report.contenders.tolist()) & {2, 3}
    assert not report.separated
    assert not ({0, 1} & tied_in)


def test_adjacent_ties_and_groups():
    values = np.array([5.0, 2.0, -2.01, 1.99, 0.5])
    cov = np.eye(5) * 0.01
    report = declare_ties(values, cov, np.array([10, 11, 12, 13, 14]))
    np.testing.assert_array_equal(report.features, [10, 12, 11, 13, 14])
    np.testing.assert_array_equal(report.tied_with_next, [False, True, True, False, False])
    assert [g.tolist() for g in report.groups] == [[12, 11, 13]]
    assert report.separated and report.settled  # no keys: no boundary comparisons
    precise = declare_ties(values, cov * 1e-6, np.array([10, 11, 12, 13, 14]), tol=0.05)
    assert precise.equivalent_with_next[1] and precise.equivalent_with_next[2]
    assert not precise.equivalent_with_next[0]


# -- adaptive sampling ---------------------------------------------------------


def test_plan_rounds_grow_geometrically_to_the_cap():
    assert plan_rounds(500, 4000) == [500, 1000, 2000, 4000]
    plan = plan_rounds(500, 5000)
    assert plan[0] == 500 and plan[-1] == 5000 and len(plan) == 5
    assert all(b / a <= 2.0 + 1e-9 for a, b in zip(plan, plan[1:]))
    assert plan_rounds(1000, 1000) == [1000]
    assert plan_rounds(300, 301) == [300, 301]
    with pytest.raises(ValueError):
        plan_rounds(1, 10)


def run_adaptive(model, d: int, k: int, seed: int, lo: int = 500, hi: int = 8000, **options):
    """What the integrator does: grow the sample in rounds, reuse it, ask the rule."""
    rng = np.random.default_rng(seed)
    plan = plan_rounds(lo, hi)
    z = lime_text_sample(plan[0], d, rng)
    for count in plan:
        if count > len(z):
            z = np.vstack([z, lime_text_sample(count - len(z) + 1, d, rng)[1:]])
        design = WeightedDesign(z, text_weights(z))
        y = model(z)
        chosen = select_features(design, y, k, "auto")
        errors = coefficient_errors(design, y, chosen, 1.0)
        candidates = candidate_features(design, y, chosen, 1.0, "auto")
        keys = ranking_keys(design, y, candidates, 1.0, "auto", k)
        decision = should_stop(errors, keys, k, len(z), plan, **options)
        assert decision.reason in STOP_REASONS
        if decision.stop:
            break
    return decision


def test_clear_separation_stops_early():
    model = logistic_model(np.r_[3.0, -2.5, 2.0, 1.6, -1.3, 0.2 * np.ones(10)], -3.0)
    for seed in range(3):
        decision = run_adaptive(model, 15, 5, seed)
        assert decision.stop and decision.reason == "settled"
        assert decision.look <= 2 and decision.samples <= 1000
        assert decision.looks == 5


def test_exact_tie_stops_reported_tied_rather_than_ordered():
    """Identical true weights at the K boundary: never 'settled'; reported tied."""
    beta = np.r_[2.0, -1.5, 0.8, 0.8, 0.2, 0.1 * np.ones(7)]
    for seed in range(2):
        decision = run_adaptive(logistic_model(beta, -1.5), 12, 3, seed)
        assert decision.stop
        assert decision.reason in ("tied within tolerance", "max samples")
        assert decision.reason != "settled"
        flagged = set(decision.ties.features[decision.ties.boundary].tolist())
        assert flagged | set(decision.ties.contenders.tolist()) >= {2, 3}
    # Without a tolerance nothing is ever equivalent: only the cap stops it.
    capped = run_adaptive(logistic_model(beta, -1.5), 12, 3, 0, hi=2000, tol=0.0)
    assert capped.reason == "max samples" and capped.samples == 2000


def test_stability_target_is_reached():
    """An exact tie at the boundary is never settled pairwise (and, without a
    tolerance, never equivalent), but re-runs still agree on most of the top K:
    a stability target below that agreement (about 0.89) stops sampling."""
    model = logistic_model(TIE_AT_BOUNDARY, -2.0)
    for seed in (0, 1):
        decision = run_adaptive(model, 25, 8, seed, tol=0.0, target=0.8)
        assert decision.stop and decision.reason == "stable"
        assert not decision.ties.settled
        lower = decision.stability.value - 2.33 * decision.stability.spread
        assert decision.stability.value >= lower >= 0.8
    strict = run_adaptive(model, 25, 8, 0, hi=2000, tol=0.0, target=0.99)
    assert strict.reason == "max samples"


def test_reference_stops_once_as_stable_as_a_fixed_run():
    """An exact tie never settles, and without a tolerance is never equivalent:
    with a reference count the rule stops there at the latest (as stable as a
    fixed run of that size), not at the cap."""
    beta = np.r_[2.0, -1.5, 0.8, 0.8, 0.2, 0.1 * np.ones(7)]
    decision = run_adaptive(logistic_model(beta, -1.5), 12, 3, 0, hi=8000, tol=0.0, reference=2000)
    assert decision.reason == "as stable as the reference"
    assert decision.samples <= 2000
    capped = run_adaptive(logistic_model(beta, -1.5), 12, 3, 0, hi=8000, tol=0.0)
    assert capped.reason == "max samples" and capped.samples == 8000


def test_boundary_lies_at_k_when_every_feature_is_fitted():
    """Images fit every superpixel and show K: the K-th and the (K+1)-th
    strongest, nearly equal, are a boundary tie, not "settled"."""
    from lime_cli.engine.stability import RankingKeys, declare_ties

    values = np.array([3.0, 2.0, 1.0, 0.99, 0.1])
    cov = 0.01 * np.eye(5)
    feats = np.arange(5)
    keys = RankingKeys(feats, values, values, cov)
    everything = declare_ties(values, cov, feats, keys)
    assert everything.separated  # nothing left out: trivially separated
    top3 = declare_ties(values, cov, feats, keys, k=3)
    assert not top3.separated and not top3.settled
    assert top3.boundary.tolist() == [False, False, True, False, False]
    assert top3.contenders.tolist() == [3]
    assert declare_ties(values, cov, feats, keys, k=2).separated


def test_decisions_are_reproducible():
    beta = np.r_[2.0, -1.5, 0.8, 0.8, 0.2, 0.1 * np.ones(7)]
    a = run_adaptive(logistic_model(beta, -1.5), 12, 3, 3, hi=2000)
    b = run_adaptive(logistic_model(beta, -1.5), 12, 3, 3, hi=2000)
    assert (a.reason, a.samples, a.stability.value) == (b.reason, b.samples, b.stability.value)


def test_a_model_that_ignores_its_input_stops_at_once_with_everything_tied():
    rng = np.random.default_rng(12)
    design, _ = draw(logistic_model(np.ones(6), 0.0), 300, 6, rng)
    y = np.full(300, 0.4)
    chosen = select_features(design, y, 3, "auto")
    errors = coefficient_errors(design, y, chosen, 1.0)
    keys = ranking_keys(
        design, y, candidate_features(design, y, chosen, 1.0, "auto"), 1.0, "auto", 3
    )
    decision = should_stop(errors, keys, 3, 300, plan_rounds(300, 1200))
    assert decision.stop and decision.reason == "tied within tolerance"
    assert decision.stability.value == 1.0  # the all-zero tie is broken the same way each run


def test_explaining_every_feature_is_trivially_settled():
    rng = np.random.default_rng(13)
    design, y = draw(logistic_model(np.array([1.0, -0.5, 0.2]), 0.0), 300, 3, rng)
    chosen = select_features(design, y, 3, "auto")
    errors = coefficient_errors(design, y, chosen, 1.0)
    keys = ranking_keys(
        design, y, candidate_features(design, y, chosen, 1.0, "auto"), 1.0, "auto", 3
    )
    decision = should_stop(errors, keys, 3, 300, plan_rounds(300, 1200))
    assert decision.reason == "settled" and decision.stability.value == 1.0
