"""Proximity: distances of perturbed samples to the original and the LIME kernel."""

from __future__ import annotations

import numpy as np

from lime_cli.engine.matrix import row, row_chunks


def exponential_kernel(distances: np.ndarray, width: float) -> np.ndarray:
    """lime's kernel, ``sqrt(exp(-d^2 / width^2))``, computed as ``exp(-d^2 / (2 width^2))``
    (the same value to rounding, in place: one pass fewer over the samples)."""
    t = np.asarray(distances, dtype=np.float64) / width
    t *= t
    t *= -0.5
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(t, out=t)


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
