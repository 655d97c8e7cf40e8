"""ReplayPlan: an EventGraph and its Mapping flattened into arrays, built once.

The flat code buffer of a token holds every neuron group's codes side by side (group
order of the graph).  Each channel belongs to one chunk (a column slice of its block's
tiles); each tile belongs to one chunk, block and stage.  Tiles, chunks and blocks are
contiguous per block and per stage, so per-block and per-stage sums and maxima are
``reduceat`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.graph.ir import EventGraph
from neurosim.mapping.place import Mapping


@dataclass(eq=False)
class ReplayPlan:
    """Flat arrays of a placed graph (see module docstring). Shapes in field comments."""

    graph: EventGraph
    mapping: Mapping | None
    chan_chunk: np.ndarray      # (N,) int32, non-decreasing: chunks are channel ranges
    chunk_start: np.ndarray     # (K+1,) int64 first channel of each chunk
    chunk_unary: np.ndarray     # (K,) bool: graded codes sent as |q| binary spikes
    chunk_block: np.ndarray     # (K,) int32
    chunk_kv: np.ndarray        # (K,) bool: attention chunk, fed by the whole KV cache
    chunk_msgs: np.ndarray      # (K,) int64 messages per event
    chunk_hops: np.ndarray      # (K,) int64 hops per event
    chunk_cross: np.ndarray     # (K,) int64 chip crossings per event
    chunk_exits: np.ndarray     # (K,) int64 messages per event leaving the sending chip
    chunk_path_hops: np.ndarray   # (K,) int64 longest path, hops
    chunk_path_cross: np.ndarray  # (K,) int64 longest path, chip crossings
    tile_chunk: np.ndarray      # (T,) int32
    tile_block: np.ndarray      # (T,) int32
    tile_rows: np.ndarray       # (T,) int64 target neurons on the tile
    tile_fanout: np.ndarray     # (T,) int64 synapses per event on the tile
    tile_source: np.ndarray     # (T,) bool: the tile whose core sends its chunk's spikes
    block_first_tile: np.ndarray  # (B,) int64
    block_first_chunk: np.ndarray  # (B,) int64
    block_steps: np.ndarray     # (B,) int64 steps per token of the block's group
    block_stage: np.ndarray     # (B,) int64
    block_weight_bits: np.ndarray  # (B,) int64 bits read per synop (of a slice)
    block_level: np.ndarray     # (B,) int64 memory level of the weights
    block_graded: np.ndarray    # (B,) bool: graded synops (multi-level codes, sent graded)
    block_out_values: np.ndarray  # (B,) int64 partial sums sent to the dense unit per token
    block_merge_adds: np.ndarray  # (B,) int64 adds merging partial sums per token
    block_chips: np.ndarray     # (B,) int64 chips the block spans
    block_cores: np.ndarray     # (B,) int64 cores (tiles) of the block
    block_src_links: np.ndarray  # (B,) int64 chip links out of the block's sending chips
    sparse_tiles: np.ndarray    # (n,) int64 tiles whose columns have their own fan-out
    sparse_start: np.ndarray    # (n,) int64 offset of each such tile's per-column fan-out
    sparse_fan: np.ndarray      # (F,) int32 synapses per column on the tile, chunk order

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_block)

    @property
    def n_tiles(self) -> int:
        return len(self.tile_chunk)


def split_fanout(fanout: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Spread each column's nonzero weights over row tiles in proportion to their rows.

    ``fanout`` (C,) nonzeros per column, ``rows`` (R,) rows per tile (sum ``C_out``).  Tile
    ``r`` gets ``floor(f·rows_r / C_out)``, and the first tiles one more each until the
    column's total is ``f`` exactly.  Returns (R, C) int32.
    """
    c_out = int(rows.sum())
    base = (fanout[None, :].astype(np.int64) * rows[:, None]) // c_out
    short = fanout - base.sum(axis=0)
    base += np.arange(len(rows))[:, None] < short[None, :]
    return base.astype(np.int32)


