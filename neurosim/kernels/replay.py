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
def _slice_front(vec: np.ndarray, n: int, sums: np.ndarray, order: np.ndarray, out: np.ndarray,
                 m: int) -> int:
    """Append to ``out`` from row ``m`` the non-dominated rows of ``vec[:n]`` (n, d) int64 >= 0:
    by falling row sum (ties in row order), each row no kept row dominates (>= in every
    column); all-zero rows are dropped.  ``sums``, ``order`` (>= n,) int64 scratch.
    Returns the new ``m``."""
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
    if n > 64:
        order[:n] = np.argsort(-sums[:n], kind="mergesort")
    else:  # a few rows: a stable insertion sort, no allocation
        for i in range(n):
            j = i
            while j > 0 and sums[order[j - 1]] < sums[i]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = i
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
def _sort_small(idx: np.ndarray, n: int) -> None:
    """Sort ``idx[:n]`` in place (insertion sort: a slice's few candidates)."""
    for i in range(1, n):
        x = idx[i]
        j = i - 1
        while j >= 0 and idx[j] > x:
            idx[j + 1] = idx[j]
            j -= 1
        idx[j + 1] = x


@nb.njit(cache=True, nogil=True)
def _token_block(b: int, ce: np.ndarray, time_driven: bool, first_chunk: np.ndarray,
                 block_steps: np.ndarray, block_graded: np.ndarray, first_cls: np.ndarray,
                 cls: np.ndarray, cls_tiles: np.ndarray, cls_chunk: np.ndarray,
                 tile_cls: np.ndarray, tile_chunk: np.ndarray, sparse: np.ndarray,
                 first_pcls: np.ndarray, pcls_start: np.ndarray,
                 pcls_chunks: np.ndarray, chunk_msgs: np.ndarray, chunk_hops: np.ndarray,
                 chunk_cross: np.ndarray, chunk_exits: np.ndarray, path_hops: np.ndarray,
                 path_cross: np.ndarray, counts: np.ndarray, busy_first: np.ndarray,
                 busy: np.ndarray, busy_count: np.ndarray, path_first: np.ndarray,
                 path: np.ndarray, path_count: np.ndarray, cand: np.ndarray, vec: np.ndarray,
                 sums: np.ndarray, order: np.ndarray) -> None:
    """Counters of block ``b`` for one token (see :func:`_tokens`): its row of counts, and
    its fronts written from row ``S·busy_first[b]`` of busy and ``S·path_first[b]`` of
    path.  cand (W,), vec (W, 5), sums and order (W,) int64 scratch, ``W`` at least twice the
    block's tile classes and at least its path classes.

    The front of a step is taken over candidates only: per tile class (tiles of one
    fan-out, row count and sender role) the first tile of the most events, and the first
    tile of none, which every other tile of the class is equal to or dominated by; per path
    class (chunks of one longest path) the first chunk with events."""
    n_steps = ce.shape[0]
    k0, k1 = first_chunk[b], first_chunk[b + 1]
    c0, c1 = first_cls[b], first_cls[b + 1]
    p0, p1 = first_pcls[b], first_pcls[b + 1]
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
    m_busy, m_path = n_steps * busy_first[b], n_steps * path_first[b]
    for s in range(n_steps):
        on = s < block_steps[b]
        n_cand = 0
        for c in range(c0, c1):
            lo, hi = cls[0, c], cls[0, c + 1]
            fan, rows, sp = cls[1, c], cls[2, c], cls[4, c]
            if sp >= 0:  # a tile with per-column fan-out: a class of its own
                syn = sparse[s, sp]
                synops += syn
                if on:
                    act += rows if syn > 0 else 0
                    inact += rows if time_driven and syn == 0 else 0
                    cand[n_cand] = cls_tiles[lo]
                    n_cand += 1
                continue
            tot = n_pos = top = 0
            for j in range(lo, hi):
                ev = ce[s, cls_chunk[j]]
                tot += ev
                n_pos += np.int64(ev > 0)
                top = max(top, ev)
            best = zero = -1
            if top > 0:  # the first tile of the most events
                j = lo
                while ce[s, cls_chunk[j]] != top:
                    j += 1
                best = cls_tiles[j]
            if n_pos < hi - lo:  # the first tile of none
                j = lo
                while ce[s, cls_chunk[j]] != 0:
                    j += 1
                zero = cls_tiles[j]
            synops += tot * fan
            if not on:
                continue
            if fan > 0:
                act += rows * n_pos
                inact += rows * (hi - lo - n_pos) if time_driven else 0
                if best >= 0:
                    cand[n_cand] = best
                    n_cand += 1
                if zero >= 0:
                    cand[n_cand] = zero
                    n_cand += 1
            else:  # no synapse: every tile is inactive, the most events dominate
                inact += rows * (hi - lo) if time_driven else 0
                cand[n_cand] = best if best >= 0 else zero
                n_cand += 1
        if not on:
            continue
        _sort_small(cand, n_cand)
        for r in range(n_cand):
            i = cand[r]
            ev = ce[s, tile_chunk[i]]
            c = tile_cls[i]
            sp = cls[4, c]
            syn = sparse[s, sp] if sp >= 0 else ev * cls[1, c]
            got = syn > 0
            vec[r, 0], vec[r, 1] = ev, syn
            vec[r, 2] = cls[2, c] if got else 0
            vec[r, 3] = cls[2, c] if time_driven and not got else 0
            vec[r, 4] = ev if cls[3, c] else 0
        start = m_busy
        m_busy = _slice_front(vec, n_cand, sums, order, busy, m_busy)
        busy_count[b, s] = m_busy - start
        n_cand = 0
        for c in range(p0, p1):
            for j in range(pcls_start[c], pcls_start[c + 1]):
                k = pcls_chunks[j]
                if ce[s, k] > 0:
                    cand[n_cand] = k
                    n_cand += 1
                    break
        _sort_small(cand, n_cand)
        for r in range(n_cand):
            vec[r, 0], vec[r, 1] = path_hops[cand[r]], path_cross[cand[r]]
        start = m_path
        m_path = _slice_front(vec[:, :2], n_cand, sums, order, path, m_path)
        path_count[b, s] = m_path - start
    counts[b, 0], counts[b, 1] = events, synops
    counts[b, 2] = synops if block_graded[b] else 0
    counts[b, 3], counts[b, 4], counts[b, 5] = act, inact, msgs
    counts[b, 6], counts[b, 7], counts[b, 8] = hops, cross, exits


