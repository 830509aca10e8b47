"""Would fitting many table rows together in stacked arrays make a row's fit cheaper?

A table row's surrogate with intervals (the weighted ridge, its HC3
leverages and sandwich covariance) costs a few tenths of a millisecond, which
keeps a row with its own samples above issue 14's 10% outside the model.
The idea was to fit many rows at once: one NumPy call per step for all rows
instead of one per row. This script measures it on random 0/1 samples shaped
like a table's (``--rows`` rows of ``--samples`` x ``--columns``):

- per row: the engine's own ``influence`` and ``coefficient_errors``, as an
  explanation calls them;
- stacked: the same formulas on (rows, samples, columns) arrays, ``--chunk``
  rows a call (all of them by default), products by ``np.matmul``, columns
  contiguous as the engine keeps them.

It checks the stacked results against the engine's (they agree to rounding)
and prints milliseconds per row, the fastest of ``--repeat`` runs. Run:

    PYTHONPATH=. .venv/bin/python bench/bench_stacked_fit.py [--rows 200] [--samples 5000]
        [--columns 3] [--chunk 0] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.engine.uncertainty import coefficient_errors, influence

ALPHA = 1.0


def problems(rows: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples (rows, n, d) of 0/1 with row 0 all ones, answers (rows, n), kernel weights."""
    rng = np.random.default_rng(0)
    z = (rng.random((rows, n, d)) < 0.5).astype(np.float64)
    z[:, 0] = 1.0
    y = rng.random((rows, n)) + z @ rng.normal(size=d)
    w = np.exp(-0.5 * (d - z.sum(axis=2)))
    return z, y, w


def per_row(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The engine's fit and covariance, one row at a time (column-ordered, as it fits)."""
    features = np.arange(z.shape[2])
    coefs, covs = [], []
    for zr, yr, wr in zip(z, y, w):
        design = WeightedDesign(np.asfortranarray(zr), wr)
        fitted = influence(design, yr, features, ALPHA)
        errors = coefficient_errors(design, yr, features, ALPHA, fitted=fitted)
        coefs.append(errors.coef)
        covs.append(errors.cov)
    return np.array(coefs), np.array(covs)


def stacked(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same ridge, HC3 leverages and sandwich covariance for all rows at once.

    Columns are laid out contiguous, (rows, d, n), as the engine keeps a row's
    few columns (``matrix.column_major``): every elementwise step runs along n.
    """
    d = z.shape[2]
    x = np.ascontiguousarray(z.transpose(0, 2, 1))  # (rows, d, n)
    sw = w.sum(axis=1)
    mean = np.matmul(x, w[:, :, None])[:, :, 0] / sw[:, None]
    x -= mean[:, :, None]  # centred
    wx = x * w[:, None, :]
    a = np.matmul(wx, x.transpose(0, 2, 1)) + ALPHA * np.eye(d)
    yc = y - ((w * y).sum(axis=1) / sw)[:, None]
    a_inv = np.linalg.inv(a)
    coef = np.matmul(a_inv, np.matmul(wx, yc[:, :, None]))[:, :, 0]
    resid = yc - np.matmul(coef[:, None, :], x)[:, 0, :]
    pull = np.matmul(a_inv, wx)  # (rows, d, n)
    leverage = np.minimum((pull * x).sum(axis=1) + w / sw[:, None], 0.99)
    scores = pull * (resid / (1.0 - leverage))[:, None, :]
    return coef, np.matmul(scores, scores.transpose(0, 2, 1))


def in_chunks(chunk: int) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def run(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        step = chunk or len(z)
        parts = [
            stacked(z[s : s + step], y[s : s + step], w[s : s + step])
            for s in range(0, len(z), step)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    return run


def fastest(function: Callable[..., object], repeat: int, *args: np.ndarray) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--columns", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=0, help="rows per stacked call (0: all)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    z, y, w = problems(args.rows, args.samples, args.columns)
    ours, theirs = per_row(z, y, w), in_chunks(args.chunk)(z, y, w)
    coef_gap = float(np.abs(ours[0] - theirs[0]).max())
    cov_gap = float(
        (np.abs(ours[1] - theirs[1]).max(axis=(1, 2)) / np.abs(ours[1]).max(axis=(1, 2))).max()
    )
    shape = f"{args.rows} rows of {args.samples} x {args.columns}"
    print(f"{shape}; stacked {args.chunk or args.rows} rows a call")
    print(f"agreement: coefficients within {coef_gap:.1e}, covariances within {cov_gap:.1e}")
    for name, function in (("per row (the engine)", per_row), ("stacked", in_chunks(args.chunk))):
        seconds = fastest(function, args.repeat, z, y, w)
        print(f"{name:22s} {seconds / args.rows * 1000:.3f} ms per row")


if __name__ == "__main__":
    main()
