"""Weighted ridge regression on the sample matrix, as scikit-learn's Ridge fits it.

``WeightedDesign`` holds the sample matrix ``Z`` and the kernel weights ``w``
and answers the products every label needs (weighted means, centred cross
products, the Gram matrix and its Cholesky factor) once, so explaining several
labels, or selecting features greedily, never refits from scratch.

The model is Ridge(alpha, fit_intercept=True) with sample weights: minimise
``sum_i w_i (y_i - b0 - z_i.b)^2 + alpha |b|^2``. With weighted centring the
intercept drops out and ``(Zc' W Zc + alpha I) b = Zc' W yc``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.sparse.linalg import LinearOperator, lsqr

from lime_cli.engine import matrix

#: Ridge problems over all features are solved exactly through the smaller of
#: the two normal-equation systems: d x d (features) or n x n (samples, the
#: "dual" or kernel form, used when there are more features than samples), as
#: long as it has at most this many rows; it is factorised once and reused for
#: every label. Beyond that, LSQR iterates without forming either.
GRAM_LIMIT = 6000


@dataclass
class RidgeFit:
    """A fitted local surrogate restricted to ``features``."""

    features: np.ndarray
    coef: np.ndarray
    intercept: float
    score: float
    local_prediction: float


class WeightedDesign:
    """The sample matrix with its kernel weights and cached weighted products."""

    def __init__(self, z: np.ndarray, weights: np.ndarray) -> None:
        # A 0/1 matrix (uint8 or bool) is its own square: remembered before
        # it is converted for the products.
        self._zero_one = _is_zero_one(z)
        self.z = matrix.as_float_rows(z)
        self.w = np.asarray(weights, dtype=np.float64)
        self.n, self.d = z.shape
        self.sw = float(self.w.sum())
        if not self.sw > 0:
            raise ValueError("kernel weights sum to zero")
        self.mean = matrix.rmatvec(self.z, self.w) / self.sw
        self.first_row = matrix.row(self.z, 0)
        self._diag: np.ndarray | None = None
        self._factors: dict[tuple[str, float], tuple[np.ndarray, bool]] = {}

    # -- products -----------------------------------------------------------
    def target_stats(self, y: np.ndarray) -> tuple[float, np.ndarray, float]:
        """Weighted mean of y, the centred y and its weighted sum of squares."""
        ybar = float(self.w @ y) / self.sw
        yc = y - ybar
        return ybar, yc, float(self.w @ (yc * yc))

    def cross(self, v: np.ndarray) -> np.ndarray:
        """``Zc' W v`` for an n-vector (or n x m matrix) ``v``."""
        wv = self.w[:, None] * v if v.ndim == 2 else self.w * v
        return matrix.rmatvec(self.z, wv) - np.multiply.outer(self.mean, wv.sum(axis=0))

    def diag(self) -> np.ndarray:
        """Diagonal of ``Zc' W Zc``: each feature's weighted variance times sum(w)."""
        if self._diag is None:
            sq = matrix.rmatvec(self._squared(), self.w)
            self._diag = np.maximum(sq - self.sw * self.mean**2, 0.0)
        return self._diag

    def square_cross(self, v: np.ndarray) -> np.ndarray:
        """``sum_i (z_ij - mean_j)^2 v_i`` for every feature j, given an n-vector ``v``.

        One pass over ``Z`` and one over its elementwise square (no dense copy):
        the diagonal of ``Zc' diag(v) Zc``, e.g. per-feature sandwich variances.
        """
        v = np.asarray(v, dtype=np.float64)
        sq = matrix.rmatvec(self._squared(), v)
        return np.maximum(
            sq - 2.0 * self.mean * matrix.rmatvec(self.z, v) + self.mean**2 * v.sum(), 0.0
        )

    def _squared(self) -> np.ndarray:
        """``Z`` squared elementwise (``Z`` itself when it is 0/1: no copy)."""
        return self.z if self._zero_one else _square(self.z)

    def centred_columns(self, idx: np.ndarray) -> np.ndarray:
        """Dense ``Z[:, idx] - mean[idx]``."""
        idx = np.asarray(idx, dtype=np.intp)
        out = matrix.columns(self.z, idx)  # a new array: centred in place
        out -= self.mean[idx]
        return out

    # -- solvers ------------------------------------------------------------
    def solve_all(self, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
        """Ridge coefficients and intercept over every feature."""
        ybar, yc, _ = self.target_stats(y)
        if self.d <= self.n and self.d <= GRAM_LIMIT:
            coef = linalg.cho_solve(
                self._factor("primal", alpha), self.cross(yc), check_finite=False
            )
        elif self.n < self.d and self.n <= GRAM_LIMIT:
            root_w = np.sqrt(self.w)
            u = linalg.cho_solve(self._factor("dual", alpha), root_w * yc, check_finite=False)
            coef = self.cross(u / root_w) if np.all(root_w > 0) else self._dual_coef(u)
        else:
            coef = self._lsqr(yc, alpha)
        return coef, ybar - float(self.mean @ coef)

    def _factor(self, form: str, alpha: float) -> tuple[np.ndarray, bool]:
        """Cholesky factor of ``G + alpha I`` (primal) or ``K + alpha I`` (dual), cached.

        The system is built, regularised and factorised in place, so only one
        dense square matrix is held per (form, alpha).
        """
        key = (form, alpha)
        factor = self._factors.get(key)
        if factor is None:
            system = self.gram() if form == "primal" else self.kernel()
            system[np.diag_indices_from(system)] += alpha
            factor = linalg.cho_factor(system, overwrite_a=True, check_finite=False)
            self._factors[key] = factor
        return factor

    def gram(self) -> np.ndarray:
        """A new dense ``Zc' W Zc`` (d x d), built a block of rows at a time."""
        g = np.zeros((self.d, self.d))
        for start, stop, block in matrix.row_chunks(self.z):
            root = np.sqrt(self.w[start:stop])[:, None]
            if hasattr(block, "toarray"):
                scaled = block.multiply(root).tocsr()
                g += (scaled.T @ scaled).toarray()
            else:
                scaled = block * root
                g += scaled.T @ scaled
        g -= self.sw * np.outer(self.mean, self.mean)
        return g

    def kernel(self) -> np.ndarray:
        """A new dense ``A A'`` (n x n), ``A = sqrt(W) Zc``, built a block of columns at a time."""
        root_w = np.sqrt(self.w)[:, None]
        k = np.zeros((self.n, self.n))
        step = max(1, matrix.BLOCK_BYTES // (8 * max(1, self.n)))
        for start in range(0, self.d, step):
            cols = np.arange(start, min(self.d, start + step))
            block = self.centred_columns(cols) * root_w
            k += block @ block.T
        return k

    def _dual_coef(self, u: np.ndarray) -> np.ndarray:
        """``A' u`` when some weights are zero (so ``u / sqrt(w)`` is undefined)."""
        v = np.sqrt(self.w) * u
        return matrix.rmatvec(self.z, v) - self.mean * float(v.sum())

    def _lsqr(self, yc: np.ndarray, alpha: float) -> np.ndarray:
        """Iterative ridge on ``sqrt(w) * Zc`` without forming it (large d)."""
        root_w = np.sqrt(self.w)
        mean = self.mean

        def mv(x: np.ndarray) -> np.ndarray:
            x = np.ravel(x)
            return root_w * (matrix.matvec(self.z, x) - float(mean @ x))

        def rmv(u: np.ndarray) -> np.ndarray:
            u = root_w * np.ravel(u)
            return matrix.rmatvec(self.z, u) - mean * float(u.sum())

        op = LinearOperator((self.n, self.d), matvec=mv, rmatvec=rmv, dtype=np.float64)
        result = lsqr(op, root_w * yc, damp=np.sqrt(alpha), atol=1e-10, btol=1e-10, iter_lim=2000)
        return result[0]

    def fit(self, y: np.ndarray, features: np.ndarray | None, alpha: float) -> RidgeFit:
        """Weighted ridge on the chosen features (``None``: all), with its score.

        ``score`` is the weighted R^2 (scikit-learn's convention: 1 for a
        perfect fit of a constant target, else 0 when the target is constant).
        """
        if features is None or len(features) == self.d and self.d > min(self.n, GRAM_LIMIT):
            idx = np.arange(self.d)
            coef, intercept = self.solve_all(y, alpha)
            fitted = matrix.matvec(self.z, coef) + intercept
        else:
            idx = np.asarray(features, dtype=np.intp)
            ybar, yc, _ = self.target_stats(y)
            xc = self.centred_columns(idx)
            wx = xc * self.w[:, None]
            a = xc.T @ wx + alpha * np.eye(len(idx))
            coef = linalg.solve(a, wx.T @ yc, assume_a="pos") if len(idx) else np.zeros(0)
            intercept = ybar - float(self.mean[idx] @ coef)
            fitted = matrix.columns(self.z, idx) @ coef + intercept
        score = weighted_r2(y, fitted, self.w)
        local = float(self.first_row[idx] @ coef + intercept)
        return RidgeFit(idx, np.asarray(coef, dtype=np.float64), float(intercept), score, local)


def weighted_r2(y: np.ndarray, fitted: np.ndarray, w: np.ndarray) -> float:
    """Weighted coefficient of determination, as ``sklearn.metrics.r2_score``."""
    ybar = float(w @ y) / float(w.sum())
    return r2_from_sums(float(w @ (y - fitted) ** 2), float(w @ (y - ybar) ** 2))


def r2_from_sums(residual: float, total: float) -> float:
    """``1 - residual / total`` from weighted sums of squares, with scikit-learn's
    convention for a constant target (1 for a perfect fit, else 0)."""
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _is_zero_one(z: np.ndarray) -> bool:
    """Whether ``z`` holds only 0 and 1 by its type: bool, or dense uint8 (the
    text and image domains' samples; a sparse uint8 matrix may hold counts)."""
    return bool(z.dtype == np.bool_ or (z.dtype == np.uint8 and not hasattr(z, "toarray")))


def _square(z: np.ndarray) -> np.ndarray:
    """Elementwise square (a new array)."""
    if hasattr(z, "multiply"):
        return z.multiply(z)
    return np.square(z, dtype=np.float64)
