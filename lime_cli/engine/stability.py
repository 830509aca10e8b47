"""How stable is a top-K explanation, and which of its features are tied?

The stability figure
--------------------
**Top-K Jaccard stability**: the expected Jaccard index ``|A & B| / |A | B|``
between the top-K feature sets ``A`` and ``B`` of two independent runs with the
same settings (same input, same number of samples, fresh random samples). 1
means every re-run shows the same K features; two runs that share 8 of 10
features score 8 / 12 = 0.67. (``measure="overlap"`` gives ``|A & B| / K``
instead, 0.8 in that example.)

It is estimated from the samples already drawn, without model calls, as a
*plug-in* estimate. Two approximations are made and stated:

1. Feature selection is modelled as "keep the K largest ``|key|``" over a
   *candidate set*: the selected features plus every other feature that could
   plausibly reach the top K (a re-run may select features outside this
   explanation's K). The keys come from one joint weighted ridge fit on the
   candidates: the weight times ``|z0|`` for lime's ``highest`` (its rule), the
   weight times the feature's weighted standard deviation for ``forward`` (its
   greedy gain ranks explained variance), the weight otherwise. The keys'
   covariance is the sandwich covariance of :mod:`lime_cli.engine.uncertainty`
   (for ``forward`` including the noise of the estimated standard deviations).
   Greedy forward selection conditions on the features already chosen, so
   among many weak, correlated features it is less predictable than a joint
   top-K; expect this figure to be less accurate for ``forward`` (K <= 6).
2. The unknown true keys are replaced by estimates. Re-runs are simulated as
   ``truth + e1`` and ``truth + e2`` with ``e ~ N(0, cov)``; the figure is the
   average Jaccard index of such pairs. Taking the fitted keys as the truth
   (the naive plug-in, kept as ``plug_in``) is too optimistic: noise makes
   fitted keys look more spread out than the true ones, so near-ties look
   settled (two exactly tied features at the boundary look ordered 2 times in
   3, not 1 in 2, however many samples). Instead the truth is drawn from an
   empirical-Bayes posterior: the candidates' true keys are modelled as draws
   from a common distribution ``G``, estimated by nonparametric maximum
   likelihood (EM on a grid around the estimates), and each key's posterior
   given its estimate and standard error is sampled. Pooling the candidates
   recognises a crowd of weak features as a crowd. EM is stopped after 10
   iterations from a flat start (a smoothed NPMLE): the fully converged NPMLE
   is spiky, merges features that are merely close into exact ties and made
   the figure noisier in the calibration runs (tests/test_engine_uncertainty.py).

Measured (lime's text sampling, logistic models, n = 1000, 8 seeds x 20
re-runs): |mean predicted - observed mean pairwise Jaccard| was 0.003-0.030
for an exact tie at the K = 8 boundary (observed 0.88-0.90) and 0.001-0.029
for 3 strong features among 27 near-zero ones at K = 10 (observed 0.45-0.49);
the mean per-run error was 0.013-0.030 and 0.033-0.061. For forward
selection (K = 5, four near-tied weights) it was 0.013-0.064 (per run
0.038-0.084). The naive plug-in overshot exact ties by 0.05-0.10.

Ties
----
Two features cannot be ordered when the confidence interval of the difference
of their absolute keys contains 0. :func:`declare_ties` reports these for
adjacent features of the explanation and for the K-boundary (selected features
that cannot be told apart from the best features left out), and marks pairs
whose difference is known to be smaller than a tolerance as equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lime_cli.defaults import AUTO_FORWARD_LIMIT
from lime_cli.engine.matrix import crossprod
from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.engine.uncertainty import Influence, influence, ridge_pieces, z_value

if TYPE_CHECKING:
    from lime_cli.engine.simulation import SharedDraws

MEASURES = ("jaccard", "overlap")

#: Default number of simulated pairs of re-runs (Monte-Carlo error < 0.01).
DRAWS = 2000

#: Default cap on the candidate set: the joint fit costs O(n m^2).
MAX_CANDIDATES = 100

#: Keys and differences below this are rounding noise (a model whose output
#: never changes): treated as exactly 0.
ATOL = 1e-12

#: Posterior atoms closer than this many (smallest) standard errors are one atom
#: (see :func:`posterior_draws`).
ATOM_MERGE = 0.05

#: A feature outside the explanation is a candidate when its optimistic key
#: (estimate + this many standard errors) reaches the pessimistic K-th key.
PLAUSIBLE_Z = 3.0


def resolve_method(method: str, k: int) -> str:
    """lime's ``auto`` rule: ``forward`` for K <= 6, else ``highest``."""
    if method == "auto":
        return "forward" if k <= AUTO_FORWARD_LIMIT else "highest"
    return method


