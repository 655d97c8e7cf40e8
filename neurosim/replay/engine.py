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

from neurosim.kernels.replay import _chunk_events, _fronts, _tile_synops
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


class Replayer:
    """Streams tokens through a plan, carrying the attention blocks' KV-cache counts."""

    def __init__(self, plan: ReplayPlan, time_driven: bool) -> None:
        self.plan, self.time_driven = plan, time_driven
        self.max_steps = int(plan.block_steps.max(initial=1))
        self.kv_cum = np.zeros((self.max_steps, plan.n_chunks), np.int64)
        self._kv = plan.chunk_kv
        self._tile_steps = plan.block_steps[plan.tile_block]

    def prefix(self, codes: np.ndarray) -> None:
        """Add an earlier position's K and V codes to the attention blocks' cache counts."""
        ce = _chunk_events(codes, self.plan.chunk_start, self.plan.chunk_unary)
        self.kv_cum[: ce.shape[0], self._kv] += ce[:, self._kv]

    def token(self, codes: np.ndarray, position: int, grow: bool = True) -> TokenCounters:
        """Counters of one token. ``codes`` (steps, N) int8 as the traffic source emits.

        ``grow``: the token's K/V codes join the cache (causal decoding).  ``False``: the
        cache already holds every position of the sequence, this token's included, and the
        token attends all of them (a bidirectional encoder).
        """
        p = self.plan
        if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] != len(p.chan_chunk):
            raise ValueError(f"codes must be int8 of shape (steps, {len(p.chan_chunk)})")
        steps = codes.shape[0]
        ce = _chunk_events(codes, p.chunk_start, p.chunk_unary)
        if steps < self.max_steps:
            ce = np.vstack([ce, np.zeros((self.max_steps - steps, p.n_chunks), np.int64)])
        if grow:
            self.kv_cum[:, self._kv] += ce[:, self._kv]
        ce[:, self._kv] = self.kv_cum[:, self._kv]

        ev_tile = ce[:, p.tile_chunk]                           # (S, T)
        syn_tile = ev_tile * p.tile_fanout                      # (S, T)
        if len(p.sparse_tiles):
            sparse = _tile_synops(codes, p.tile_chunk[p.sparse_tiles], p.chunk_start,
                                  p.chunk_unary, p.sparse_start, p.sparse_fan)
            syn_tile[:steps, p.sparse_tiles] = sparse
        step_on = np.arange(self.max_steps)[:, None] < self._tile_steps[None, :]
        received = (syn_tile > 0) & step_on
        active_tile = received * p.tile_rows
        if self.time_driven:
            inactive_tile = (step_on & ~received) * p.tile_rows
        else:
            inactive_tile = np.zeros_like(active_tile)

        ft = p.block_first_tile
        fc = p.block_first_chunk
        ev_chunk_total = ce.sum(axis=0)                         # (K,)
        events = np.add.reduceat(ev_chunk_total, fc)
        synops = np.add.reduceat(syn_tile.sum(axis=0), ft)
        graded = np.where(p.block_graded, synops, 0)
        upd_a = np.add.reduceat(active_tile.sum(axis=0), ft)
        upd_i = np.add.reduceat(inactive_tile.sum(axis=0), ft)
        msgs = np.add.reduceat(ev_chunk_total * p.chunk_msgs, fc)
        hops = np.add.reduceat(ev_chunk_total * p.chunk_hops, fc)
        cross = np.add.reduceat(ev_chunk_total * p.chunk_cross, fc)

        spikes_out = np.zeros_like(ev_tile)
        src = np.flatnonzero(p.tile_source)
        spikes_out[:, src] = ce[:, p.tile_chunk[src]]  # the sending core emits its chunk's spikes
        busy = np.stack([ev_tile, syn_tile, active_tile, inactive_tile, spikes_out], axis=2)
        tile_first = np.append(ft, p.n_tiles)
        busy_rows, busy_count = _fronts(busy, tile_first, p.block_steps)
        on = ce > 0
        path = np.stack([p.chunk_path_hops[None, :] * on, p.chunk_path_cross[None, :] * on], axis=2)
        path_rows, path_count = _fronts(path, np.append(fc, p.n_chunks), p.block_steps)
        return TokenCounters(
            position=position, events=events, synops=synops, synops_graded=graded,
            updates_active=upd_a, updates_inactive=upd_i, messages=msgs, hops=hops,
            crossings=cross, exits=np.add.reduceat(ev_chunk_total * p.chunk_exits, fc),
            busy_rows=busy_rows, busy_count=busy_count, path_rows=path_rows,
            path_count=path_count,
        )
