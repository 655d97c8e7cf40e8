"""Deterministic placement of synapse tiles on cores, chips and memory levels.

Every synapse block is cut into tiles: ``n_row`` slices of its ``c_out`` targets times
``n_col`` chunks of its ``c_in`` input channels.  A tile occupies one core: its targets
are that core's neurons (``<= core.neurons``), its channels its fan-in
(``<= core.max_fan_in``), and, when its weights are resident, weights plus neuron state fit
the core's memory.  Attention blocks (``kind="kv"``) are cut along KV heads so that every
event's fan-out stays within its tile.

Cores are handed out in graph order, chip by chip; a core's position on its chip is
row-major on the ``core_mesh``; chips sit on a near-square grid.  ``chips: auto`` uses as
many chips as the resident tiles need (up to ``max_chips``); when the tiles do not fit,
the blocks with the most weight bytes are spilled, largest first: their weights move to the
next memory level that can hold them and their tiles are cut by neuron and fan-in limits
only.  A placement that still does not fit raises :class:`MappingError`.

Spikes of a block's channel chunk start at the chunk's first row tile and go to the tiles
of that chunk (one per row slice); that sending core holds one routing entry per (channel,
destination core), at most ``core.max_fan_out``: chunks are cut narrow enough for that, and a
block whose one channel (an attention block: one KV head) needs more is refused.  Weights
wider than ``core.max_weight_bits`` are stored as ``ceil(bits / max_weight_bits)`` slices,
each a synapse of its own to the same target (synops times the slices; the core adds the
shifted slices).  Unicast sends one message per destination core; multicast one per
destination chip, with hops counted along a tree (source to the nearest destination on each
chip, then the bounding box of the destinations on it).  Hops are Manhattan
distances on the global core grid (XY routing); chip crossings are Manhattan distances on
the chip grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim.errors import InputError
from neurosim.graph.ir import EventGraph, SynapseBlock
from neurosim.hardware.schema import NeuromorphicProfile

ACTIVATION_BITS = 16
"""Bits of an accumulated output value moved from a core to a dense unit."""


class MappingError(InputError):
    """The profile cannot hold the graph."""


@dataclass(eq=False)
class BlockPlacement:
    """Where one synapse block lives.

    Arrays: ``row_bounds`` (n_row+1,), ``col_bounds`` (n_col+1,) cut points;
    ``tile_core`` (n_row, n_col) global core ids; per chunk ``msgs``, ``hops``,
    ``crossings``, ``exits`` (messages that leave the source chip; all per event) and
    ``path_hops``, ``path_crossings`` (longest path); ``weight_slices`` the synapses that
    hold one weight (1 unless it is wider than the core's); ``src_links`` the chip links of the
    chips that send the block's chunks (their neighbours on the chip grid), which every
    exit crosses first.
    """

    block: str
    stage: int
    row_bounds: np.ndarray
    col_bounds: np.ndarray
    tile_core: np.ndarray
    weight_level: int
    msgs: np.ndarray
    hops: np.ndarray
    crossings: np.ndarray
    path_hops: np.ndarray
    path_crossings: np.ndarray
    exits: np.ndarray
    src_links: int
    weight_slices: int = 1

    @property
    def n_row(self) -> int:
        return len(self.row_bounds) - 1

    @property
    def n_col(self) -> int:
        return len(self.col_bounds) - 1

    @property
    def tiles(self) -> int:
        return self.n_row * self.n_col


@dataclass(eq=False)
class Mapping:
    """A graph placed on a neuromorphic profile."""

    profile: str
    chips: int
    chip_grid: tuple[int, int]
    cores_per_chip: int
    cores_used: int
    blocks: dict[str, BlockPlacement]
    kv_level: int | None
    dense_param_level: int
    level_names: list[str]
    neurons_used: int
    weight_bytes_by_level: dict[str, float] = field(default_factory=dict)

    def core_utilisation(self) -> float:
        return self.cores_used / (self.chips * self.cores_per_chip)

    def summary(self) -> dict:
        where: dict[str, int] = {}
        for bp in self.blocks.values():
            level = self.level_names[bp.weight_level]
            where[level] = where.get(level, 0) + 1
        return {
            "profile": self.profile,
            "chips": self.chips,
            "chip_grid": list(self.chip_grid),
            "cores": self.cores_used,
            "core_utilisation": self.core_utilisation(),
            "neurons": self.neurons_used,
            "blocks_by_weight_level": where,
            "blocks_with_sliced_weights": sum(bp.weight_slices > 1 for bp in self.blocks.values()),
            "weight_bytes_by_level": self.weight_bytes_by_level,
            "kv_cache_level": None if self.kv_level is None else self.level_names[self.kv_level],
            "dense_params_level": self.level_names[self.dense_param_level],
        }


MAPPING_FIELDS = (
    "system.chips", "system.max_chips", "chip.cores", "chip.core_mesh", "core.neurons",
    "core.neuron_state_bits", "core.max_weight_bits", "core.max_fan_in", "core.max_fan_out",
    "core.graded_payload_bits", "core.neuron_update", "network.routing",
)
"""Profile fields that decide placement and counts; with the memory levels' names, scopes
and capacities, they are everything :func:`map_graph` and the replay read of a profile.
Every other number only prices the counters."""


def mapping_inputs(profile: NeuromorphicProfile) -> dict[str, Any]:
    """The value of every field in :data:`MAPPING_FIELDS` and of the memory levels' names,
    scopes and capacities (``memory.<i>.<field>``), by dotted path."""
    out: dict[str, Any] = {}
    for path in MAPPING_FIELDS:
        obj: Any = profile
        for part in path.split("."):
            obj = getattr(obj, part)
        out[path] = getattr(obj, "value", obj)
    for i, m in enumerate(profile.memory):
        out[f"memory.{i}.name"] = m.name
        out[f"memory.{i}.scope"] = m.scope
        out[f"memory.{i}.capacity_kib"] = None if m.capacity_kib is None else m.capacity_kib.value
    return out


def _even_bounds(n: int, parts: int) -> np.ndarray:
    return np.linspace(0, n, parts + 1).round().astype(np.int64)


def _tile_shape(rows: int, cols: int, weight_bits: int, p: NeuromorphicProfile,
                resident: bool, name: str) -> tuple[int, int]:
    """(n_row, n_col) for a block of rows × cols under the core limits."""
    neurons = int(p.core.neurons.value)
    fan_in = max(1, int(p.core.max_fan_in.value))
    mem_bits = p.core_memory_kib() * 1024 * 8
    state_bits = int(p.core.neuron_state_bits.value)
    r = min(rows, neurons)
    while True:
        free = mem_bits - r * state_bits
        if free < 0:
            k = 0
        elif not resident:
            k = min(cols, fan_in)
        else:
            k = min(cols, fan_in, int(free // max(1, r * weight_bits)))
        if k >= 1 or r == 1:
            break
        r = max(1, r // 2)
    if k < 1:
        raise MappingError(p.name, "core", "cannot hold even one neuron with one synapse",
                           got=f"{p.core_memory_kib():g} KiB per core, "
                               f"{state_bits} state bits per neuron",
                           expected="a core memory larger than one neuron's state plus one weight")
    n_row = math.ceil(rows / r)
    # a chunk's sending core holds an entry per channel and destination (row) tile
    k = min(k, _fan_out_limit(p, n_row, name))
    return n_row, math.ceil(cols / k)


def _fan_out_limit(p: NeuromorphicProfile, destinations: int, name: str, unit: int = 1) -> int:
    """Channels a sending core can route to ``destinations`` cores each, in multiples of
    ``unit``; refuses when not even ``unit`` channels fit."""
    fan_out = int(p.core.max_fan_out.value)
    k = fan_out // destinations // unit
    if k < 1:
        raise MappingError(p.name, "core.max_fan_out",
                           f"{name}: {unit} channel(s) to {destinations} destination cores need "
                           f"{unit * destinations} routing entries on the sending core "
                           "(splitter neurons are not modelled)", got=fan_out,
                           expected=f">= {unit * destinations} entries per core")
    return k * unit


def _kv_shape(block: SynapseBlock, p: NeuromorphicProfile,
              context: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut points of an attention block: rows in query heads per KV head, columns in channels.

    A tile holds ``m`` KV heads (``m × head_dim`` channels) and, for each, a slice of the
    ``group`` query heads that share it, with their targets (qk: one score per query head;
    pv: ``head_dim`` outputs per query head) and dynamic weights (qk: the Q rows; pv: the P
    rows over the context).  Row bounds count query heads per KV head.
    """
    kv_heads, group = block.kv_heads, block.fanout_per_event
    head_dim = block.c_in // kv_heads
    per_query = block.c_out // (kv_heads * group)  # targets of one query head
    neurons = int(p.core.neurons.value)
    fan_in = int(p.core.max_fan_in.value)
    mem_bits = p.core_memory_kib() * 1024 * 8
    state_bits = int(p.core.neuron_state_bits.value)
    dyn_per_query = (context if block.site == "pv" else head_dim) * block.weight_bits

    def bits(queries: int) -> int:
        return queries * (per_query * state_bits + dyn_per_query)

    q = group
    while q > 1 and (q * per_query > neurons or bits(q) > mem_bits):
        q = (q + 1) // 2
    if per_query > neurons or head_dim > fan_in or bits(q) > mem_bits:
        raise MappingError(p.name, "core",
                           f"cannot hold the attention of one query head of {block.name}",
                           got=f"{per_query} targets, {head_dim} channels, "
                               f"{bits(q) / 8192:.1f} KiB",
                           expected=f"<= {neurons} neurons, <= {fan_in} fan-in, "
                                    f"<= {p.core_memory_kib():g} KiB per core")
    n_row = math.ceil(group / q)
    m = min(kv_heads, max(1, neurons // (q * per_query)), max(1, fan_in // head_dim),
            max(1, int(mem_bits // bits(q))),
            _fan_out_limit(p, n_row, block.name, head_dim) // head_dim)
    n_col = math.ceil(kv_heads / m)
    return _even_bounds(group, n_row), _even_bounds(kv_heads, n_col) * head_dim


def _chip_links(chip: int, gx: int, gy: int, chips: int) -> int:
    """Links of ``chip`` to its neighbours on the ``gx`` x ``gy`` chip grid (row-major,
    ``chips`` of its positions filled)."""
    x, y = chip % gx, chip // gx
    return sum(0 <= x + dx < gx and 0 <= y + dy < gy and (x + dx) + (y + dy) * gx < chips
               for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))


def _check_fan_out(b: SynapseBlock, row_bounds: np.ndarray, col_bounds: np.ndarray,
                   p: NeuromorphicProfile) -> None:
    """Routing entries of a chunk's sending core: one per (channel, destination core).

    Chunk ``k`` is sent from the core of its first row tile to the ``n_row`` cores of its
    column; that core's routing table holds ``max_fan_out`` entries.  Relaying through
    splitter neurons is not modelled, so a block that needs more is refused.
    """
    n_row = 1 if b.identity else len(row_bounds) - 1  # an identity channel has one target
    entries = int(np.diff(col_bounds).max()) * n_row
    limit = int(p.core.max_fan_out.value)
    if entries > limit:
        raise MappingError(p.name, "core.max_fan_out",
                           f"{b.name} needs {entries} routing entries on a sending core "
                           f"({int(np.diff(col_bounds).max())} channels x {n_row} destination "
                           "cores; splitter neurons are not modelled)", got=limit,
                           expected=f">= {entries} entries per core")


def _routes(tile_core: np.ndarray, core_x: np.ndarray, core_y: np.ndarray,
            core_chip: np.ndarray, gx: int, multicast: bool) -> tuple[np.ndarray, ...]:
    """Per column chunk of one block (n_col,) int64: messages, hops, chip crossings, the
    longest path's hops and crossings, and messages leaving the sending chip, per event.

    ``tile_core`` (n_row, n_col) cores; a chunk is sent from the core of its first row tile
    to every core of its column.  Unicast: one message per destination core along the
    mesh (x-y distance).  Multicast: one message per destination chip, to its nearest
    destination core, then spanning that chip's destinations (the bounding box's width
    plus height).  Coordinates: ``core_x``, ``core_y`` global core positions; chip ``c`` at
    ``(c % gx, c // gx)``.
    """
    n_row, n_col = tile_core.shape
    src = tile_core[0]
    chip, src_chip = core_chip[tile_core], core_chip[src]
    d_hops = np.abs(core_x[tile_core] - core_x[src]) + np.abs(core_y[tile_core] - core_y[src])
    d_cross = (np.abs(chip % gx - src_chip % gx) + np.abs(chip // gx - src_chip // gx))
    path_h, path_c = d_hops.max(axis=0), d_cross.max(axis=0)
    if not multicast:
        return (np.full(n_col, n_row, np.int64), d_hops.sum(axis=0), d_cross.sum(axis=0),
                path_h, path_c, (chip != src_chip).sum(axis=0).astype(np.int64))
    col = np.broadcast_to(np.arange(n_col), (n_row, n_col)).ravel()
    order = np.lexsort((chip.ravel(), col))  # by column, then destination chip
    col_s, chip_s = col[order], chip.ravel()[order]
    first = np.flatnonzero(np.r_[True, (col_s[1:] != col_s[:-1]) | (chip_s[1:] != chip_s[:-1])])
    xs, ys = core_x[tile_core].ravel()[order], core_y[tile_core].ravel()[order]
    span = (np.maximum.reduceat(xs, first) - np.minimum.reduceat(xs, first)
            + np.maximum.reduceat(ys, first) - np.minimum.reduceat(ys, first))
    near = np.minimum.reduceat(d_hops.ravel()[order], first)
    g_col, g_chip = col_s[first], chip_s[first]
    g_cross = d_cross.ravel()[order][first]  # every destination of a group is on its chip

    def per_col(values: np.ndarray) -> np.ndarray:
        return np.bincount(g_col, weights=values, minlength=n_col).round().astype(np.int64)

    return (np.bincount(g_col, minlength=n_col).astype(np.int64), per_col(near + span),
            per_col(g_cross), path_h, path_c, per_col(g_chip != src_chip[g_col]))


def map_graph(graph: EventGraph, profile: NeuromorphicProfile, context: int,
              sequences: int = 1) -> Mapping:
    """Place ``graph`` on ``profile`` for ``sequences`` KV caches of ``context`` positions
    each."""
    max_wbits = int(profile.core.max_weight_bits.value)
    if max_wbits < 1:
        raise MappingError(profile.name, "core.max_weight_bits", "cores hold no weight bits",
                           got=max_wbits, expected="an integer >= 1")
    stage_of = {n: i for i, names in enumerate(graph.stages) for n in names}
    cores_per_chip = int(profile.chip.cores.value)
    max_chips = int(profile.system.max_chips.value)
    fixed = profile.system.chips
    capacity = (max_chips if fixed == "auto" else fixed) * cores_per_chip

    shapes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    spilled: set[str] = set()

    def shape(b: SynapseBlock, resident: bool) -> tuple[np.ndarray, np.ndarray]:
        if b.kind == "kv":
            return _kv_shape(b, profile, context)
        if b.identity:  # one synapse per target: only the neurons limit the tiles
            n_row = math.ceil(b.c_out / int(profile.core.neurons.value))
            return _even_bounds(b.c_out, n_row), _even_bounds(b.c_in, 1)
        n_row, n_col = _tile_shape(b.c_out, b.c_in, b.weight_bits, profile, resident, b.name)
        return _even_bounds(b.c_out, n_row), _even_bounds(b.c_in, n_col)

    for b in graph.blocks:
        shapes[b.name] = shape(b, resident=True)

    def total_tiles() -> int:
        return sum((len(r) - 1) * (len(c) - 1) for r, c in shapes.values())

    if total_tiles() > capacity:
        for b in sorted((b for b in graph.blocks if b.kind == "weights"),
                        key=lambda b: (-b.weight_bytes, b.name)):
            shapes[b.name] = shape(b, resident=False)
            spilled.add(b.name)
            if total_tiles() <= capacity:
                break
    needed = total_tiles()
    if needed > capacity:
        limit = "max_chips" if fixed == "auto" else "chips"
        raise MappingError(profile.name, f"system.{limit}",
                           f"the model needs {needed} cores even with weights off-core",
                           got=capacity // cores_per_chip,
                           expected=f"at least {math.ceil(needed / cores_per_chip)} chips")
    chips = max(1, math.ceil(needed / cores_per_chip)) if fixed == "auto" else fixed
    gx = math.ceil(math.sqrt(chips))
    gy = math.ceil(chips / gx)
    cols, rows = profile.chip.core_mesh.value

    levels = profile.memory
    level_names = [m.name for m in levels]

    def level_for(bytes_needed: float, start: int = 1) -> int:
        for i in range(start, len(levels)):
            m = levels[i]
            if m.capacity_kib is None:
                return i
            instances = {"core": cores_per_chip * chips, "chip": chips, "system": 1}[m.scope]
            if bytes_needed <= m.capacity_kib.value * 1024 * instances:
                return i
        raise MappingError(profile.name, "memory",
                           f"no memory level beyond the cores holds {bytes_needed / 2**20:.1f} MiB",
                           expected="a level with enough capacity, or an unbounded one")

    spilled_bytes = sum(graph[n].weight_bytes for n in spilled)  # type: ignore[union-attr]
    kv_bytes = 0.0
    if graph.kv_cache is not None:
        kv_bytes = (sequences * graph.kv_cache.layers * context
                    * graph.kv_cache.bits_per_position() / 8)
    dense_bytes = sum(op.param_bytes for op in graph.dense_ops)
    if fixed == "auto":  # add chips until their memory holds what the cores cannot
        off_core = spilled_bytes + kv_bytes + dense_bytes
        for m in levels[1:]:
            if m.capacity_kib is None:
                break
            if m.scope == "chip":
                chips = max(chips, min(max_chips, math.ceil(off_core / (m.capacity_kib.value * 1024))))
                break
        gx = math.ceil(math.sqrt(chips))
        gy = math.ceil(chips / gx)
    spill_level = level_for(spilled_bytes) if spilled else 0
    kv_level = level_for(kv_bytes + spilled_bytes) if graph.kv_cache is not None else None
    dense_level = level_for(dense_bytes)

    # global coordinates of every core
    core_chip, local = np.divmod(np.arange(needed, dtype=np.int64), cores_per_chip)
    core_x = core_chip % gx * cols + local % cols
    core_y = core_chip // gx * rows + local // cols
    multicast = profile.network.routing == "multicast"

    placements: dict[str, BlockPlacement] = {}
    next_core = 0
    neurons_used = 0
    weight_bytes_by_level: dict[str, float] = {}
    for b in graph.blocks:
        rb, cb = shapes[b.name]
        n_row, n_col = len(rb) - 1, len(cb) - 1
        tile_core = np.arange(next_core, next_core + n_row * n_col).reshape(n_row, n_col)
        next_core += n_row * n_col
        # weight blocks keep a partial sum per target in every column chunk; attention
        # tiles partition the targets
        neurons_used += b.c_out * (n_col if b.kind == "weights" else 1)
        _check_fan_out(b, rb, cb, profile)
        msgs, hops, cross, path_h, path_c, exits = _routes(tile_core, core_x, core_y, core_chip,
                                                           gx, multicast)
        level = spill_level if b.name in spilled else 0
        if b.kind == "weights":
            name = level_names[level]
            weight_bytes_by_level[name] = weight_bytes_by_level.get(name, 0.0) + b.weight_bytes
        links = sum(_chip_links(int(c), gx, gy, chips) for c in np.unique(core_chip[tile_core[0]]))
        slices = -(-b.weight_bits // max_wbits) if b.kind == "weights" and not b.identity else 1
        placements[b.name] = BlockPlacement(b.name, stage_of[b.name], rb, cb, tile_core, level,
                                            msgs, hops, cross, path_h, path_c, exits,
                                            max(1, int(links)), slices)
    return Mapping(profile.name, chips, (gx, gy), cores_per_chip, needed, placements, kv_level,
                   dense_level, level_names, neurons_used, weight_bytes_by_level)
