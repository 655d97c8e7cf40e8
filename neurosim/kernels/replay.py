"""Numba kernels of the replay: private, pure functions on plain arrays.

Validation, dtypes and units live in :mod:`neurosim.replay.engine`; prices in
:mod:`neurosim.estimate`.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _chunk_events(codes: np.ndarray, chunk_start: np.ndarray, chunk_unary: np.ndarray) -> np.ndarray:
    """Events per (step, chunk) of one token.

    codes (S, N) int8 spike codes; chunk ``k`` holds channels
    ``chunk_start[k] : chunk_start[k+1]`` (K+1,) int64; chunk_unary (K,) bool: a code ``q``
    counts as ``|q|`` binary events instead of one graded event. Returns (S, K) int64.
    """
    n_steps = codes.shape[0]
    n_chunks = chunk_start.shape[0] - 1
    out = np.zeros((n_steps, n_chunks), np.int64)
    for s in range(n_steps):
        row = codes[s]
        for k in range(n_chunks):
            lo, hi = chunk_start[k], chunk_start[k + 1]
            acc = 0
            if chunk_unary[k]:
                for c in range(lo, hi):
                    acc += abs(np.int64(row[c]))
            else:
                for c in range(lo, hi):
                    acc += row[c] != 0
            out[s, k] = acc
    return out


@nb.njit(cache=True, nogil=True)
def _tile_synops(codes: np.ndarray, tile_chunk: np.ndarray, chunk_start: np.ndarray,
                 chunk_unary: np.ndarray, fan_start: np.ndarray, fan: np.ndarray) -> np.ndarray:
    """Synops per (step, tile) of tiles whose columns have their own fan-out.

    Tile ``i`` reads chunk ``tile_chunk[i]``; channel ``c`` of that chunk drives
    ``fan[fan_start[i] + c - chunk_start[k]]`` synapses on the tile.  codes (S, N) int8;
    tile_chunk (n,) int32; fan_start (n,) int64; fan int32.  Returns (S, n) int64.
    """
    n_steps = codes.shape[0]
    n = tile_chunk.shape[0]
    out = np.zeros((n_steps, n), np.int64)
    for s in range(n_steps):
        row = codes[s]
        for i in range(n):
            k = tile_chunk[i]
            lo, hi = chunk_start[k], chunk_start[k + 1]
            off = fan_start[i] - lo
            acc = 0
            if chunk_unary[k]:
                for c in range(lo, hi):
                    acc += abs(np.int64(row[c])) * fan[off + c]
            else:
                for c in range(lo, hi):
                    if row[c] != 0:
                        acc += fan[off + c]
            out[s, i] = acc
    return out


@nb.njit(cache=True, nogil=True)
def _fronts(vec: np.ndarray, first: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-dominated rows of each (block, step) slice: what a max of a nonnegative linear
    function over the slice's rows can pick, whatever the coefficients.

    vec (S, T, d) int64 >= 0; block ``b`` owns rows ``first[b]:first[b+1]`` (B+1,) and runs
    ``steps[b]`` (B,) steps.  A row dominated by another (>= in every column) or all zero is
    dropped; of equal rows one is kept.  Returns rows (M, d) int64, in (block, step) order,
    and count (B, S) int64, the rows kept per slice.
    """
    n_steps, _, d = vec.shape
    n_blocks = first.shape[0] - 1
    count = np.zeros((n_blocks, n_steps), np.int64)
    out = np.empty((max(1, vec.shape[0] * vec.shape[1]), d), np.int64)
    m = 0
    for b in range(n_blocks):
        lo = first[b]
        n = first[b + 1] - lo
        sums = np.empty(n, np.int64)
        for s in range(min(steps[b], n_steps)):
            for i in range(n):
                acc = 0
                for c in range(d):
                    acc += vec[s, lo + i, c]
                sums[i] = acc
            order = np.argsort(-sums, kind="mergesort")
            start = m
            for j in range(n):
                i = order[j]
                if sums[i] == 0:
                    break  # sorted by sum: the rest are zero too
                dominated = False
                for k in range(start, m):
                    ge = True
                    for c in range(d):
                        if out[k, c] < vec[s, lo + i, c]:
                            ge = False
                            break
                    if ge:
                        dominated = True
                        break
                if not dominated:
                    for c in range(d):
                        out[m, c] = vec[s, lo + i, c]
                    m += 1
            count[b, s] = m - start
    return out[:m].copy(), count