def _scale(design: WeightedDesign, method: str, idx: np.ndarray | slice) -> np.ndarray | None:
    """Per-feature factors of the ranking key (see the module docstring)."""
    if method == "forward":
        return np.sqrt(design.diag()[idx] / design.sw)
    if method == "highest":
        return np.abs(design.first_row[idx])
    return None


def candidate_features(
    design: WeightedDesign,
    y: np.ndarray,
    selected: np.ndarray,
    alpha: float,
    method: str,
    *,
    min_size: int | None = None,
    max_size: int = MAX_CANDIDATES,
) -> np.ndarray:
    """The selected features followed by every plausible contender, strongest first.

    Each other feature ``j`` gets the weight it would have if added alone to
    the fit on ``selected``, ``c_j = x_j' W r / (x_j' W x_j + alpha)`` (``r`` that
    fit's residual, ``x_j`` the centred column), and a diagonal sandwich
    standard error ``s_j``; both scaled like the method's ranking key. Selected
    features use their fitted weights and standard errors. ``j`` is a contender
    when ``|c_j| + 3 s_j`` reaches the K-th largest ``|c| - 3 s``. Cost: a few
    products with ``Z`` (``O(nnz)``), no d x d matrix.

    Parameters
    ----------
    design : WeightedDesign
    y : ndarray of float64, shape (n,)
    selected : array-like of int, shape (k,)
        The explanation's features (kept first, in their order).
    alpha : float
        Ridge penalty of the surrogate.
    method : str
        The feature selection used (``auto`` resolved with lime's rule).
    min_size : int, optional
        At least this many candidates (default ``max(2k, k + 10)``), so the
        boundary is always compared with some outsiders.
    max_size : int
        At most this many (default 100); beyond it the weakest contenders are
        dropped, which makes the stability figure slightly optimistic when very
        many features are interchangeable.

    Returns
    -------
    ndarray of intp, shape (m,), ``len(selected) <= m <= max(len(selected), max_size)``
    """
    selected = np.asarray(selected, dtype=np.intp).ravel()
    k = len(selected)
    method = resolve_method(method, k)
    if min_size is None:
        min_size = max(2 * k, k + 10)
    upper = min(design.d, max(k, max_size))
    if upper <= k:
        return selected
    fit = ridge_pieces(design, y, selected, alpha)
    denom = design.diag() + alpha
    est = np.abs(design.cross(fit.resid)) / denom
    sd = np.sqrt(design.square_cross((design.w * fit.scaled) ** 2)) / denom
    if k:
        est[selected] = np.abs(fit.coef)
        sd[selected] = np.sqrt(np.einsum("ij,i->j", fit.pull**2, fit.scaled**2))
    scale = _scale(design, method, slice(None))
    if scale is not None:
        est, sd = est * scale, sd * scale
    low = est - PLAUSIBLE_Z * sd
    bar = np.partition(low, design.d - k)[design.d - k] if k else -np.inf
    plausible = est + PLAUSIBLE_Z * sd >= bar
    order = np.argsort(-est, kind="stable")
    order = order[~np.isin(order, selected)]
    size = min(upper, max(min_size, k + int(np.count_nonzero(plausible[order]))))
    extra = order[: size - k]
    return np.concatenate([selected, extra]).astype(np.intp)