@nb.njit(cache=True, nogil=True, parallel=True)
def _tokens(ce, time_driven, first_chunk, block_steps, block_graded, first_cls, cls, cls_tiles,
            cls_chunk, tile_cls, tile_chunk, sparse, first_pcls, pcls_start, pcls_chunks,
            chunk_msgs, chunk_hops,
            chunk_cross, chunk_exits, path_hops, path_cross, counts, busy_first, busy,
            busy_count, path_first, path, path_count):
    """Counters of a batch of tokens, the tokens spread over numba's threads, each token's
    blocks through :func:`_token_block` one after another (so any number of threads gives
    the same arrays).

    ce (n, S, K) int64 events per token, step and chunk (attention chunks: the cache's);
    block ``b`` owns chunks ``first_chunk[b]:first_chunk[b+1]`` (B+1,), tile classes
    ``first_cls[b]:...`` and path classes ``first_pcls[b]:...`` (B+1,).  Tile class ``c``
    (cls (5, C+1) int64, rows: first entry in cls_tiles, fan-out, rows, sender, column of
    sparse or -1) holds tiles ``cls_tiles[cls[0, c]:cls[0, c+1]]`` in tile order, whose
    chunks are ``cls_chunk`` at the same entries, and ``tile_cls`` (T,) is each tile's
    class; path class ``c`` the chunks ``pcls_chunks[pcls_start[c]:...]``
    of one nonzero longest path, in chunk order; sparse (n, S, m) the synops of the tiles
    with per-column fan-out.  Writes per token counts (n, B, 9) (events, synops,
    synops_graded, updates_active, updates_inactive, messages, hops, crossings, exits),
    the fronts of the per-tile vectors (events_in, synops, active, inactive, spikes_out)
    into busy (n, S·busy_first[B], 5) and of the per-chunk paths (hops, crossings) of
    chunks with events into path (n, S·path_first[B], 2), with their rows per (block,
    step) in busy_count and path_count (n, B, S).
    """
    width = 1
    for b in range(first_chunk.shape[0] - 1):
        width = max(width, 2 * (first_cls[b + 1] - first_cls[b]), first_pcls[b + 1] - first_pcls[b])
    for t in nb.prange(ce.shape[0]):
        cand, sums = np.empty(width, np.int64), np.empty(width, np.int64)
        order = np.empty(width, np.int64)
        vec = np.empty((width, 5), np.int64)
        for b in range(first_chunk.shape[0] - 1):
            _token_block(b, ce[t], time_driven, first_chunk, block_steps, block_graded,
                         first_cls, cls, cls_tiles, cls_chunk, tile_cls, tile_chunk, sparse[t],
                         first_pcls,
                         pcls_start, pcls_chunks, chunk_msgs, chunk_hops, chunk_cross,
                         chunk_exits, path_hops, path_cross, counts[t], busy_first, busy[t],
                         busy_count[t], path_first, path[t], path_count[t], cand, vec, sums,
                         order)


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
