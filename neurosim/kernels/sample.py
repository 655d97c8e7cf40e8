"""Numba kernels of synthetic traffic (:mod:`neurosim.traffic.fitted`): codes drawn per channel
from integer inverse CDFs with a counter-based generator, as graded GIF spikes or as event
counts per channel range.

The draws are a pure function of (key, channel): channel ``c`` takes the high 32 bits (even
``c``) or the low 32 bits (odd ``c``) of ``mix64(key + (c // 2 + 1) * GOLDEN)``, SplitMix64's
output at stream position ``c // 2 + 1``.  A draw ``u`` gives the code ``q`` = the number of
its table's thresholds, the last excluded, that are ``<= u``.  Integer arithmetic only, so
any split of the channels over threads, and any machine, gives the same codes.

A channel's step ``k`` carries ``clip(q - k·m, 0, m)`` (the GIF split,
:func:`neurosim.traffic.gif.gif_steps`).
"""

from __future__ import annotations

import sys

import numba as nb
import numpy as np

ONE = 1 << 32
"""Integer CDF thresholds are in units of ``2^-32``: the last one of a table is ``ONE``."""
DIRECT_BITS = 10
"""A table's direct lookup has ``2^DIRECT_BITS`` bins over the 32-bit draws
(:func:`_direct`)."""

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_LOW = 0xFFFFFFFF
_SWAP = 32 if sys.byteorder == "little" else 0
"""Rotation that puts a pair's high half (its even channel) first in memory."""