@dataclass(frozen=True)
class RankingKeys:
    """The quantities a selection method ranks, with their joint covariance.

    Attributes
    ----------
    features : ndarray of intp, shape (m,)
        The candidate features.
    coef : ndarray of float64, shape (m,)
        Their weights in a joint weighted ridge fit.
    keys : ndarray of float64, shape (m,)
        Signed ranking keys; the method keeps the K largest ``|keys|``.
    cov : ndarray of float64, shape (m, m)
        Sandwich covariance of ``keys``.
    scores : ndarray of float64, shape (n, m), optional
        Each sample's first-order contribution to ``keys`` (``cov = scores'
        scores``).
    """

    features: np.ndarray
    coef: np.ndarray
    keys: np.ndarray
    cov: np.ndarray
    scores: np.ndarray | None = None


def ranking_keys(
    design: WeightedDesign,
    y: np.ndarray,
    candidates: np.ndarray,
    alpha: float,
    method: str,
    k: int,
    *,
    correction: str = "hc3",
    fitted: Influence | None = None,
) -> RankingKeys:
    """Joint fit on the candidates and the keys a re-run's selection would rank.

    Parameters
    ----------
    design : WeightedDesign
    y : ndarray of float64, shape (n,)
    candidates : array-like of int, shape (m,)
        From :func:`candidate_features`.
    alpha : float
        Ridge penalty of the surrogate.
    method : str
        Feature selection (``auto`` resolved with lime's rule on ``k``).
    k : int
        Number of features explained.
    correction : str
        Sandwich correction, see :func:`lime_cli.engine.uncertainty.coefficient_errors`.
    fitted : Influence, optional
        :func:`~lime_cli.engine.uncertainty.influence` of the fit on exactly
        ``candidates`` (in this order), when already computed.

    Returns
    -------
    RankingKeys
        ``highest``: ``b_j * |z0_j|``; ``forward``: ``b_j * sd_j`` with the
        first-order noise of the estimated weighted standard deviation ``sd_j``
        (estimated from the same samples, it partly cancels the noise of
        ``b_j``); otherwise ``b_j``.
    """
    method = resolve_method(method, k)
    inf = fitted or influence(design, y, candidates, alpha, correction=correction)
    idx = inf.features
    keys, scores = inf.coef, inf.scores
    scale = _scale(design, method, idx)
    if method == "forward" and scale is not None:
        safe = np.where(scale > 0, scale, 1.0)
        # d sd = d var / (2 sd), with var = sum w xc^2 / sum w: each sample's
        # share of the sd, times the weight, added to its share of the weight
        # times the sd (built in place: one (n, m) array).
        sd_part = inf.xc * inf.xc
        sd_part -= scale**2
        sd_part *= design.w[:, None]
        sd_part *= inf.coef / (2.0 * design.sw * safe)
        sd_part += scores * scale
        scores = sd_part
        keys = inf.coef * scale
    elif scale is not None:
        keys, scores = inf.coef * scale, scores * scale
    return RankingKeys(idx, inf.coef, np.asarray(keys, dtype=np.float64), crossprod(scores), scores)


@dataclass(frozen=True)
class StabilityEstimate:
    """Estimated agreement of top-K sets between independent re-runs.

    Attributes
    ----------
    value : float
        The estimate in [0, 1] (empirical-Bayes posterior draws as the truth).
    plug_in : float
        The naive estimate with the fitted keys as the truth (optimistic for
        near-ties; for diagnostics): NaN unless asked for.
    spread : float
        Posterior standard deviation of the figure: how far the true expected
        agreement may be from ``value`` (``value - 1.645 * spread`` is a rough
        95% lower bound).
    measure : str
        ``"jaccard"`` or ``"overlap"``.
    k : int
        Size of the top-K sets compared.
    inclusion : ndarray of float64, shape (m,)
        For each candidate, the estimated probability that a re-run puts it in
        its top K (aligned with the keys given).
    """

    value: float
    plug_in: float
    spread: float
    measure: str
    k: int
    inclusion: np.ndarray


