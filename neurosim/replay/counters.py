"""Counters of a run: what the traffic did on a placed graph, token by token, and nothing
that depends on a price (no energy, no per-action time).

A :class:`Counters` is a dict of arrays plus JSON-safe ``meta``; ``T`` tokens, ``B`` synapse
blocks, ``S`` the most steps of a block, ``G`` stages, ``C = 4`` dense op classes
(``mac, add, mul, special``).

Per token (leading axis ``T``):

===================  ======  ===============================================================
position             (T,)    the token's position; ``count_position``: the one it is counted
                             at (an encoder counts every token at its last position)
events, synops ...   (T, B)  per block: events, synops, synops_graded, updates_active,
                             updates_inactive, messages, hops, crossings, exits
acc_synops           (T, B)  synops of the same codes sent graded (the literature accounting)
busy_rows/_count     (M, 5)  per (token, block, step) the front of per-core
                     (T,B,S) (events_in, synops, active, inactive, spikes_out)
path_rows/_count     (M', 2) the front of chunk paths (hops, crossings)
dense_ops            (T,G,C) scalar ops of the dense units per stage, merge adds included
param_bytes          (T, G)  dense parameters read per stage
dense_macs           (T,)    MACs the dense units run
dense_equivalent_macs (T,)   MACs of the dense model at the token's position
nonspiking_ops       (T, C)  every non-spiking op of the spiking model (gated ops scaled)
dense_model_ops      (T, C)  the dense model's non-spiking ops (all experts, no router)
projection_macs      (T,)    MACs of the block projections (ops of kind ``linear``)
gpu_macs, gpu_other  (T,)    the dense model's MACs and other ops (a GPU baseline)
gated_delta          (T, 3)  what gating changes against the dense model: MACs, other ops,
                             parameter bytes (LTE experts off, routers on; zeros otherwise)
firing_rate          (T,)    events per LIF neuron (SpikeGPT's accounting), NaN otherwise
activations          (T,)    codes of the groups that drive weights (NeuroBench's activations)
activations_nonzero  (T,)    the nonzero ones among them (the codes as the model sends them)
===================  ======  ===============================================================

Per block (``block_*``, (B,)): stage, level, weight_bits, out_values, merge_adds, chips, cores,
src_links, steps; ``kv_block_stages``: the stage of each attention block.  ``kind_ops``
(K, G, C, 2): the ungated non-spiking ops of each kind (``meta["dense_kinds"]``) per stage
and class, fixed and per attended position (a token at position ``p`` runs ``fixed +
per_position x (p + 1)``): what a placement moves off the dense units.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neurosim._read import numpy_problem
from neurosim.errors import InputError
from neurosim.graph.ir import OP_CLASSES, EventGraph
from neurosim.replay.plan import ReplayPlan
from neurosim.threads import in_use

FORMAT = "neurosim.Counters"
VERSION = 1
BATCH_PER_THREAD = 4
"""Tokens replayed per call of the batched kernels, per thread."""
PER_BLOCK = ("events", "synops", "synops_graded", "updates_active", "updates_inactive",
             "messages", "hops", "crossings", "exits")

Progress = Callable[[str, int, int], None]


class Counters:
    """Arrays by name (see module docstring) and JSON-safe ``meta``."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.arrays, self.meta = arrays, meta

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    @property
    def tokens(self) -> int:
        return len(self.arrays["position"])

    def front_max(self, which: str, weight: np.ndarray) -> np.ndarray:
        """(T, B, S) max over each slice's front of ``rows @ weight``; ``which`` is
        ``busy`` or ``path``."""
        count = self.arrays[f"{which}_count"]
        return front_max(self.arrays[f"{which}_rows"], count.ravel(), weight).reshape(count.shape)

    # --- files ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        meta = json.dumps({"format": FORMAT, "version": VERSION, **self.meta})
        np.savez_compressed(buf, __meta__=np.array(meta), **self.arrays)
        return buf.getvalue()

    def save(self, path: str | Path) -> str:
        """Write ``counters.npz``; return its SHA-256."""
        data = self.to_bytes()
        Path(path).write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None) -> Counters:
        """Read a counters file; with ``sha256``, refuse one whose bytes changed."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(str(path), None, f"cannot read counters: {exc.strerror or exc}",
                             expected="the counters.npz of a run saved with --out") from None
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise InputError(str(path), None, "counters changed since the run wrote them "
                             "(SHA-256 differs from result.json)",
                             expected="the run's own counters.npz; run again with --out")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("__meta__")))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise InputError(str(path), None,
                             f"not a neurosim counters file: {numpy_problem(exc)}") from None
        if meta.pop("format", None) != FORMAT or meta.pop("version", None) != VERSION:
            raise InputError(str(path), "format", "not neurosim counters version 1",
                             expected=f"{FORMAT} version {VERSION}")
        return cls(arrays, meta)


def front_max(rows: np.ndarray, count: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per slice, the max over its rows of ``rows @ weight`` (0 for an empty slice).

    rows (M, d) int64, slices in order; count (N,) int64 rows per slice; weight (d,) >= 0.
    Returns (N,) float64.
    """
    vals = rows @ np.asarray(weight, np.float64)
    out = np.zeros(len(count))
    full = count > 0
    if full.any():
        starts = (np.cumsum(count) - count)[full]
        out[full] = np.maximum.reduceat(vals, starts)
    return np.maximum(out, 0.0)


