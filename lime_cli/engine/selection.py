"""Feature selection with lime's meanings, computed from shared weighted products.

- ``forward``: greedy forward selection by the weighted R^2 of an unregularised
  least-squares fit (lime's ``forward_selection``), done as orthogonal least
  squares: each step costs one product with the sample matrix instead of one
  refit per candidate feature.
- ``highest``: the largest ``|coef_j * z0_j|`` of a ridge fit (alpha 0.01) on
  all features (lime's ``highest_weights``).
- ``lasso``: the weighted LARS lasso path, walked back from its end to the
  last point with at most K non-zero coefficients (lime's ``lasso_path``).
- ``none``: every feature.
- ``auto``: ``forward`` for K <= 6, else ``highest`` (lime's rule).
"""

from __future__ import annotations

import numpy as np

from lime_cli.defaults import AUTO_FORWARD_LIMIT, FEATURE_SELECTIONS
from lime_cli.engine.surrogate import WeightedDesign

METHODS = FEATURE_SELECTIONS

#: Relative size below which a candidate's residual variance counts as zero
#: (the feature is a linear combination of those already chosen).
_COLLINEAR_TOL = 1e-10


def select_features(
    design: WeightedDesign, y: np.ndarray, k: int, method: str
) -> np.ndarray | None:
    """Indices of the chosen features, or ``None`` meaning all of them."""
    if method not in METHODS:
        raise ValueError(f"unknown feature selection {method!r}")
    k = min(k, design.d)
    if method == "none":
        return None
    if method == "auto":
        method = "forward" if k <= AUTO_FORWARD_LIMIT else "highest"
    if method in ("forward", "highest") and k == design.d:
        # Both would rank every feature only to keep them all (a table with
        # no more columns than K): the same set without the ranking's work.
        return np.arange(design.d, dtype=np.intp)
    if method == "forward":
        return forward_selection(design, y, k)
    if method == "highest":
        return highest_weights(design, y, k)
    return lasso_path_selection(design, y, k)


def forward_selection(design: WeightedDesign, y: np.ndarray, k: int) -> np.ndarray:
    """Greedy forward selection maximising the weighted R^2 of OLS with intercept.

    Keeps a W-orthonormal basis ``q_1..q_m`` of the chosen (centred) columns and,
    for every candidate j, its projections ``a_t[j] = q_t' W zc_j``. The gain of
    adding j is ``(c_j - sum_t a_t[j] b_t)^2 / (g_jj - sum_t a_t[j]^2)`` with
    ``c = Zc' W yc`` and ``b_t = q_t' W yc``: the increase in explained sum of
    squares, so the arg-max equals the arg-max of the refitted score.
    """
    _, yc, _ = design.target_stats(y)
    num = design.cross(yc)
    den = design.diag().copy()
    scale = np.maximum(den, 1e-300)
    chosen: list[int] = []
    basis: list[np.ndarray] = []
    projections: list[np.ndarray] = []
    available = np.ones(design.d, dtype=bool)
    for _ in range(k):
        ok = available & (den > _COLLINEAR_TOL * scale)
        if not ok.any():
            # Every remaining feature is constant or collinear with the chosen
            # ones: adding any leaves the score unchanged. lime still returns
            # K features, so take the lowest-numbered unused one.
            j = int(np.flatnonzero(available)[0])
            chosen.append(j)
            available[j] = False
            continue
        gain = np.full(design.d, -np.inf)
        gain[ok] = num[ok] ** 2 / den[ok]
        j = int(np.argmax(gain))
        chosen.append(j)
        available[j] = False
        # New basis vector: zc_j minus its projections on the basis, normalised.
        q = design.centred_columns(np.array([j]))[:, 0]
        for q_t, a_t in zip(basis, projections):
            q -= a_t[j] * q_t
        q /= np.sqrt(den[j])
        a = design.cross(q)
        num = num - a * float(design.w @ (q * yc))
        den = den - a * a
        basis.append(q)
        projections.append(a)
    return np.asarray(chosen, dtype=np.intp)


def highest_weights(design: WeightedDesign, y: np.ndarray, k: int) -> np.ndarray:
    """The K largest ``|coef * z0|`` of a ridge(0.01) fit on all features."""
    coef, _ = design.solve_all(y, alpha=0.01)
    score = np.abs(coef * design.first_row)
    order = np.argsort(-score, kind="stable")
    return order[:k].astype(np.intp)


def lasso_path_selection(design: WeightedDesign, y: np.ndarray, k: int) -> np.ndarray:
    """lime's lasso_path: the last point of the weighted lasso path with <= K features."""
    from sklearn.linear_model import lars_path

    root_w = np.sqrt(design.w)
    x = design.centred_columns(np.arange(design.d)) * root_w[:, None]
    ybar = float(design.w @ y) / design.sw
    _, _, coefs = lars_path(x, (y - ybar) * root_w, method="lasso", verbose=False)
    chosen = np.zeros(0, dtype=np.intp)
    for i in range(coefs.shape[1] - 1, 0, -1):
        nonzero = coefs[:, i].nonzero()[0]
        if len(nonzero) <= k:
            chosen = nonzero.astype(np.intp)
            break
    if len(chosen) < k:
        # A degenerate path (constant target or columns) activates fewer than
        # K features: fill up with the lowest-numbered unused ones, as lime's
        # other modes would still return K.
        rest = np.setdiff1d(np.arange(design.d), chosen)[: k - len(chosen)]
        chosen = np.concatenate([chosen, rest]).astype(np.intp)
    return chosen
