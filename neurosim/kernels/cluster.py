"""Numba kernel of LTE's balanced k-means (:mod:`neurosim.convert.lte`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _assign_balanced(order: np.ndarray, clusters: int, size: int, n: int) -> np.ndarray:
    """Greedy capacity-limited assignment: walk (point, cluster) pairs by rising distance."""
    labels = np.full(n, -1, np.int64)
    count = np.zeros(clusters, np.int64)
    left = n
    for flat in order:
        i, j = flat // clusters, flat % clusters
        if labels[i] >= 0 or count[j] >= size:
            continue
        labels[i] = j
        count[j] += 1
        left -= 1
        if left == 0:
            break
    return labels
