"""Blocks of samples in a model call: where each input's samples sit.

When several inputs' samples share one model call (table rows, text
documents), each input's ``n`` samples fill a block of :func:`padded` ``(n)``
rows starting at a multiple of :data:`BLOCK_ROWS`; the rest of the block
repeats the input itself and its answers are dropped. Some models'
vectorised arithmetic rounds the last bits of an answer by its place in a
vector, and the inputs sharing a call change with the batch (so with
``--jobs``): in its block, each sample keeps its place.
"""

from __future__ import annotations

#: An input's block of samples in a model call starts at a multiple of this many
#: rows and fills a whole number of them: 16 doubles are two AVX-512 vectors.
BLOCK_ROWS = 16


def padded(n: int) -> int:
    """``n`` rounded up to a multiple of :data:`BLOCK_ROWS`."""
    return -(-n // BLOCK_ROWS) * BLOCK_ROWS
