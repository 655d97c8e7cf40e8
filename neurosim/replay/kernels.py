"""Numba kernels of the replay: private, pure functions on plain arrays.

Validation, dtypes and units live in :mod:`neurosim.replay.engine`.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _chunk_events(codes: np.ndarray, chan_chunk: np.ndarray, unary: np.ndarray,
                  n_chunks: int) -> np.ndarray:
    """Events per (step, chunk) of one token.

    codes (S, N) int8 spike codes; chan_chunk (N,) int32 chunk of each channel;
    unary (N,) bool: a code ``q`` counts as ``|q|`` binary events instead of one graded event.
    Returns (S, n_chunks) int64.
    """
    n_steps, n = codes.shape
    out = np.zeros((n_steps, n_chunks), np.int64)
    for s in range(n_steps):
        row = codes[s]
        acc = out[s]
        for c in range(n):
            q = row[c]
            if q != 0:
                if unary[c]:
                    acc[chan_chunk[c]] += abs(q)
                else:
                    acc[chan_chunk[c]] += 1
    return out