def _static_statistics(graph: EventGraph) -> dict[str, float]:
    """NeuroBench's static metrics of a graph: ``footprint_bytes``, the weights stored
    densely at their bits plus the dense ops' parameters, and ``connection_sparsity``, the
    share of zero weights in the (non-identity) synapse blocks."""
    blocks = [b for b in graph.blocks if b.kind == "weights" and not b.identity]
    total = sum(b.c_in * b.c_out for b in blocks)
    nonzero = sum(b.nonzero_weights for b in blocks)
    return {"footprint_bytes": float(sum(b.c_in * b.c_out * b.weight_bits / 8 for b in blocks)
                                     + sum(op.param_bytes for op in graph.dense_ops)),
            "connection_sparsity": 1 - nonzero / total if total else 0.0}


def _stage_layer(names: list[str]) -> int:
    """The decoder layer of a stage (its blocks and ops are named ``L<layer>.<...>``); -1
    for the stages outside the layers (embedding, final norm, head)."""
    m = re.match(r"L(\d+)\.", names[0]) if names else None
    return int(m.group(1)) if m else -1


class _DenseCounts:
    """Closed-form non-spiking counts of a graph: affine in the position, set once."""

    def __init__(self, graph: EventGraph, plan: ReplayPlan | None = None) -> None:
        n_st = len(graph.stages)
        stage_of = {n: i for i, names in enumerate(graph.stages) for n in names}
        self.fixed = np.zeros((n_st, len(OP_CLASSES)))
        self.per_pos = np.zeros((n_st, len(OP_CLASSES)))
        self.param_bytes = np.zeros(n_st)
        self.gated = [(stage_of[op.name], op) for op in graph.dense_ops if op.gated_by is not None]
        self.kinds = sorted({op.kind for op in graph.dense_ops if op.gated_by is None})
        self.kind_ops = np.zeros((len(self.kinds), n_st, len(OP_CLASSES), 2))
        for op in graph.dense_ops:
            if op.gated_by is not None:
                continue
            s = stage_of[op.name]
            for j, k in enumerate(OP_CLASSES):
                self.fixed[s, j] += op.ops.get(k, 0)
                self.per_pos[s, j] += op.ops_per_position.get(k, 0)
                self.kind_ops[self.kinds.index(op.kind), s, j] += (op.ops.get(k, 0),
                                                                    op.ops_per_position.get(k, 0))
            self.param_bytes[s] += op.param_bytes
        self.merge = (np.zeros(n_st) if plan is None else
                      np.bincount(plan.block_stage, weights=plan.block_merge_adds, minlength=n_st))

        def affine(ops, cls: int | None = None) -> tuple[float, float]:
            fx = pp = 0.0
            for op in ops:
                keys = OP_CLASSES if cls is None else (OP_CLASSES[cls],)
                fx += sum(op.ops.get(k, 0) for k in keys)
                pp += sum(op.ops_per_position.get(k, 0) for k in keys)
            return fx, pp

        # the dense model (every expert, no router): per class
        full = [op for op in graph.dense_ops if op.kind != "router"]
        self.full = np.array([affine(full, j) for j in range(len(OP_CLASSES))])  # (C, 2)
        self.proj = affine([op for op in graph.dense_ops if op.kind == "linear"], 0)
        self.synapse_macs = sum(b.c_in * b.c_out for b in graph.blocks
                                if b.kind == "weights" and not b.identity)
        self.kv_macs_per_pos = sum(b.c_in * b.fanout_per_event for b in graph.blocks if b.kind == "kv")

    def stage_ops(self, position: int, active: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(G, C) dense-unit ops and (G,) parameter bytes of a token at ``position``."""
        ops = self.fixed + self.per_pos * (position + 1)
        pb = self.param_bytes.copy()
        for s, op in self.gated:
            a = active.get(op.gated_by, 1.0)
            c = op.count(position, a)
            ops[s] += [c[k] for k in OP_CLASSES]
            pb[s] += op.param_bytes_read(a)
        ops[:, 1] += self.merge
        return ops, pb

    def full_ops(self, position: int) -> np.ndarray:
        """(C,) non-spiking ops of the dense model."""
        return self.full[:, 0] + self.full[:, 1] * (position + 1)

    def dense_equivalent_macs(self, position: int) -> float:
        return (self.synapse_macs + self.kv_macs_per_pos * (position + 1)
                + float(self.full_ops(position)[0]))


def _gated_delta(graph: EventGraph, position: int, active: dict[str, float]) -> tuple[float, float, float]:
    """What gating changes against the dense model for one token: MACs, other scalar ops
    and parameter bytes of inactive experts removed, the routers' added."""
    macs = other = bytes_ = 0.0
    for op in graph.dense_ops:
        if op.gated_by is not None:
            a = active.get(op.gated_by, 1.0)
            full, act = op.count(position), op.count(position, a)
            macs += act["mac"] - full["mac"]
            other += sum(act[k] - full[k] for k in OP_CLASSES if k != "mac")
            bytes_ += op.param_bytes_read(a) - op.param_bytes
        elif op.kind == "router":
            c = op.count(position)
            macs += c["mac"]
            other += sum(c[k] for k in OP_CLASSES if k != "mac")
            bytes_ += op.param_bytes
    return macs, other, bytes_


def _stream(source, plan: ReplayPlan, chunks: np.ndarray | None = None):
    """A function of positions (n,) giving those tokens' events per (step, chunk) of
    ``plan``, (n, S, K) (``chunks``: only these, the others zero), where the source can
    count them without writing its codes and the plan needs no codes (no per-column
    fan-out); else None."""
    if not hasattr(source, "event_counter") or len(plan.sparse_tiles):
        return None
    return source.event_counter(plan.chunk_start, plan.chunk_unary, chunks)


def count(graph: EventGraph, plan: ReplayPlan, source, *, tokens: int, position: int,
          context: int, encoder: bool, time_driven: bool, dense_graph: EventGraph,
          acc_plan: ReplayPlan | None = None, lif_neurons: int = 0,
          meta: dict[str, Any] | None = None, progress: Progress | None = None) -> Counters:
    """Replay ``tokens`` tokens of ``source`` from ``position`` through ``plan``.

    The tokens before ``position`` (an encoder: all ``context`` positions) are replayed
    first to fill the attention blocks' KV cache.  ``acc_plan``: an unmapped plan of the
    same graph, replayed beside ``plan`` when binary-only cores expand graded codes (the
    literature accounting counts graded synops).  ``dense_graph``: the dense counterpart
    whose MACs and ops a GPU runs.
    """
    from neurosim.replay.engine import Replayer  # numba: only where tokens are replayed

    replayer = Replayer(plan, time_driven)
    acc = Replayer(acc_plan, False) if acc_plan is not None else None
    replayers = [r for r in (replayer, acc) if r is not None]
    batch = BATCH_PER_THREAD * in_use()
    n_prefix = context if encoder else position
    if n_prefix:
        prefix = [_stream(source, r.plan, r.plan.chunk_kv) for r in replayers]
        for lo in range(0, n_prefix, batch):
            positions = range(lo, min(n_prefix, lo + batch))
            codes = [source.codes(pos) for pos in positions] if None in prefix else []
            for r, events in zip(replayers, prefix):
                if events is None:
                    for c in codes:
                        r.prefix(c)
                else:
                    r.prefix_events(events(positions))
            if progress is not None:
                progress("prefix", positions[-1] + 1, n_prefix)
    streams = [_stream(source, r.plan) for r in replayers]

    def replay(r: Replayer, events, positions: list[int], counted: list[int],
               codes: list | None) -> tuple[list, list | None]:
        """The replayer's counters of the tokens at ``positions``, counted at ``counted``,
        from events or from their codes (made once, shared with the next call)."""
        if events is not None:
            return r.tokens_events(events(positions), counted, grow=not encoder), codes
        codes = codes if codes is not None else [source.codes(pos) for pos in positions]
        return [r.token(c, pos, grow=not encoder) for c, pos in zip(codes, counted)], codes

    dc, ddc = _DenseCounts(graph, plan), _DenseCounts(dense_graph)
    gate_blocks = {b.source: bi for bi, b in enumerate(graph.blocks)
                   if graph[b.source].model == "gate"}
    per: dict[str, list] = {k: [] for k in (*PER_BLOCK, "acc_synops", "position", "count_position",
                                            "dense_ops", "param_bytes", "dense_macs",
                                            "dense_equivalent_macs", "nonspiking_ops",
                                            "dense_model_ops", "projection_macs", "gpu_macs",
                                            "gpu_other", "gated_delta", "firing_rate",
                                            "busy_count", "path_count", "activations_nonzero")}
    # NeuroBench's activations: every code of a group that drives weights, one block each
    act_first: dict[str, int] = {}
    for bi, b in enumerate(graph.blocks):
        if b.kind == "weights":
            act_first.setdefault(b.source, bi)
    act_blocks = np.array(list(act_first.values()), np.int64)
    activations = sum(graph[g].size * graph[g].max_steps for g in act_first)
    busy_rows, path_rows = [], []
    for lo in range(0, tokens, batch):
        positions = [position + i for i in range(lo, min(tokens, lo + batch))]
        counted = [context - 1 if encoder else p for p in positions]
        tcs, codes = replay(replayer, streams[0], positions, counted, None)
        accs = tcs if acc is None else replay(acc, streams[1], positions, counted, codes)[0]
        for i, pos, tc, ac in zip(range(lo, lo + len(tcs)), counted, tcs, accs):
            acc_syn = ac.synops
            active = {g: float(tc.events[bi]) / graph[g].size for g, bi in gate_blocks.items()}
            for k in PER_BLOCK:
                per[k].append(getattr(tc, k))
            per["acc_synops"].append(acc_syn)
            per["position"].append(position + i)
            per["count_position"].append(pos)
            ops, pb = dc.stage_ops(pos, active)
            per["dense_ops"].append(ops)
            per["param_bytes"].append(pb)
            nonspiking = ops.sum(axis=0)
            nonspiking[1] -= dc.merge.sum()  # merge adds are a placement's, not the model's
            per["nonspiking_ops"].append(nonspiking)
            per["dense_macs"].append(nonspiking[0])
            per["dense_equivalent_macs"].append(dc.dense_equivalent_macs(pos))
            per["dense_model_ops"].append(dc.full_ops(pos))
            per["projection_macs"].append(dc.proj[0] + dc.proj[1] * (pos + 1))
            per["gated_delta"].append(_gated_delta(graph, pos, active) if gate_blocks else (0, 0, 0))
            per["gpu_macs"].append(ddc.dense_equivalent_macs(pos))
            per["gpu_other"].append(ddc.full_ops(pos)[1:].sum())
            per["firing_rate"].append(float(tc.events.sum()) / lif_neurons if lif_neurons else np.nan)
            per["activations_nonzero"].append(int(ac.events[act_blocks].sum()))
            busy_rows.append(tc.busy_rows)
            path_rows.append(tc.path_rows)
            per["busy_count"].append(tc.busy_count)
            per["path_count"].append(tc.path_count)
            if progress is not None:
                progress("replay", i + 1, tokens)
    ints = {*PER_BLOCK, "acc_synops", "busy_count", "path_count", "position", "count_position",
            "activations_nonzero"}
    arrays = {k: np.asarray(v, np.int64 if k in ints else np.float64) for k, v in per.items()}
    arrays["activations"] = np.full(tokens, activations, np.int64)
    arrays["busy_rows"] = np.concatenate(busy_rows).astype(np.int64)
    arrays["path_rows"] = np.concatenate(path_rows).astype(np.int64)
    arrays.update({
        "block_stage": plan.block_stage, "block_level": plan.block_level,
        "block_weight_bits": plan.block_weight_bits, "block_out_values": plan.block_out_values,
        "block_merge_adds": plan.block_merge_adds,
        "block_chips": plan.block_chips, "block_cores": plan.block_cores,
        "block_src_links": plan.block_src_links, "block_steps": plan.block_steps,
        "kv_block_stages": plan.block_stage[np.unique(plan.chunk_block[plan.chunk_kv])],
        "kind_ops": dc.kind_ops,
    })
    kv = graph.kv_cache
    info = {
        "stages": len(graph.stages),
        "stage_layers": [_stage_layer(names) for names in graph.stages],
        "blocks": [{"layer": b.layer, "site": b.site, "name": b.name,
                    "graded": graph[b.source].graded} for b in graph.blocks],
        "group_models": sorted({g.model for g in graph.groups} - {"input", "bus"}),
        "dense_kinds": dc.kinds,
        "kv_bits_per_position": 0 if kv is None else kv.bits_per_position(),
        "kv_layers": 0 if kv is None else kv.layers,
        "context": context,
        "encoder": encoder,
        **_static_statistics(graph),
    }
    dkv = dense_graph.kv_cache
    info["dense_kv_values_per_position"] = 0 if dkv is None else dkv.layers * 2 * dkv.width
    return Counters(arrays, {**info, **(meta or {})})