def topk_agreement(
    keys: np.ndarray,
    cov: np.ndarray,
    k: int,
    *,
    measure: str = "jaccard",
    draws: int = DRAWS,
    seed: int = 0,
    plug_in: bool = False,
    shared: SharedDraws | None = None,
    noise_scale: float = 1.0,
) -> StabilityEstimate:
    """Monte-Carlo estimate of the expected top-K agreement between two re-runs.

    Parameters
    ----------
    keys : ndarray of float64, shape (m,)
        Ranking keys of the candidate features (``RankingKeys.keys``): a run
        keeps the K largest ``|keys|``.
    cov : ndarray of float64, shape (m, m)
        Their covariance (``RankingKeys.cov``); may be singular.
    k : int
        Number of features in an explanation (clipped to ``m``).
    measure : {"jaccard", "overlap"}
    draws : int
        Simulated pairs of re-runs per estimate (default 2000; ignored with ``shared``).
    seed : int
        Seed of the simulation, so the figure is reproducible (ignored with ``shared``).
    plug_in : bool
        Also compute the naive plug-in figure (``StabilityEstimate.plug_in``;
        NaN otherwise). A diagnostic only: it doubles the simulation's cost, and
        this runs for every label of every explanation.
    shared : SharedDraws, optional
        Re-runs already simulated for these keys
        (:class:`lime_cli.engine.simulation.SharedDraws`): their noise and truths
        are used instead of new ones.
    noise_scale : float
        Multiplies the simulated noise (default 1): ``sqrt(n / n')`` projects
        the figure to ``n'`` samples with the same truths and noise (common
        random numbers, so two such figures differ only by the noise level).

    Returns
    -------
    StabilityEstimate
        See the module docstring. Vectorised: ``O(draws * m^2)`` time, ``O(draws * m)`` memory.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown agreement measure {measure!r}; expected one of {MEASURES}")
    keys = np.asarray(keys, dtype=np.float64)
    m = len(keys)
    k = int(min(k, m))
    if k == 0 or k == m:
        return StabilityEstimate(1.0, 1.0, 0.0, measure, k, np.ones(m))
    cov = np.asarray(cov, dtype=np.float64)
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    if float(np.abs(keys).max()) + float(sd.max()) <= ATOL:
        # Nothing changes the output: every run breaks the all-zero tie the same way.
        return StabilityEstimate(1.0, 1.0, 0.0, measure, k, (np.arange(m) < k).astype(float))
    if shared is None:
        from lime_cli.engine.simulation import SharedDraws

        shared = SharedDraws(RankingKeys(np.arange(m), keys, keys, cov), seed=seed, pairs=draws)
    pairs, per = shared.pairs, shared.per
    noise = shared.keys_noise[: 2 * pairs]
    if noise_scale == 1.0:
        runs = shared.masks(k)[: 2 * pairs]
    else:
        runs = topk_masks(shared.truths[: 2 * pairs] + noise * noise_scale, k)
    first, second = runs[:pairs], runs[pairs:]
    agree = _agreement(first, second, k, measure)
    value = float(agree.mean())
    label = np.arange(pairs) // per
    counts = np.bincount(label)
    means = np.bincount(label, weights=agree) / counts
    # Each group's variance from its sums (one pass, not a loop over the groups).
    within = float(np.mean(np.bincount(label, weights=agree * agree) / counts - means * means))
    spread = float(np.sqrt(max(0.0, means.var() - within / per)))
    inclusion = 0.5 * (first.mean(axis=0) + second.mean(axis=0))
    naive = float("nan")
    if plug_in:
        scaled = noise * noise_scale
        fitted = topk_masks(keys + scaled[:pairs], k), topk_masks(keys + scaled[pairs:], k)
        naive = float(_agreement(*fitted, k, measure).mean())
    return StabilityEstimate(value, naive, spread, measure, k, inclusion)


def shared_truths(
    est: np.ndarray, sd: np.ndarray, draws: int, groups: int, rng: np.random.Generator
) -> np.ndarray:
    """``draws`` truths for simulated re-runs, shape (draws, m): ``groups`` posterior
    draws (:func:`posterior_draws`), each repeated for ``ceil(draws / groups)``
    consecutive rows. A few hundred truths cover the posterior; every row gets
    its own noise."""
    per = -(-draws // groups)
    return np.repeat(posterior_draws(est, sd, groups, rng), per, axis=0)[:draws]


def posterior_draws(
    est: np.ndarray, sd: np.ndarray, draws: int, rng: np.random.Generator, iterations: int = 10
) -> np.ndarray:
    """Draws of the true keys from their empirical-Bayes posterior, shape (draws, m).

    Model: ``est_j ~ N(true_j, sd_j^2)`` independently, ``true_j ~ G``. ``G`` is
    the nonparametric maximum-likelihood estimate (Kiefer-Wolfowitz), a
    discrete distribution on atoms placed around every estimate (within
    3 standard errors), fitted by EM. Features with ``sd_j == 0`` are fixed.

    Atoms closer than :data:`ATOM_MERGE` of the smallest standard error are
    merged into one at their mean, its starting weight their number: EM keeps
    coincident atoms' weights in proportion, so this is the same fit up to
    moves of ``ATOM_MERGE / 2`` standard errors. A crowd of weak features puts
    its 13 atoms each nearly on top of each other's: on BBC articles 1300 atoms
    become about 360 (2.0 -> 1.3 ms a call), and with common random numbers
    the merged fit's posterior means moved by under 0.0003 standard errors,
    its spreads by under 0.05%, single draws by under 0.03 (99th percentile).
    """
    m = len(est)
    fixed = sd <= 0
    if fixed.all():
        return np.broadcast_to(est, (draws, m)).copy()
    live = ~fixed
    e, s = est[live, None], sd[live, None]
    offsets = np.linspace(-3.0, 3.0, 13)
    atoms, weight = _merged_atoms(np.unique((e + s * offsets).ravel()), ATOM_MERGE * float(s.min()))
    like = np.exp(-0.5 * ((e - atoms[None, :]) / s) ** 2)
    like /= s
    like += 1e-300
    prior = weight / weight.sum()
    for _ in range(iterations):
        # EM step without forming the posterior matrix: two matrix-vector
        # products (prior_a <- prior_a * mean_j like_ja / sum_b like_jb prior_b).
        prior = prior * (like.T @ (1.0 / (like @ prior))) / len(like)
    # The posterior's cumulative table, built in place of the likelihoods.
    cum = like
    cum *= prior
    np.cumsum(cum, axis=1, out=cum)
    cum /= cum[:, -1:]
    cum[:, -1] = 1.0
    # One search for every column at once: row c of the cumulative table is
    # shifted to [c, c + 1], and so is column c of the uniforms.
    n_live, n_atoms = cum.shape
    shift = np.arange(n_live, dtype=np.float64)[:, None]
    cum += shift
    queries = rng.random((draws, n_live)).T + shift
    # Sorted queries search twice as fast (each search starts at the last
    # one's result, in cache); the picks are put back in the uniforms' order,
    # so the draws are the same as an unsorted search's.
    order = np.argsort(queries, axis=1)
    found = np.searchsorted(cum.ravel(), np.take_along_axis(queries, order, axis=1).ravel())
    found = found.reshape(n_live, draws) - shift.astype(np.intp) * n_atoms
    pick = np.empty_like(found)
    np.put_along_axis(pick, order, found, axis=1)
    pick = pick.T
    out = np.broadcast_to(est, (draws, m)).copy()
    out[:, live] = atoms[np.clip(pick, 0, n_atoms - 1)]
    return out


def _merged_atoms(atoms: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``atoms`` (k,) merged within bins of ``width``: their means and counts."""
    bins = np.floor(atoms / width) if width > 0 else atoms
    if not np.all(np.isfinite(bins)):
        return atoms, np.ones(len(atoms))
    # Sorted atoms give non-decreasing bins: each new bin starts a group.
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    counts = np.diff(np.r_[starts, len(atoms)]).astype(np.float64)
    return np.add.reduceat(atoms, starts) / counts, counts


