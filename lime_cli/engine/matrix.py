"""Products with the sample matrix, a block of rows at a time, and its memory layout.

Sample matrices of long texts are large 0/1 arrays stored compactly (uint8 or
sparse). These helpers convert one block of rows at a time, which bounds
memory; a matrix that fits in one block is converted once, up front
(:func:`as_float_rows`), since a fit reads it a dozen times.

Dense (n, p) arrays with few columns (a table's samples, the selected
features' columns) are kept column by column (Fortran order): NumPy's
elementwise work and products on an (n, 3) array then run along three
contiguous columns of n numbers instead of n rows of three, 3-8x faster
(``bench/bench_overhead.py``: the fit of a 3-column table's row).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

#: A sample matrix or a block of its rows: a dense ndarray, or a scipy sparse
#: matrix (CSR) for long texts. SciPy ships no type stubs, hence ``Any``.
SampleMatrix = Any

#: Bytes of float64 data converted at once (about 32 MB).
BLOCK_BYTES = 32 * 1024 * 1024


#: Dense sample matrices with at most this many columns are copied into column
#: order before the fit (a cheap copy that the fit's dozens of passes repay).
COLUMN_MAJOR_LIMIT = 64


def column_major(z: SampleMatrix) -> SampleMatrix:
    """``z`` as a column-ordered float64 array when it is dense with few columns.

    Sparse matrices, wide ones (a text's vocabulary) and other dtypes are
    returned as they are: ``row_chunks`` converts them a block at a time.
    Anything with ``__array__`` (a tabular sample) counts as dense.
    """
    if hasattr(z, "toarray") or not hasattr(z, "__array__"):
        return z
    dense = np.asarray(z)
    if dense.ndim != 2 or dense.shape[1] > COLUMN_MAJOR_LIMIT or dense.dtype != np.float64:
        return z
    return np.asfortranarray(dense)


def as_float_rows(z: SampleMatrix) -> SampleMatrix:
    """A dense ``z`` of another dtype than float64 (the 0/1 uint8 or bool samples
    of texts and images) as one float64 array when it fits in one block
    (:data:`BLOCK_BYTES`), else ``z`` as it is (sparse, float64, or larger).

    Each product below converts every block it reads; a fit reads the sample
    matrix a dozen times (means, cross products, the Gram matrix), so an
    article's 5000 x 200 samples were converted a dozen times (about 1 ms
    each). Converted once, the products read the same float64 values: the
    results are the same to the bit. Larger matrices stay compact (memory).
    """
    if hasattr(z, "toarray") or not hasattr(z, "dtype") or z.dtype == np.float64:
        return z
    if z.ndim != 2 or z.shape[0] * z.shape[1] * 8 > BLOCK_BYTES:
        return z
    return np.asarray(z, dtype=np.float64)


#: Up to this many columns ``crossprod`` multiplies by a copy (see there).
_COPY_CROSSPROD_LIMIT = 16


def crossprod(x: np.ndarray) -> np.ndarray:
    """``x' x`` (p, p) for a dense (n, p) array.

    NumPy hands ``x.T @ x`` to BLAS's symmetric rank-k update, which for a few
    columns is several times slower than a general product with a copy of
    ``x`` (28 us against 8 for 5000 x 3, 54 against 33 for 5000 x 10; from
    about 30 columns the symmetric update wins, and is used).
    """
    if x.shape[1] <= _COPY_CROSSPROD_LIMIT:
        return x.T @ x.copy(order="F")
    return x.T @ x


def _block_rows(z: np.ndarray) -> int:
    d = max(1, z.shape[1])
    return max(1, BLOCK_BYTES // (8 * d))


def row_chunks(z: SampleMatrix) -> Iterator[tuple[int, int, SampleMatrix]]:
    """Yield ``(start, stop, block)`` with blocks of rows converted to float64."""
    n = z.shape[0]
    step = _block_rows(z)
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = z[start:stop]
        if hasattr(block, "toarray"):
            yield start, stop, block.astype(np.float64)
        else:
            yield start, stop, np.asarray(block, dtype=np.float64)


def matvec(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``z @ x`` for a vector or an (d, m) matrix ``x``."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((z.shape[0],) + x.shape[1:], dtype=np.float64)
    for start, stop, block in row_chunks(z):
        out[start:stop] = np.asarray(block @ x)
    return out


def rmatvec(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``z.T @ v`` for a vector or an (n, m) matrix ``v``."""
    v = np.asarray(v, dtype=np.float64)
    out = np.zeros((z.shape[1],) + v.shape[1:], dtype=np.float64)
    for start, stop, block in row_chunks(z):
        out += np.asarray(block.T @ v[start:stop])
    return out


def columns(z: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Dense float64 copy of the chosen columns, shape (n, len(idx)), in column order."""
    sub = z[:, np.asarray(idx, dtype=np.intp)]
    if hasattr(sub, "toarray"):
        sub = sub.toarray()
    return np.asfortranarray(sub, dtype=np.float64)


def row(z: np.ndarray, i: int) -> np.ndarray:
    """Dense float64 copy of one row."""
    r = z[i]
    if hasattr(r, "toarray"):
        r = r.toarray()
    return np.asarray(r, dtype=np.float64).ravel()
