"""Numba kernel of synthetic traffic: codes from per-channel inverse CDFs
(:mod:`neurosim.traffic.fitted`)."""

from __future__ import annotations

import numba as nb
import numpy as np

GUIDE_BINS = 256
"""Bins of a table's guide: where the search for a draw in ``[b/256, (b+1)/256)`` starts."""


@nb.njit(cache=True, nogil=True)
def _guides(cdf: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(tables, GUIDE_BINS) the number of CDF values <= b / GUIDE_BINS in each table."""
    out = np.zeros((length.shape[0], GUIDE_BINS), np.int64)
    for t in range(length.shape[0]):
        k = 0
        for b in range(GUIDE_BINS):
            edge = b / GUIDE_BINS
            while k < length[t] and cdf[start[t] + k] <= edge:
                k += 1
            out[t, b] = k
    return out


@nb.njit(cache=True, nogil=True)
def _inverse_cdf(u: np.ndarray, chan_table: np.ndarray, cdf: np.ndarray, start: np.ndarray,
                 length: np.ndarray, guide: np.ndarray, out: np.ndarray) -> None:
    """``out[c]`` = the code whose CDF interval holds ``u[c]`` (in [0, 1)) in channel ``c``'s
    table: ``min(searchsorted(cdf_t, u[c], side="right"), len(cdf_t) - 1)`` with
    ``cdf_t = cdf[start[t]:start[t] + length[t]]``, ``t = chan_table[c]``; the search starts
    at the table's guide (:func:`_guides`) for the draw's bin."""
    for c in range(u.shape[0]):
        t = chan_table[c]
        x = u[c]
        n = length[t]
        base = start[t]
        k = guide[t, int(x * GUIDE_BINS)]
        while k < n and cdf[base + k] <= x:
            k += 1
        out[c] = min(k, n - 1)