def cov_root(cov: np.ndarray) -> np.ndarray:
    """A square root ``F`` with ``F F' = cov``, shape (m, m), that tolerates singular matrices.

    Cholesky when ``cov`` is positive definite (a tenth of an eigendecomposition's
    cost at m = 110: 0.06 ms against 1 ms); a singular or indefinite ``cov`` (a
    feature that never varies, rounding below zero) falls back to the
    eigendecomposition with negative eigenvalues clipped. Any ``F`` with
    ``F F' = cov`` gives noise of the same distribution.
    """
    sym = (cov + cov.T) / 2.0
    try:
        return np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(sym)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))


def topk_masks(keys: np.ndarray, k: int) -> np.ndarray:
    """Boolean (draws, m) masks of the k largest ``|keys|`` per row.

    A threshold at each row's k-th largest value (cheaper than sorting
    indices); the rare rows with an exact tie at that value (keys without
    noise) are redone with ``argpartition`` so that every mask keeps exactly k.
    """
    size = np.abs(keys)
    m = size.shape[1]
    kth = np.partition(size, m - k, axis=1)[:, m - k : m - k + 1]
    mask = size >= kth
    crowded = np.count_nonzero(mask, axis=1) > k
    if crowded.any():
        top = np.argpartition(-size[crowded], k - 1, axis=1)[:, :k]
        fixed = np.zeros((int(crowded.sum()), m), dtype=bool)
        np.put_along_axis(fixed, top, True, axis=1)
        mask[crowded] = fixed
    return mask