@nb.njit(cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    """SplitMix64's finaliser (Steele, Lea and Flood 2014): a bijection of uint64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True)
def _token_key(seed: int, position: int) -> np.uint64:
    """The stream key of one token: ``mix64(mix64(seed + GOLDEN) ^ position)``; seed and
    position are nonnegative and below 2^63."""
    return _mix64(_mix64(np.uint64(seed) + np.uint64(_GOLDEN)) ^ np.uint64(position))


@nb.njit(cache=True, nogil=True)
def _direct(thr: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(tables, 2^DIRECT_BITS) int16 lookup of each table's codes by a draw's top bits: for the
    draws of bin ``b`` (``[b, b + 1) · 2^(32 - DIRECT_BITS)``), their code where every one
    of them has the same code, else ``-1 - k`` with ``k`` the code of the bin's first draw,
    where a search for the draw's code starts."""
    bins = 1 << DIRECT_BITS
    width = 1 << (32 - DIRECT_BITS)
    out = np.empty((length.shape[0], bins), np.int16)
    for t in range(length.shape[0]):
        k = 0
        last = length[t] - 1
        for b in range(bins):
            while k < last and thr[start[t] + k] <= b * width:
                k += 1
            j = k
            while j < last and thr[start[t] + j] <= (b + 1) * width - 1:
                j += 1
            out[t, b] = k if j == k else -1 - k
    return out


@nb.njit(cache=True, inline="always")
def _pair(key: np.uint64, i: int) -> np.uint64:
    """The hash of channels ``2i`` (high 32 bits) and ``2i + 1`` (low 32 bits)."""
    return _mix64(key + np.uint64(i + 1) * np.uint64(_GOLDEN))


@nb.njit(cache=True, inline="always")
def _draw(key: np.uint64, c: int) -> np.int64:
    """Channel ``c``'s 32-bit draw."""
    x = _pair(key, c >> 1)
    return np.int64(x & np.uint64(_LOW)) if c & 1 else np.int64(x >> np.uint64(32))


@nb.njit(cache=True, inline="always")
def _code(u: np.int64, t: int, thr: np.ndarray, start: np.ndarray, length: np.ndarray,
          direct: np.ndarray) -> np.int64:
    """The code of draw ``u`` in table ``t``: direct where its bin holds no threshold, else
    searched from the bin's first code."""
    q = np.int64(direct[t, u >> (32 - DIRECT_BITS)])
    if q < 0:
        q = -1 - q
        while q < length[t] - 1 and thr[start[t] + q] <= u:
            q += 1
    return q


@nb.njit(cache=True, nogil=True)
def _codes_range(lo: int, hi: int, table0: int, key: np.uint64, salient: np.ndarray,
                 thr: np.ndarray, start: np.ndarray, length: np.ndarray, direct: np.ndarray,
                 m: int, out: np.ndarray) -> None:
    """Channels ``lo:hi`` of one group (base table ``table0``, salient table ``table0 + 1``):
    ``out[k, c] = clip(q - k·m, 0, m)`` for every step ``k`` of out (S, N) int8."""
    key = np.uint64(key)
    for c in range(lo, hi):
        q = _code(_draw(key, c), table0 + np.int64(salient[c]), thr, start, length, direct)
        for k in range(out.shape[0]):
            out[k, c] = min(max(q - k * m, 0), m)


@nb.njit(cache=True)
def _step_limits(thr: np.ndarray, start: np.ndarray, length: np.ndarray, m: int,
                 steps: int) -> np.ndarray:
    """(tables, steps) int64: the least draw whose step ``k`` carries a nonzero value
    (``q > k·m``): threshold ``k·m`` of the table, or ``ONE`` (no draw) past its codes."""
    out = np.full((length.shape[0], steps), ONE, np.int64)
    for t in range(length.shape[0]):
        for k in range(steps):
            if k * m < length[t] - 1:
                out[t, k] = thr[start[t] + k * m]
    return out


@nb.njit(cache=True, nogil=True)
def _draw_pairs(key: np.uint64, first: int, h: np.ndarray) -> None:
    """The draws of pairs ``first : first + len(h)`` into h (n,) uint64, laid out so that
    ``h.view(np.uint32)[2i + e]`` is channel ``2(first + i) + e``'s draw."""
    key = np.uint64(key)
    for i in range(h.shape[0]):
        x = _pair(key, first + i)
        h[i] = (x << np.uint64(_SWAP)) | (x >> np.uint64(_SWAP)) if _SWAP else x


@nb.njit(cache=True, inline="always")
def _count_at_least(v: np.ndarray, limit: np.int64) -> np.int64:
    """How many of the draws v (n,) uint32 are ``>= limit`` (``0 <= limit <= ONE``)."""
    if limit >= ONE:
        return np.int64(0)
    b = np.uint32(limit)
    acc = np.uint32(0)
    for r in range(v.shape[0]):
        acc += np.uint32(v[r] >= b)
    return np.int64(acc)


@nb.njit(cache=True, nogil=True)
def _finish_segment(j: int, lo: int, hi: int, t0: int, unary: bool, u: np.ndarray,
                    salient: np.ndarray, thr: np.ndarray, start: np.ndarray,
                    length: np.ndarray, direct: np.ndarray, limits: np.ndarray, m: int,
                    hist: np.ndarray, out: np.ndarray) -> None:
    """Column ``j`` of out from the draws ``u[:hi - lo]`` (uint32): steps from 2 on (counted
    against the step limits), or (unary) every step's sum of values, from the codes'
    histograms (even and odd channels apart, so that consecutive counts do not wait on
    each other)."""
    if not unary:
        for k in range(2, out.shape[0]):
            base, sal = limits[t0, k], limits[t0 + 1, k]
            acc = 0
            for r in range(hi - lo):
                acc += np.int64(u[r]) >= (sal if salient[lo + r] else base)
            out[k, j] = acc
        return
    hist[:] = 0
    for r in range(hi - lo):
        hist[r & 1, _code(np.int64(u[r]), t0 + np.int64(salient[lo + r]), thr, start,
                          length, direct)] += 1
    for k in range(out.shape[0]):
        acc = 0
        for q in range(k * m + 1, hist.shape[1]):
            acc += (hist[0, q] + hist[1, q]) * min(q - k * m, m)
        out[k, j] = acc


@nb.njit(cache=True, nogil=True)
def _events_segments(first: int, last: int, key: np.uint64, seg: np.ndarray,
                     salient: np.ndarray, sal_idx: np.ndarray, thr: np.ndarray,
                     start: np.ndarray, length: np.ndarray, direct: np.ndarray,
                     limits: np.ndarray, m: int, out: np.ndarray) -> None:
    """Segments ``first:last`` of seg (6, J) int64 (rows lo, hi, base table, unary, and the
    range of ``sal_idx``, the sorted salient channels, that falls in lo:hi), each into its
    column of out (S, J) int64: per step ``k``, the channels with a nonzero value
    ``clip(q - k·m, 0, m)``, or (unary) the sum of the values.

    Consecutive segments of one table are drawn in one pass (:func:`_draw_pairs`).  A step's
    nonzero values are the draws at or above the channel's table's step limit
    (:func:`_step_limits`, limits (tables, max(S, 2))), counted with no code lookup: every
    channel against the base limits, then the salient ones moved to their own; a unary
    segment looks its codes up."""
    key = np.uint64(key)
    n_steps = out.shape[0]
    longest = 0
    j = first
    while j < last:  # a span: consecutive segments of one table, drawn together
        k = j
        while k + 1 < last and seg[2, k + 1] == seg[2, j]:
            k += 1
        longest = max(longest, ((seg[1, k] + 1) >> 1) - (seg[0, j] >> 1))
        j = k + 1
    h = np.empty(longest, np.uint64)
    u = h.view(np.uint32)
    cum = np.zeros((2, 2 * longest + 1), np.int64)  # running salient corrections of a span
    hist = np.zeros((2, n_steps * m + 1), np.int64)
    origin, sal0, span_t = 0, 0, -1  # u[c - origin] is channel c's draw
    for j in range(first, last):
        lo, hi, t0, unary = seg[0, j], seg[1, j], seg[2, j], seg[3, j] != 0
        b0, s0 = limits[t0, 0], limits[t0 + 1, 0]
        b1, s1 = limits[t0, 1], limits[t0 + 1, 1]
        if t0 != span_t:
            span_t, k = t0, j
            while k + 1 < last and seg[2, k + 1] == t0:
                k += 1
            origin, sal0 = 2 * (lo >> 1), seg[4, j]
            _draw_pairs(key, lo >> 1, h[: ((seg[1, k] + 1) >> 1) - (lo >> 1)])
            c0 = c1 = 0  # a salient channel's step counts, less the base table's
            for q in range(sal0, seg[5, k]):
                w = np.int64(u[sal_idx[q] - origin])
                c0 += np.int64(w >= s0) - np.int64(w >= b0)
                c1 += np.int64(w >= s1) - np.int64(w >= b1)
                cum[0, q - sal0 + 1], cum[1, q - sal0 + 1] = c0, c1
        v = u[lo - origin: hi - origin]
        q0, q1 = seg[4, j] - sal0, seg[5, j] - sal0
        out[0, j] = _count_at_least(v, b0) + cum[0, q1] - cum[0, q0]
        if n_steps > 1:
            out[1, j] = _count_at_least(v, b1) + cum[1, q1] - cum[1, q0]
        if unary or n_steps > 2:
            _finish_segment(j, lo, hi, t0, unary, v, salient, thr, start, length, direct,
                            limits, m, hist, out)


@nb.njit(cache=True, nogil=True)
def _codes(key: np.uint64, seg: np.ndarray, salient: np.ndarray, thr: np.ndarray,
           start: np.ndarray, length: np.ndarray, direct: np.ndarray, m: int,
           out: np.ndarray) -> None:
    """:func:`_codes_range` of every segment, one after another; seg (3, J) int64 rows
    lo, hi, base table."""
    for j in range(seg.shape[1]):
        _codes_range(seg[0, j], seg[1, j], seg[2, j], key, salient, thr, start, length, direct,
                     m, out)


@nb.njit(cache=True, nogil=True, parallel=True)
def _codes_parallel(key: np.uint64, seg: np.ndarray, salient: np.ndarray, thr: np.ndarray,
                    start: np.ndarray, length: np.ndarray, direct: np.ndarray, m: int,
                    out: np.ndarray) -> None:
    """:func:`_codes` with the segments spread over numba's threads (disjoint channels)."""
    for j in nb.prange(seg.shape[1]):
        _codes_range(seg[0, j], seg[1, j], seg[2, j], key, salient, thr, start, length, direct,
                     m, out)


@nb.njit(cache=True, nogil=True, parallel=True)
def _events(seed: int, positions: np.ndarray, seg: np.ndarray, salient: np.ndarray,
            sal_idx: np.ndarray, thr: np.ndarray, start: np.ndarray, length: np.ndarray,
            direct: np.ndarray, limits: np.ndarray, m: int, out: np.ndarray) -> None:
    """:func:`_events_segments` of every segment for the token at each of ``positions``
    (n,) into out (n, S, J), the tokens spread over numba's threads."""
    for t in nb.prange(positions.shape[0]):
        _events_segments(0, seg.shape[1], _token_key(seed, positions[t]), seg, salient,
                         sal_idx, thr, start, length, direct, limits, m, out[t])
