"""The winner's curse of feature selection, and its correction of the intervals.

An explanation keeps the K features whose weights look strongest *on its own
samples*, then fits and reports those weights on the same samples. A feature
near the cut is kept more often when its noise happened to push it outwards,
so the kept weights are biased away from zero: the weights a fit on very many
samples gives the same features are, on average, smaller. On breast-cancer rows
(10 of 30 correlated columns kept, 1000 samples) the interval centres lay
0.65 standard errors beyond the 50,000-sample weight for features near the
cut and 0.34 for the others, and 95% intervals covered it 0.89 of the time
(``bench/bench_trust.py calibration``). The sandwich intervals are right
about the spread, wrong about the centre.

Correction (a simulation of re-runs, as for the stability figure): the
ranking keys the selection used and the reported weights are both linear in
the same per-sample terms, so their noise is jointly normal with covariance
``[S_k S_f]' [S_k S_f]`` (``S`` the influence scores). Re-runs are simulated as
``truth + noise``, the truth drawn from the keys' empirical-Bayes posterior
(:func:`lime_cli.engine.stability.posterior_draws`: the crowd of weak features
shrinks towards each other, which is what makes a lucky pick look lucky). The
bias of a reported weight is the mean of its noise over the simulated re-runs
that keep that feature: ``E[e_j | j in top K]``. The interval is centred on
the estimate minus that bias; its width is unchanged (the conditional spread
is slightly smaller, so this errs on the wide side).

It applies only where features were *selected*: when every fitted feature is
reported (images fit every superpixel) nothing was chosen and the bias is 0.
"""

from __future__ import annotations

import numpy as np

from lime_cli.engine.stability import RankingKeys, cov_root, shared_truths, topk_masks
from lime_cli.engine.uncertainty import CoefficientErrors

#: Simulated re-runs (the bias is a conditional mean: 2000 keep its
#: Monte-Carlo error near 0.03 standard errors for features kept half the time).
DRAWS = 2000

#: Distinct draws of the true keys from their posterior, each shared by
#: ``DRAWS / TRUTHS`` simulated re-runs.
TRUTHS = 200

#: Below this many simulated re-runs keeping a feature its bias is not estimated
#: (0): a feature almost never kept would be corrected from a handful of draws.
MIN_KEPT = 50


def selection_bias(
    errors: CoefficientErrors,
    keys: RankingKeys,
    *,
    seed: int = 0,
    draws: int = DRAWS,
) -> np.ndarray:
    """Estimated bias of each reported weight caused by selecting it, shape (p,).

    Parameters
    ----------
    errors : CoefficientErrors
        The reported fit on the selected features, with ``scores`` (n, p).
    keys : RankingKeys
        The candidates' ranking keys, with ``scores`` (n, m), from the same
        samples; its ``features`` contain ``errors.features``.
    seed : int
        Seed of the simulation (reproducible intervals).
    draws : int
        Simulated re-runs (default 2000).

    Returns
    -------
    ndarray of float64, shape (p,)
        ``E[noise_j | feature j kept]`` for every reported feature, in the order
        of ``errors.features``: subtract it from the interval's centre. The
        selection is modelled as keeping the ``p`` largest ``|keys|``. Zeros
        when nothing was selected (every candidate is reported: images, or
        tables with fewer columns than K) or when scores are missing.
    """
    p, m = len(errors.features), len(keys.features)
    bias = np.zeros(p)
    if errors.scores is None or keys.scores is None or p >= m or p == 0:
        return bias
    position = {int(f): i for i, f in enumerate(keys.features)}
    where = np.array([position.get(int(f), -1) for f in errors.features], dtype=np.intp)
    if (where < 0).any():
        return bias
    cross = keys.scores.T @ errors.scores
    factor = cov_root(np.block([[keys.cov, cross], [cross.T, errors.cov]]))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((draws, factor.shape[1])) @ factor.T
    sd = np.sqrt(np.maximum(np.diag(keys.cov), 0.0))
    # Truths in groups sharing one posterior draw (as for the stability figure):
    # the posterior's spread is covered by 200 truths, the noise by every draw.
    groups = max(1, min(TRUTHS, draws))
    truth = shared_truths(np.asarray(keys.keys, dtype=np.float64), sd, draws, groups, rng)
    kept = topk_masks(truth + noise[:, :m], p)[:, where].astype(np.float64)
    counts = kept.sum(axis=0)
    sums = np.einsum("dj,dj->j", kept, noise[:, m:])
    enough = counts >= MIN_KEPT
    bias[enough] = sums[enough] / counts[enough]
    return bias