def _agreement(a: np.ndarray, b: np.ndarray, k: int, measure: str) -> np.ndarray:
    shared = np.count_nonzero(a & b, axis=1)
    if measure == "overlap":
        return shared / k
    return shared / (2 * k - shared)


@dataclass(frozen=True)
class TieReport:
    """Which features of an explanation cannot be told apart.

    Per-feature arrays are in display order: by decreasing ``|weight|`` of the
    explanation's fit (stable sort, as lime-explain lists features).

    Attributes
    ----------
    features : ndarray of intp, shape (p,)
        The explanation's features in display order.
    order : ndarray of intp, shape (p,)
        Positions into ``CoefficientErrors.features`` giving that order.
    tied_with_next : ndarray of bool, shape (p,)
        The interval of ``|w_i| - |w_next|`` contains 0 (last entry False).
    equivalent_with_next : ndarray of bool, shape (p,)
        The whole interval of ``|w_i| - |w_next|`` lies within the tolerance.
    groups : list of ndarray of intp
        Runs of features chained by ``tied_with_next`` (feature indices, at least
        two each), in display order.
    boundary : ndarray of bool, shape (p,)
        The feature's place in the top K is uncertain: its key is not clearly
        above that of every candidate left out.
    contenders : ndarray of intp
        Candidates left out whose key is not clearly below every selected one.
    separated : bool
        Every (selected, left-out) pair is clearly ordered.
    settled : bool
        Every such pair is clearly ordered or equivalent within the tolerance.
    critical : float
        The critical value used for boundary pairs (simultaneous over all of
        them, and over ``looks``).
    tolerance : float
        The absolute tolerance on key differences (``tol * max |key|``, plus
        ``ATOL`` so that the rounding noise of a constant model is a tie).
    """

    features: np.ndarray
    order: np.ndarray
    tied_with_next: np.ndarray
    equivalent_with_next: np.ndarray
    groups: list[np.ndarray]
    boundary: np.ndarray
    contenders: np.ndarray
    separated: bool
    settled: bool
    critical: float
    tolerance: float


