"""Proximity: distances of perturbed samples to the original and the LIME kernel."""

from __future__ import annotations

import numpy as np

from lime_cli.engine.matrix import row, row_chunks


def exponential_kernel(distances: np.ndarray, width: float) -> np.ndarray:
    """lime's kernel, ``sqrt(exp(-d^2 / width^2))``."""
    d = np.asarray(distances, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        return np.sqrt(np.exp(-((d / width) ** 2)))


def cosine_distance_to_first(z: np.ndarray) -> np.ndarray:
    """Cosine distance of every row of ``z`` to row 0, as scikit-learn computes it.

    A zero row has distance 1 (scikit-learn normalises it to the zero vector).
    Works on dense arrays of any numeric dtype and on scipy sparse matrices,
    a chunk of rows at a time so no float copy of a large 0/1 matrix is made.
    """
    first = row(z, 0)
    first_norm = float(np.linalg.norm(first))
    n = z.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start, stop, block in row_chunks(z):
        dots = np.asarray(block @ first).ravel()
        if hasattr(block, "multiply"):
            sq = np.asarray(block.multiply(block).sum(axis=1)).ravel()
        else:
            sq = np.einsum("ij,ij->i", block, block)
        norms = np.sqrt(sq) * first_norm
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
        out[start:stop] = 1.0 - np.clip(sim, -1.0, 1.0)
    out[0] = 0.0 if first_norm > 0 else 1.0
    return out


def euclidean_distance_to_first(z: np.ndarray) -> np.ndarray:
    """Euclidean distance of every row of ``z`` to row 0."""
    first = row(z, 0)
    out = np.empty(z.shape[0], dtype=np.float64)
    for start, stop, block in row_chunks(z):
        diff = block - first
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def binary_cosine_distance_to_ones(z: np.ndarray) -> np.ndarray:
    """Cosine distance of 0/1 rows to an all-ones row 0: ``1 - sqrt(k / d)``.

    ``k`` is the number of ones in the row; this equals the general cosine
    distance (a zero row has distance 1) without any float copy of ``z``.
    """
    d = z.shape[1]
    if d == 0:
        return np.zeros(z.shape[0])
    ones = np.asarray(z.sum(axis=1, dtype=np.int64)).ravel()
    return 1.0 - np.sqrt(ones / d)
