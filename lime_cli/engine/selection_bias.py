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

from lime_cli.engine.simulation import SharedDraws, needs_weight_noise
from lime_cli.engine.stability import RankingKeys
from lime_cli.engine.uncertainty import CoefficientErrors

#: Simulated re-runs when none are shared (the bias is a conditional mean:
#: 2000 keep its Monte-Carlo error near 0.03 standard errors for features kept
#: half the time), as many as :class:`lime_cli.engine.simulation.SharedDraws` draws.
DRAWS = 2000

#: Below this many simulated re-runs keeping a feature its bias is not estimated
#: (0): a feature almost never kept would be corrected from a handful of draws.
MIN_KEPT = 50


def selection_bias(
    errors: CoefficientErrors,
    keys: RankingKeys,
    *,
    seed: int = 0,
    draws: int = DRAWS,
    shared: SharedDraws | None = None,
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
        Seed of the simulation (reproducible intervals; ignored with ``shared``).
    draws : int
        Simulated re-runs (default 2000; ignored with ``shared``).
    shared : SharedDraws, optional
        Re-runs already simulated from ``keys`` and ``errors`` (with their
        weights' noise): used instead of new ones.

    Returns
    -------
    ndarray of float64, shape (p,)
        ``E[noise_j | feature j kept]`` for every reported feature, in the order
        of ``errors.features``: subtract it from the interval's centre. The
        selection is modelled as keeping the ``p`` largest ``|keys|``. Zeros
        when nothing was selected (every candidate is reported: images, or
        tables with fewer columns than K) or when scores are missing.
    """
    p = len(errors.features)
    bias = np.zeros(p)
    if not needs_weight_noise(errors, keys):
        return bias
    if shared is None or shared.weight_noise is None:
        shared = SharedDraws(keys, errors, seed=seed, pairs=max(1, draws // 2))
    assert shared.weight_noise is not None
    position = {int(f): i for i, f in enumerate(keys.features)}
    where = np.array([position[int(f)] for f in errors.features], dtype=np.intp)
    kept = shared.masks(p)[:, where].astype(np.float64)
    counts = kept.sum(axis=0)
    # Summed in double precision (the noise may be float32: SharedDraws).
    sums = np.einsum("dj,dj->j", kept, shared.weight_noise.astype(np.float64))
    enough = counts >= MIN_KEPT
    bias[enough] = sums[enough] / counts[enough]
    return bias