def abs_differences(
    values: np.ndarray, cov: np.ndarray, first: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``|v_i| - |v_j|`` for index pairs, and its delta-method standard error.

    Parameters
    ----------
    values : ndarray of float64, shape (m,)
    cov : ndarray of float64, shape (m, m)
    first, second : ndarray of intp, shape (q,)
        The pairs ``(first[t], second[t])``.

    Returns
    -------
    diff, stderr : ndarray of float64, shape (q,)
        With ``s = sign(v)``: ``Var = s_i^2 V_ii + s_j^2 V_jj - 2 s_i s_j V_ij``.
    """
    sign = np.where(values < 0, -1.0, 1.0)
    si, sj = sign[first], sign[second]
    diagonal = cov.diagonal()
    var = diagonal[first] + diagonal[second] - 2.0 * si * sj * cov[first, second]
    return np.abs(values[first]) - np.abs(values[second]), np.sqrt(np.maximum(var, 0.0))


def declare_ties(
    fit_values: np.ndarray,
    fit_cov: np.ndarray,
    fit_features: np.ndarray,
    keys: RankingKeys | None = None,
    *,
    level: float = 0.95,
    tol: float = 0.05,
    looks: int = 1,
    seed: int = 0,
    k: int | None = None,
    shared: SharedDraws | None = None,
) -> TieReport:
    """Declare ties between adjacent features and at the K-boundary.

    Parameters
    ----------
    fit_values, fit_cov, fit_features : ndarray, shapes (p,), (p, p), (p,)
        The explanation's weights, their covariance and feature indices
        (``CoefficientErrors.coef``, ``.cov``, ``.features``).
    keys : RankingKeys, optional
        Ranking keys of a candidate set containing the explanation's features
        (:func:`ranking_keys`); without it no boundary comparisons are made.
    level : float
        Confidence (default 0.95). Adjacent pairs use individual intervals
        (each says whether one rank is above the next). Boundary pairs use
        intervals simultaneous over all (selected, left-out) pairs: a max-|t|
        critical value from the keys' joint normal distribution, so "the set is
        settled" is one statement at this confidence.
    tol : float
        Relative tolerance: a pair is *equivalent* when the whole interval of
        its difference lies within ``+-tol * max |value|``. Exact or near-exact
        ties become equivalent once enough samples are drawn; without a
        tolerance they would never be settled.
    looks : int
        Number of planned looks at the data (adaptive sampling): the error rate
        ``1 - level`` is split evenly between them (Bonferroni).
    seed : int
        Seed of the max-|t| simulation.
    k : int, optional
        Size of the top-K set: the boundary lies after the K strongest
        fitted features (default: all of them). An image fits every
        superpixel but shows K; without ``k`` nothing would be left out and
        every image would look settled.
    shared : SharedDraws, optional
        Noise already simulated for ``keys`` (:mod:`lime_cli.engine.simulation`):
        the max-|t| quantile reuses it instead of drawing its own.

    Returns
    -------
    TieReport
    """
    alpha = (1.0 - level) / max(1, looks)
    values = np.asarray(fit_values, dtype=np.float64)
    cov = np.asarray(fit_cov, dtype=np.float64)
    feats = np.asarray(fit_features, dtype=np.intp)
    p = len(values)
    order = np.argsort(-np.abs(values), kind="stable")
    z_adj = z_value(1.0 - alpha)
    tol_fit = tol * (float(np.abs(values).max()) if p else 0.0) + ATOL
    tied = np.zeros(p, dtype=bool)
    equiv = np.zeros(p, dtype=bool)
    if p > 1:
        diff, se = abs_differences(values, cov, order[:-1], order[1:])
        tied[:-1] = diff <= z_adj * se
        equiv[:-1] = diff + z_adj * se <= tol_fit
    groups: list[np.ndarray] = []
    start = 0
    for i in range(p):
        if not tied[i]:
            if i > start:
                groups.append(feats[order[start : i + 1]])
            start = i + 1
    boundary = np.zeros(p, dtype=bool)
    contenders = np.zeros(0, dtype=np.intp)
    separated = settled = True
    critical = 0.0
    tolerance = tol_fit
    if keys is not None and p:
        kv = np.asarray(keys.keys, dtype=np.float64)
        pos = {int(f): i for i, f in enumerate(keys.features)}
        top = order if k is None else order[: max(1, k)]
        inside = np.array([pos[int(f)] for f in feats[top]], dtype=np.intp)
        left_out = np.ones(len(kv), dtype=bool)
        left_out[inside] = False
        outside = np.flatnonzero(left_out)
        if len(outside):
            first = np.repeat(inside, len(outside))
            second = np.tile(outside, len(inside))
            diff, se = abs_differences(kv, keys.cov, first, second)
            tolerance = tol * float(np.abs(kv).max()) + ATOL
            # Verdicts only move as the critical value goes from one pair's
            # (lowest possible) to Bonferroni's (highest): when no pair's
            # verdict differs between the two, the max-|t| quantile cannot
            # change any, and its simulation is skipped (Bonferroni's is kept).
            live = int(np.count_nonzero(se > 0))
            low, high = z_value(1.0 - alpha), z_value(1.0 - alpha / max(1, live))
            if _verdicts(diff, se, low, tolerance) == _verdicts(diff, se, high, tolerance):
                critical = high if live else 0.0
            else:
                grid = se.reshape(len(inside), len(outside))
                critical = _max_t_critical(
                    kv, keys.cov, inside, outside, grid, alpha, seed, shared=shared
                )
            clear, reversed_, same = _verdict_arrays(diff, se, critical, tolerance)
            unclear = ~clear
            boundary[: len(inside)] = unclear.reshape(len(inside), len(outside)).any(axis=1)
            contenders = keys.features[
                outside[unclear.reshape(len(inside), len(outside)).any(axis=0)]
            ]
            separated = bool(np.all(clear | reversed_))
            settled = bool(np.all(clear | reversed_ | same))
    return TieReport(
        features=feats[order],
        order=order,
        tied_with_next=tied,
        equivalent_with_next=equiv,
        groups=groups,
        boundary=boundary,
        contenders=np.asarray(contenders, dtype=np.intp),
        separated=separated,
        settled=settled,
        critical=float(critical),
        tolerance=float(tolerance),
    )


def _max_t_critical(
    values: np.ndarray,
    cov: np.ndarray,
    inside: np.ndarray,
    outside: np.ndarray,
    se: np.ndarray,
    alpha: float,
    seed: int,
    draws: int | None = None,
    shared: SharedDraws | None = None,
) -> float:
    """The (1 - alpha) quantile of ``max |T_io|`` over the (inside, outside) grid,
    ``T`` the studentised differences of absolute keys under the joint normal
    approximation; never above Bonferroni's, nor below one pair's.

    ``se`` is (len(inside), len(outside)); pairs with ``se == 0`` do not count.
    ``draws`` defaults to :func:`max_t_draws`. With ``shared`` (noise of the
    same keys) its first ``draws`` rows are used
    (:meth:`~lime_cli.engine.simulation.SharedDraws.key_rows`). One pass per
    inside feature over all outside ones (broadcast, no gathered pair arrays),
    in the noise's precision.
    """
    if draws is None:
        draws = max_t_draws(alpha)
    live = se > 0
    if not live.any():
        return 0.0
    bonferroni = z_value(1.0 - alpha / int(live.sum()))
    if shared is not None:
        noise = shared.key_rows(draws)
    else:
        factor = cov_root(cov)
        noise = np.random.default_rng(seed).standard_normal((draws, factor.shape[1])) @ factor.T
    # In the noise's precision (float32 from SharedDraws): float64 factors would
    # promote every product below.
    sign = np.where(values < 0, -1.0, 1.0).astype(noise.dtype)
    # Draws along the contiguous axis: the max over outside features is then
    # an element-wise maximum of rows (three times faster than reducing each
    # draw's short row), and one buffer serves every inside feature.
    away = np.ascontiguousarray((noise[:, outside] * sign[outside]).T)
    near = np.ascontiguousarray((noise[:, inside] * sign[inside]).T)
    inv = np.where(live, 1.0 / np.where(live, se, 1.0), 0.0).astype(noise.dtype)
    peaks = np.zeros(draws, dtype=noise.dtype)
    t = np.empty_like(away)
    for row in range(len(inside)):
        if live[row].any():
            np.subtract(near[row], away, out=t)
            np.abs(t, out=t)
            t *= inv[row][:, None]
            np.maximum(peaks, t.max(axis=0), out=peaks)
    # Between one pair's critical value and Bonferroni's, as the quantile is in
    # theory: a Monte-Carlo quantile below one pair's would make the verdicts
    # depend on whether declare_ties skipped this simulation.
    single = z_value(1.0 - alpha)
    return float(max(single, min(bonferroni, np.quantile(peaks, 1.0 - alpha))))


def _verdict_arrays(
    diff: np.ndarray, se: np.ndarray, critical: float, tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: clearly above, clearly below, equivalent within ``tolerance``."""
    margin = critical * se
    return diff > margin, diff < -margin, np.abs(diff) + margin <= tolerance


def _verdicts(diff: np.ndarray, se: np.ndarray, critical: float, tolerance: float) -> bytes:
    """The pairs' verdicts at ``critical``, packed for comparison."""
    return np.packbits(np.concatenate(_verdict_arrays(diff, se, critical, tolerance))).tobytes()


def max_t_draws(alpha: float) -> int:
    """Draws for a stable max-|t| quantile at error rate ``alpha``: about 50 beyond
    it (1000 at 0.05, up to 4000 for the smaller alphas of repeated looks)."""
    return int(min(4000, max(1000, 50 / alpha)))
