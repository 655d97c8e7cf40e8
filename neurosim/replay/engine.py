"""Replay: per-token spike codes x ReplayPlan -> counters, and each stage's critical time.

Per token and block (DESIGN §3):

* ``events``: nonzero codes delivered to the block (attention blocks: every cached
  position's K or V codes, the new one included); a graded code sent to binary-only cores
  counts as ``|q|`` events;
* ``synops``: events x synapses per event on each tile (dense: the tile's targets; a block
  with per-column fan-out: the nonzero weights of each active column on the tile, a column's
  nonzeros spread over row tiles by :func:`~neurosim.replay.plan.split_fanout`);
  ``synops_graded`` the part carrying multi-level payloads;
* neuron updates: time-driven, every target neuron of every tile at every step of the
  block (``active`` if its tile received a synaptic input, else ``inactive``); event-driven,
  only the tiles that received input;
* ``messages``, ``hops``, ``crossings``: events x per-event routing of the event's chunk.

* ``exits``: messages leaving the sending chip of their chunk (each crosses one of its
  chip links first).

No per-action time or energy enters: the time of a stage step is priced later
(:mod:`neurosim.estimate`) as the max over its cores of ``events_in·t_event +
synops·t_synop/lanes + updates·t_update + spikes_out·t_spike``, plus the longest NoC path
of a chunk with events (``hops·t_hop + crossings·t_link``).  For that, each (block, step)
keeps only the *fronts*: the per-core vectors ``(events_in, synops, active updates,
inactive updates, spikes_out)`` and per-chunk paths ``(hops, crossings)`` that no other
core or chunk of the slice dominates, so the max is exact for any nonnegative latencies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.kernels.replay import _chunk_events, _gather, _tile_synops, _tokens
from neurosim.replay.plan import ReplayPlan


@dataclass(eq=False)
class TokenCounters:
    """Counters of one token; arrays are per block (B,) unless noted."""

    position: int
    events: np.ndarray
    synops: np.ndarray
    synops_graded: np.ndarray
    updates_active: np.ndarray
    updates_inactive: np.ndarray
    messages: np.ndarray
    hops: np.ndarray
    crossings: np.ndarray
    exits: np.ndarray
    busy_rows: np.ndarray   # (M, 5) front of (events_in, synops, active, inactive, spikes_out)
    busy_count: np.ndarray  # (B, S) front rows per block and step
    path_rows: np.ndarray   # (M', 2) front of (hops, crossings) of chunks with events
    path_count: np.ndarray  # (B, S)


def _class_starts(keys: np.ndarray) -> np.ndarray:
    """Where a new class starts in sorted keys (rows, N): (n,) int64; none for N = 0."""
    if keys.shape[1] == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, (np.diff(keys, axis=1) != 0).any(axis=0)])


class Replayer:
    """Streams tokens through a plan, carrying the attention blocks' KV-cache counts."""

    def __init__(self, plan: ReplayPlan, time_driven: bool) -> None:
        self.plan, self.time_driven = plan, time_driven
        self.max_steps = int(plan.block_steps.max(initial=1))
        self.kv_cum = np.zeros((self.max_steps, plan.n_chunks), np.int64)
        self._kv = plan.chunk_kv
        self._first_chunk = np.append(plan.block_first_chunk, plan.n_chunks).astype(np.int64)
        self._classes()
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None  # the kernel's front rows

    def _classes(self) -> None:
        """The candidates of the fronts (:func:`~neurosim.kernels.replay._token_block`):
        tile classes (block, fan-out, rows, sender; a tile with per-column fan-out alone)
        and path classes (block, longest path; the zero path left out), each in tile or
        chunk order, with the rows each block's fronts may take."""
        p = self.plan
        n_blocks = len(p.block_steps)
        tiles = np.arange(p.n_tiles, dtype=np.int64)
        sparse_col = np.full(p.n_tiles, -1, np.int64)
        sparse_col[p.sparse_tiles] = np.arange(len(p.sparse_tiles))
        alone = np.where(sparse_col >= 0, tiles, -1)
        keys = np.stack([p.tile_block.astype(np.int64), p.tile_fanout, p.tile_rows,
                         p.tile_source.astype(np.int64), alone])
        order = np.lexsort((tiles, *keys[::-1]))
        pos = _class_starts(keys[:, order])
        first = order[pos]  # each class's first tile
        n_cls = len(pos)
        self._cls = np.zeros((5, n_cls + 1), np.int64)
        self._cls[0] = np.append(pos, p.n_tiles)
        self._cls[1:, :n_cls] = np.stack([p.tile_fanout[first], p.tile_rows[first],
                                          p.tile_source[first].astype(np.int64),
                                          sparse_col[first]])
        self._cls_tiles = order.astype(np.int64)
        self._cls_chunk = p.tile_chunk[order].astype(np.int64)
        self._tile_cls = np.empty(p.n_tiles, np.int64)
        self._tile_cls[order] = np.repeat(np.arange(n_cls), np.diff(self._cls[0]))
        cls_block = p.tile_block[first]
        self._first_cls = np.searchsorted(cls_block, np.arange(n_blocks + 1)).astype(np.int64)
        cap = np.where((sparse_col[first] < 0) & (p.tile_fanout[first] > 0), 2, 1)
        self._busy_first = np.r_[0, np.cumsum(np.bincount(cls_block, cap, n_blocks))].astype(np.int64)
        chunks = np.arange(p.n_chunks, dtype=np.int64)
        live = (p.chunk_path_hops != 0) | (p.chunk_path_cross != 0)
        pkeys = np.stack([p.chunk_block.astype(np.int64), p.chunk_path_hops, p.chunk_path_cross])
        order = np.lexsort((chunks, *pkeys[::-1]))
        order = order[live[order]]
        pos = _class_starts(pkeys[:, order])
        self._pcls_start = np.append(pos, len(order)).astype(np.int64)
        self._pcls_chunks = order.astype(np.int64)
        pcls_block = p.chunk_block[order[pos]]
        self._first_pcls = np.searchsorted(pcls_block, np.arange(n_blocks + 1)).astype(np.int64)
        self._path_first = np.r_[0, np.cumsum(np.bincount(pcls_block, minlength=n_blocks))
                                 ].astype(np.int64)

    def events(self, codes: np.ndarray) -> np.ndarray:
        """Events per (step, chunk) of ``codes`` (steps, N) int8 as the traffic source emits:
        (steps, K) int64."""
        p = self.plan
        if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] != len(p.chan_chunk):
            raise ValueError(f"codes must be int8 of shape (steps, {len(p.chan_chunk)})")
        return _chunk_events(codes, p.chunk_start, p.chunk_unary)

    def prefix(self, codes: np.ndarray) -> None:
        """Add an earlier position's K and V codes to the attention blocks' cache counts."""
        self.prefix_events(self.events(codes))

    def prefix_events(self, ce: np.ndarray) -> None:
        """:meth:`prefix` from the events per (step, chunk) of a position (S', K), or of
        several (n, S', K); only the attention chunks' are read."""
        ce = np.asarray(ce)
        if ce.ndim == 3:
            ce = ce.sum(axis=0)
        self.kv_cum[: ce.shape[0], self._kv] += ce[:, self._kv]

    def token(self, codes: np.ndarray, position: int, grow: bool = True) -> TokenCounters:
        """Counters of one token. ``codes`` (steps, N) int8 as the traffic source emits.

        ``grow``: the token's K/V codes join the cache (causal decoding).  ``False``: the
        cache already holds every position of the sequence, this token's included, and the
        token attends all of them (a bidirectional encoder).
        """
        p = self.plan
        ce = self.events(codes)
        sparse = None
        if len(p.sparse_tiles):
            sparse = _tile_synops(codes, p.tile_chunk[p.sparse_tiles], p.chunk_start,
                                  p.chunk_unary, p.sparse_start, p.sparse_fan)[None]
        return self._tokens(ce[None], sparse, [position], grow)[0]

    def tokens_events(self, ce: np.ndarray, positions, grow: bool = True) -> list[TokenCounters]:
        """:meth:`token` of several tokens in order, from their events per (step, chunk)
        (n, steps, K) int64, for a plan without per-column fan-out (whose synops need the
        codes); the tokens run on numba's threads."""
        if len(self.plan.sparse_tiles):
            raise ValueError("a plan with per-column fan-out replays codes, not events")
        ce = np.asarray(ce)
        if (ce.ndim != 3 or ce.shape[0] != len(positions) or ce.shape[2] != self.plan.n_chunks
                or ce.shape[1] > self.max_steps):
            raise ValueError(f"events must be of shape ({len(positions)}, <= {self.max_steps}, "
                             f"{self.plan.n_chunks})")
        return self._tokens(np.array(ce, np.int64), None, positions, grow)

    def _tokens(self, ce: np.ndarray, sparse: np.ndarray | None, positions,
                grow: bool) -> list[TokenCounters]:
        p = self.plan
        n, steps, s_max = ce.shape[0], ce.shape[1], self.max_steps
        if steps < s_max:
            ce = np.concatenate([ce, np.zeros((n, s_max - steps, p.n_chunks), np.int64)], axis=1)
        kv = self._kv
        if grow:  # each token sees the cache with its own K/V codes and those before it
            cum = self.kv_cum[None][:, :, kv] + np.cumsum(ce[:, :, kv], axis=0)
            ce[:, :, kv] = cum
            self.kv_cum[:, kv] = cum[-1]
        else:
            ce[:, :, kv] = self.kv_cum[None][:, :, kv]
        if sparse is None:
            sparse = np.zeros((n, s_max, 0), np.int64)
        elif sparse.shape[1] < s_max:
            sparse = np.concatenate([sparse, np.zeros((n, s_max - sparse.shape[1],
                                                       sparse.shape[2]), np.int64)], axis=1)
        blocks = len(p.block_steps)
        counts = np.empty((n, blocks, 9), np.int64)
        busy_count = np.zeros((n, blocks, s_max), np.int64)
        path_count = np.zeros_like(busy_count)
        rows_busy, rows_path = s_max * int(self._busy_first[-1]), s_max * int(self._path_first[-1])
        if self._scratch is None or self._scratch[0].shape[0] < n:  # kept: no page faults
            self._scratch = (np.empty((n, rows_busy, 5), np.int64),
                             np.empty((n, rows_path, 2), np.int64))
        busy, path = self._scratch[0][:n], self._scratch[1][:n]
        _tokens(ce, self.time_driven, self._first_chunk, p.block_steps, p.block_graded,
                self._first_cls, self._cls, self._cls_tiles, self._cls_chunk, self._tile_cls,
                p.tile_chunk,
                sparse, self._first_pcls, self._pcls_start, self._pcls_chunks, p.chunk_msgs,
                p.chunk_hops, p.chunk_cross, p.chunk_exits, p.chunk_path_hops,
                p.chunk_path_cross, counts, self._busy_first, busy, busy_count,
                self._path_first, path, path_count)
        out = []
        for i, position in enumerate(positions):
            c = counts[i].T.copy()
            out.append(TokenCounters(
                position=position, events=c[0], synops=c[1], synops_graded=c[2],
                updates_active=c[3], updates_inactive=c[4], messages=c[5], hops=c[6],
                crossings=c[7], exits=c[8],
                busy_rows=_gather(busy[i], self._busy_first, busy_count[i]),
                busy_count=busy_count[i],
                path_rows=_gather(path[i], self._path_first, path_count[i]),
                path_count=path_count[i]))
        return out