def build_plan(graph: EventGraph, mapping: Mapping | None, graded_payload_bits: int) -> ReplayPlan:
    """Flatten ``graph`` placed by ``mapping`` (``None``: one tile per block, no routing)."""
    group_index = {g.name: i for i, g in enumerate(graph.groups)}
    offsets = np.concatenate([[0], np.cumsum([g.size for g in graph.groups])]).astype(np.int64)
    n = int(offsets[-1])
    chan_chunk = np.full(n, -1, np.int32)
    unary = np.zeros(n, np.bool_)
    stage_of = {name: i for i, names in enumerate(graph.stages) for name in names}

    chunk_cols: list[np.ndarray] = [[] for _ in range(7)]  # type: ignore[misc]
    (c_block, c_kv, c_msgs, c_hops, c_cross, c_ph, c_exit) = chunk_cols
    c_pc: list = []
    t_chunk: list = []
    t_block: list = []
    t_rows: list = []
    t_fan: list = []
    t_src: list = []
    b_cols = {k: [] for k in ("first_tile", "first_chunk", "steps", "stage", "wbits", "level",
                              "graded", "out", "merge", "chips", "cores", "links")}
    n_chunk = 0
    n_tile = 0
    sp_tiles: list[int] = []
    sp_start: list[int] = []
    sp_fan: list[np.ndarray] = []
    sp_len = 0
    for bi, b in enumerate(graph.blocks):
        g = graph.groups[group_index[b.source]]
        sends_unary = g.graded and g.code_bits > graded_payload_bits
        if mapping is not None:
            bp = mapping.blocks[b.name]
            row_bounds, col_bounds, tile_core = bp.row_bounds, bp.col_bounds, bp.tile_core
            msgs, hops, cross, ph, pc = bp.msgs, bp.hops, bp.crossings, bp.path_hops, bp.path_crossings
            exits, links = bp.exits, bp.src_links
            level, slices = bp.weight_level, bp.weight_slices
            chips = len(np.unique(tile_core // mapping.cores_per_chip))
        else:
            row_bounds, col_bounds = np.array([0, b.c_out]), np.array([0, b.c_in])
            tile_core = np.zeros((1, 1), np.int64)
            msgs = np.ones(1, np.int64)
            hops = cross = ph = pc = exits = np.zeros(1, np.int64)
            level, chips, links, slices = 0, 1, 1, 1
        n_row, n_col = len(row_bounds) - 1, len(col_bounds) - 1
        lo = offsets[group_index[b.source]]
        local = np.repeat(np.arange(n_col, dtype=np.int32), np.diff(col_bounds))
        chan_chunk[lo:lo + b.c_in] = n_chunk + local
        unary[lo:lo + b.c_in] = sends_unary
        b_cols["first_tile"].append(n_tile)
        b_cols["first_chunk"].append(n_chunk)
        for k in range(n_col):
            c_block.append(bi)
            c_kv.append(b.kind == "kv")
            c_msgs.append(msgs[k])
            c_hops.append(hops[k])
            c_cross.append(cross[k])
            c_exit.append(exits[k])
            c_ph.append(ph[k])
            c_pc.append(pc[k])
        rows = np.diff(row_bounds)
        if b.kind == "kv" and mapping is not None:
            # rows count query heads per KV head; a tile's targets are its KV heads times
            # its query heads times the targets of one query head
            head_dim = b.c_in // b.kv_heads
            per_query = b.c_out // (b.kv_heads * b.fanout_per_event)
            heads_in_chunk = np.diff(col_bounds) // head_dim
        if b.identity:  # channel c's one synapse sits on the row tile holding target c
            c = np.arange(b.c_in)
            split = ((row_bounds[:-1, None] <= c) & (c < row_bounds[1:, None])).astype(np.int32)
        elif b.kind == "weights" and b.fanout is not None:
            split = split_fanout(b.fanout, rows) * slices
        else:
            split = None
        for r in range(n_row):
            for k in range(n_col):
                if split is not None:
                    part = split[r, col_bounds[k]:col_bounds[k + 1]]
                    sp_tiles.append(n_tile + r * n_col + k)
                    sp_start.append(sp_len)
                    sp_fan.append(part)
                    sp_len += len(part)
                t_chunk.append(n_chunk + k)
                t_block.append(bi)
                if b.kind == "kv" and mapping is not None:
                    t_rows.append(heads_in_chunk[k] * rows[r] * per_query)
                    t_fan.append(rows[r])
                elif b.kind == "kv":
                    t_rows.append(b.c_out)
                    t_fan.append(b.fanout_per_event)
                else:
                    t_rows.append(rows[r])
                    t_fan.append(rows[r] * slices)
                t_src.append(r == 0)
        n_chunk += n_col
        n_tile += n_row * n_col
        b_cols["steps"].append(g.max_steps)
        b_cols["stage"].append(stage_of[b.name])
        b_cols["wbits"].append(-(-b.weight_bits // slices))  # bits read per synop
        b_cols["level"].append(level)
        b_cols["graded"].append(g.graded and not sends_unary)
        b_cols["out"].append((n_col - (b.targets == "neurons")) * b.c_out if b.kind == "weights"
                             else b.c_out)
        b_cols["merge"].append((n_col - 1) * b.c_out if b.kind == "weights" else 0)
        b_cols["chips"].append(chips)
        b_cols["cores"].append(n_row * n_col)
        b_cols["links"].append(links)
    if (chan_chunk < 0).any():
        raise ValueError("a neuron group feeds no synapse block")
    if (np.diff(chan_chunk) < 0).any():
        raise ValueError("neuron groups must be in the order of the blocks they feed")
    chunk_start = np.searchsorted(chan_chunk, np.arange(n_chunk + 1)).astype(np.int64)
    chunk_unary = unary[chunk_start[:-1]] if n else np.zeros(0, np.bool_)
    i64 = lambda v: np.asarray(v, np.int64)  # noqa: E731
    return ReplayPlan(
        graph=graph, mapping=mapping, chan_chunk=chan_chunk,
        chunk_start=chunk_start, chunk_unary=chunk_unary,
        chunk_block=np.asarray(c_block, np.int32), chunk_kv=np.asarray(c_kv, np.bool_),
        chunk_msgs=i64(c_msgs), chunk_hops=i64(c_hops), chunk_cross=i64(c_cross),
        chunk_exits=i64(c_exit),
        chunk_path_hops=i64(c_ph), chunk_path_cross=i64(c_pc),
        tile_chunk=np.asarray(t_chunk, np.int32), tile_block=np.asarray(t_block, np.int32),
        tile_rows=i64(t_rows), tile_fanout=i64(t_fan), tile_source=np.asarray(t_src, np.bool_),
        block_first_tile=i64(b_cols["first_tile"]), block_first_chunk=i64(b_cols["first_chunk"]),
        block_steps=i64(b_cols["steps"]), block_stage=i64(b_cols["stage"]),
        block_weight_bits=i64(b_cols["wbits"]), block_level=i64(b_cols["level"]),
        block_graded=np.asarray(b_cols["graded"], np.bool_), block_out_values=i64(b_cols["out"]),
        block_merge_adds=i64(b_cols["merge"]), block_chips=i64(b_cols["chips"]),
        block_cores=i64(b_cols["cores"]), block_src_links=i64(b_cols["links"]),
        sparse_tiles=i64(sp_tiles), sparse_start=i64(sp_start),
        sparse_fan=(np.concatenate(sp_fan).astype(np.int32) if sp_fan else np.zeros(0, np.int32)),
    )
