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
def _slice_front(vec: np.ndarray, n: int, sums: np.ndarray, out: np.ndarray, m: int) -> int:
    """Append to ``out`` from row ``m`` the non-dominated rows of ``vec[:n]`` (n, d) int64 >= 0:
    by falling row sum (ties in row order), each row no kept row dominates (>= in every
    column); all-zero rows are dropped.  ``sums`` (>= n,) scratch.  Returns the new ``m``."""
    d = vec.shape[1]
    best = -1  # a row equal to the column-wise max dominates every row: the front is it
    for i in range(n):
        acc = 0
        for c in range(d):
            acc += vec[i, c]
        sums[i] = acc
        if best < 0 or acc > sums[best]:
            best = i
    if n == 0 or sums[best] == 0:
        return m
    top = True
    for i in range(n):
        for c in range(d):
            top &= vec[i, c] <= vec[best, c]
    if top:
        for c in range(d):
            out[m, c] = vec[best, c]
        return m + 1
    order = np.argsort(-sums[:n], kind="mergesort")
    start = m
    for j in range(n):
        i = order[j]
        if sums[i] == 0:
            break  # sorted by sum: the rest are zero too
        dominated = False
        for k in range(start, m):
            ge = True
            for c in range(d):
                if out[k, c] < vec[i, c]:
                    ge = False
                    break
            if ge:
                dominated = True
                break
        if not dominated:
            for c in range(d):
                out[m, c] = vec[i, c]
            m += 1
    return m


@nb.njit(cache=True, nogil=True)
def _token_block(b: int, ce: np.ndarray, time_driven: bool, first_tile: np.ndarray,
                 first_chunk: np.ndarray, block_steps: np.ndarray, block_graded: np.ndarray,
                 tile_chunk: np.ndarray, tile_rows: np.ndarray, tile_fanout: np.ndarray,
                 tile_source: np.ndarray, tile_sparse: np.ndarray, sparse: np.ndarray,
                 chunk_msgs: np.ndarray, chunk_hops: np.ndarray, chunk_cross: np.ndarray,
                 chunk_exits: np.ndarray, path_hops: np.ndarray, path_cross: np.ndarray,
                 counts: np.ndarray, busy: np.ndarray, busy_count: np.ndarray,
                 path: np.ndarray, path_count: np.ndarray) -> None:
    """Counters of block ``b`` for one token (see :func:`_tokens`): its row of counts, and
    its fronts written from row ``S·first_tile[b]`` of busy and ``S·first_chunk[b]`` of
    path."""
    n_steps = ce.shape[0]
    t0, t1 = first_tile[b], first_tile[b + 1]
    k0, k1 = first_chunk[b], first_chunk[b + 1]
    events = msgs = hops = cross = exits = 0
    for k in range(k0, k1):
        tot = 0
        for s in range(n_steps):
            tot += ce[s, k]
        events += tot
        msgs += tot * chunk_msgs[k]
        hops += tot * chunk_hops[k]
        cross += tot * chunk_cross[k]
        exits += tot * chunk_exits[k]
    synops = act = inact = 0
    vec = np.empty((max(t1 - t0, k1 - k0), 5), np.int64)
    sums = np.empty(vec.shape[0], np.int64)
    m_busy, m_path = n_steps * t0, n_steps * k0
    for s in range(n_steps):
        on = s < block_steps[b]
        for i in range(t0, t1):
            ev = ce[s, tile_chunk[i]]
            syn = ev * tile_fanout[i] if tile_sparse[i] < 0 else sparse[s, tile_sparse[i]]
            got = on and syn > 0
            a = tile_rows[i] if got else 0
            ia = tile_rows[i] if time_driven and on and not got else 0
            synops += syn
            act += a
            inact += ia
            r = i - t0
            vec[r, 0], vec[r, 1], vec[r, 2], vec[r, 3] = ev, syn, a, ia
            vec[r, 4] = ev if tile_source[i] else 0
        if on:
            start = m_busy
            m_busy = _slice_front(vec, t1 - t0, sums, busy, m_busy)
            busy_count[b, s] = m_busy - start
            for k in range(k0, k1):
                r = k - k0
                live = ce[s, k] > 0
                vec[r, 0] = path_hops[k] if live else 0
                vec[r, 1] = path_cross[k] if live else 0
            start = m_path
            m_path = _slice_front(vec[:, :2], k1 - k0, sums, path, m_path)
            path_count[b, s] = m_path - start
    counts[b, 0], counts[b, 1] = events, synops
    counts[b, 2] = synops if block_graded[b] else 0
    counts[b, 3], counts[b, 4], counts[b, 5] = act, inact, msgs
    counts[b, 6], counts[b, 7], counts[b, 8] = hops, cross, exits


@nb.njit(cache=True, nogil=True, parallel=True)
def _tokens(ce, time_driven, first_tile, first_chunk, block_steps, block_graded, tile_chunk,
            tile_rows, tile_fanout, tile_source, tile_sparse, sparse, chunk_msgs, chunk_hops,
            chunk_cross, chunk_exits, path_hops, path_cross, counts, busy, busy_count, path,
            path_count):
    """Counters of a batch of tokens, the tokens spread over numba's threads, each token's
    blocks through :func:`_token_block` one after another (so any number of threads gives
    the same arrays).

    ce (n, S, K) int64 events per token, step and chunk (attention chunks: the cache's);
    block ``b`` owns tiles ``first_tile[b]:first_tile[b+1]`` and chunks
    ``first_chunk[b]:...`` (B+1,); tile_sparse (T,) int64 the tile's column in sparse
    (n, S, m) synops, or -1 (events x fan-out).  Writes per token counts (n, B, 9) (events,
    synops, synops_graded, updates_active, updates_inactive, messages, hops, crossings,
    exits), the fronts of the per-tile vectors (events_in, synops, active, inactive,
    spikes_out) into busy (n, S·T, 5) and of the per-chunk paths (hops, crossings) of
    chunks with events into path (n, S·K, 2), with their rows per (block, step) in
    busy_count and path_count (n, B, S).
    """
    for t in nb.prange(ce.shape[0]):
        for b in range(first_tile.shape[0] - 1):
            _token_block(b, ce[t], time_driven, first_tile, first_chunk, block_steps,
                         block_graded, tile_chunk, tile_rows, tile_fanout, tile_source,
                         tile_sparse, sparse[t], chunk_msgs, chunk_hops, chunk_cross,
                         chunk_exits, path_hops, path_cross, counts[t], busy[t], busy_count[t],
                         path[t], path_count[t])


@nb.njit(cache=True, nogil=True)
def _gather(rows: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """A token's fronts of :func:`_tokens` in (block, step) order: block ``b``'s rows start at
    ``S·first[b]`` of rows (S·X, d) and number ``count[b, s]`` per step.  Returns (M, d)."""
    n_blocks, n_steps = count.shape
    out = np.empty((count.sum(), rows.shape[1]), np.int64)
    m = 0
    for b in range(n_blocks):
        src = n_steps * first[b]
        for s in range(n_steps):
            for j in range(count[b, s]):
                for c in range(rows.shape[1]):
                    out[m, c] = rows[src + j, c]
                m += 1
            src += count[b, s]
    return out
