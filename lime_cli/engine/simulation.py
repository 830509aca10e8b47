"""One set of simulated re-runs, shared by every Monte-Carlo part of one label's uncertainty.

Three figures of an explanation are simulated from the same joint normal
approximation of the ranking keys (and of the reported weights):

- the critical value of the simultaneous boundary intervals (max-|t|,
  :func:`lime_cli.engine.stability.declare_ties`);
- the stability figure: pairs of re-runs around truths drawn from the
  empirical-Bayes posterior (:func:`lime_cli.engine.stability.topk_agreement`);
- the winner's-curse bias of the kept weights
  (:func:`lime_cli.engine.selection_bias.selection_bias`).

Each used to factor its own covariance and draw its own noise and truths: three
eigendecompositions, about 7,000 rows of noise, two posterior fits and three
top-K sorts for every label of every explanation, 30 ms of a BBC article's
uncertainty work (``bench/bench_overhead.py``). :class:`SharedDraws`
does each once. The three estimates then share their random numbers, which
changes none of their expectations: each is still an average over draws from
its own distribution, and the seed still makes every figure reproducible.

What one simulation costs (a BBC article, 100 candidates, K = 10: 2,000 rows
of noise over 110 columns, 200 posterior draws) was then about 9 ms of the
article's 16.5 ms of uncertainty work; these choices bring the whole to about
8 ms (``bench/bench_overhead.py``), with the same estimators (merging
atoms moves posterior means by under 0.0003 standard errors):

- single precision for the noise, the truths and what is computed from them
  (:func:`simulation_dtype`; float64 where its rounding could matter), with
  normals by Box-Muller (:func:`standard_normals`);
- a Cholesky factor rather than an eigendecomposition (``cov_root``);
- posterior atoms merged within 0.05 standard errors before EM
  (``posterior_draws``);
- no rows beyond the pairs' until the max-|t| quantile asks for them
  (:meth:`SharedDraws.key_rows`).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from lime_cli.engine.stability import RankingKeys, cov_root, shared_truths, topk_masks
from lime_cli.engine.uncertainty import CoefficientErrors

#: Simulated pairs of re-runs behind the stability figure (its Monte-Carlo
#: standard error is at most 0.5 / sqrt(1000) = 0.016, typically under 0.007),
#: and the rows of noise (twice this) behind the bias and the max-|t| quantile
#: (which draws more when the small error rates of many looks need them).
PAIRS = 1000

#: At most this many posterior draws of the truth, each shared by at least
#: ``MIN_PER`` consecutive pairs: a few hundred truths cover the posterior, and
#: the spread of the groups' mean agreement measures how uncertain the figure is.
MAX_TRUTHS = 200
MIN_PER = 5


class SharedDraws:
    """Simulated re-runs of one label's fit, drawn on first use.

    Row ``i`` and row ``i + rows // 2`` are the two runs of pair ``i``: they
    share a truth. Consecutive pairs share truths in groups of ``per``.
    Nothing is drawn until an attribute is read: an explanation whose top K
    is every candidate (a table of three columns) needs no simulation.

    Attributes
    ----------
    keys_noise : ndarray of float32 (or float64, :func:`simulation_dtype`), shape (rows, m)
        Noise of the ranking keys, ``N(0, keys.cov)`` per row.
    weight_noise : ndarray of the same dtype, shape (rows, p), or None
        The reported weights' noise, jointly normal with ``keys_noise`` (the
        cross-covariance from the samples' scores); None when the selection
        bias needs none (:func:`needs_weight_noise`).
    truths : ndarray of the same dtype, shape (rows, m)
        Draws of the true keys from their empirical-Bayes posterior.
    per : int
        Pairs per posterior draw.

    Parameters
    ----------
    keys : RankingKeys
        Candidates' keys and covariance (with ``scores`` for the joint noise).
    errors : CoefficientErrors, optional
        The reported fit; its weights' noise is drawn jointly with the keys'
        when the selection bias needs it (:func:`needs_weight_noise`).
    seed : int
        Seed of every draw (reproducible figures).
    pairs : int
        Simulated pairs of re-runs (default 1000; rows are twice this). The
        max-|t| quantile may want more rows of the keys' noise
        (:meth:`key_rows`): they are drawn when it asks, not before, since
        :func:`~lime_cli.engine.stability.declare_ties` usually skips it.
    """

    def __init__(
        self,
        keys: RankingKeys,
        errors: CoefficientErrors | None = None,
        *,
        seed: int = 0,
        pairs: int = PAIRS,
    ) -> None:
        self._keys, self._errors, self._seed = keys, errors, seed
        self._half = max(1, pairs)
        self._masks: dict[int, np.ndarray] = {}
        self._longer: np.ndarray | None = None

    @property
    def pairs(self) -> int:
        """Simulated pairs of re-runs (half the rows)."""
        return self._half

    @property
    def keys_noise(self) -> np.ndarray:
        return self._drawn[0]

    @property
    def weight_noise(self) -> np.ndarray | None:
        return self._drawn[1]

    @property
    def truths(self) -> np.ndarray:
        return self._drawn[2]

    @property
    def per(self) -> int:
        return self._drawn[3]

    def key_rows(self, count: int) -> np.ndarray:
        """The first ``count`` rows of the keys' noise, shape (count, m).

        ``keys_noise`` and, beyond its rows, more rows drawn on the first
        request from the same factor and random stream (the max-|t| quantile
        at the small error rates of many looks wants up to 4000 rows: drawn
        only when the quantile is simulated).
        """
        noise = self.keys_noise
        if count <= len(noise):
            return noise[:count]
        if self._longer is None or len(self._longer) < count:
            factor, rng = self._factor, self._rng
            have = noise if self._longer is None else self._longer
            m = noise.shape[1]
            shape = (count - len(have), factor.shape[1])
            more = standard_normals(rng, shape, factor.dtype.type) @ factor[:m].T
            self._longer = np.concatenate([have, more])
        return self._longer[:count]

    def masks(self, k: int) -> np.ndarray:
        """Boolean (rows, m): each simulated run's top ``k`` (cached per ``k``)."""
        if k not in self._masks:
            self._masks[k] = topk_masks(self.truths + self.keys_noise, k)
        return self._masks[k]

    @cached_property
    def _drawn(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, int]:
        """One factorisation, one matrix of noise, one posterior."""
        keys, errors, half = self._keys, self._errors, self._half
        keys_values = np.asarray(keys.keys, dtype=np.float64)
        m = len(keys_values)
        cov = np.asarray(keys.cov, dtype=np.float64)
        joint = needs_weight_noise(errors, keys)
        if joint:
            assert errors is not None and errors.scores is not None and keys.scores is not None
            cross = keys.scores.T @ errors.scores
            cov = np.block([[cov, cross], [cross.T, errors.cov]])
        rng = np.random.default_rng(self._seed)
        sd = np.sqrt(np.maximum(np.diag(keys.cov), 0.0))
        others = np.sqrt(np.maximum(np.diag(cov)[m:], 0.0)) if joint else None
        dtype = simulation_dtype(keys_values, sd, others)
        factor = cov_root(cov).astype(dtype)
        noise = standard_normals(rng, (2 * half, factor.shape[1]), dtype) @ factor.T
        groups = max(2, min(MAX_TRUTHS, half // MIN_PER))
        truth = shared_truths(keys_values, sd, half, groups, rng).astype(dtype)
        self._factor, self._rng = factor, rng  # for more rows (key_rows)
        weights = noise[:, m:] if joint else None
        return noise[:, :m], weights, np.concatenate([truth, truth]), -(-half // groups)


def standard_normals(
    rng: np.random.Generator, shape: tuple[int, int], dtype: type[np.floating]
) -> np.ndarray:
    """Independent standard normal draws of ``dtype``, shape ``shape``.

    float64: NumPy's ziggurat. float32: Box-Muller on single-precision
    uniforms, ``r = sqrt(-2 log(1 - u1))``, ``(r cos 2 pi v, r sin 2 pi v)``
    with ``v = u2 - 1/2``. NumPy's float32 ziggurat costs as much as its
    float64 one (11 ns a draw here: 2.5 ms of a BBC article's 220,000), while
    uniforms, a logarithm and a sine and cosine, vectorised, cost half that.
    The transform is exact; single precision only truncates ``|z|`` at 5.77
    (``u1 >= 2**-24``; probability 8e-9 a draw) and rounds each draw to 7
    digits.
    """
    if dtype != np.float32:
        return rng.standard_normal(shape)
    rows, cols = shape
    half = -(-cols // 2)
    radius, angle = rng.random((2, rows, half), dtype=np.float32)
    np.subtract(np.float32(1.0), radius, out=radius)  # (0, 1]: the logarithm is finite
    np.log(radius, out=radius)
    radius *= np.float32(-2.0)
    np.sqrt(radius, out=radius)
    angle -= np.float32(0.5)
    angle *= np.float32(2.0 * np.pi)
    # Row i holds its cosines, then its sines: contiguous blocks for the
    # vectorised functions, and the two draws of a pair in the same row.
    out = np.empty((rows, 2, half), dtype=np.float32)
    np.cos(angle, out=out[:, 0])
    np.sin(angle, out=out[:, 1])
    out *= radius[:, None, :]
    return out.reshape(rows, 2 * half)[:, :cols]


def simulation_dtype(
    keys: np.ndarray, sd: np.ndarray, others: np.ndarray | None = None
) -> type[np.floating]:
    """Single precision for the simulated re-runs, unless its rounding could matter.

    The draws feed order statistics (top-K masks, the max-|t| quantile) and
    means, whose Monte-Carlo error (PAIRS) dwarfs float32's 7 digits: single
    precision halves the memory the noise, the partitions and the products
    stream through (about 5 ms of a BBC article's 16.5). Rounding a simulated
    key moves it by ``2**-24`` of its size; float64 is kept when that could
    reach a thousandth of a standard error (a live standard error below
    ``1e-4`` of the largest key: a surrogate that fits almost exactly) or when
    anything simulated falls outside float32's comfortable range.

    Parameters
    ----------
    keys, sd : ndarray of float64, shape (m,)
        The ranking keys and their standard errors (0: the key never varies).
    others : ndarray of float64, shape (p,), optional
        Standard errors of the other quantities simulated with them (the
        reported weights): only their range matters (they are not ranked).
    """
    live = sd[sd > 0]
    top = float(np.abs(keys).max(initial=0.0)) + float(sd.max(initial=0.0))
    if not len(live) or not 1e-30 < top < 1e30:
        return np.float64
    if others is not None:
        spread = others[others > 0]
        if len(spread) and not (1e-30 < float(spread.min()) and float(spread.max()) < 1e30):
            return np.float64
    return np.float32 if float(live.min()) >= 1e-4 * top else np.float64


def needs_weight_noise(errors: CoefficientErrors | None, keys: RankingKeys) -> bool:
    """Whether the selection bias has anything to estimate (see ``selection_bias``)."""
    if errors is None or errors.scores is None or keys.scores is None:
        return False
    p, m = len(errors.features), len(keys.features)
    return 0 < p < m and bool(np.isin(errors.features, keys.features).all())
