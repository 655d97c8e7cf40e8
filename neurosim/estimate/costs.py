"""Cost models. Energies in joules, times in seconds (inputs in pJ and ns from profiles).

Neuromorphic energy per token (DESIGN §3), by component:

==============  =============================================================================
synapses        synops x synop_energy (graded synops x graded_synop_energy)
neurons         active updates x neuron_update_energy + inactive x inactive_update_energy
spikes          events x spike_out_energy
noc             messages x message_in_energy + hops x hop_energy
links           chip crossings x message_bits x link energy per bit
memory:<level>  bits read/written x energy per bit: weights per synop (b_w bits), neuron
                state per update (read + write), KV cache (read p positions, write one),
                dense-unit parameters
transfer        partial sums moved from cores to the dense unit (16 bits each)
dense           dense-unit scalar ops x energy per op class
static          chips x static power x token latency
==============  =============================================================================

Time per token: stages in order; a spiking stage takes the sum over its steps of (critical
core busy + longest NoC path + barrier), at least its off-core memory time; a dense stage
takes max(ops / (units x throughput), parameter bytes / bandwidth) plus transfer time.
With layer pipelining across tokens (a profile option) a new token enters every
``bottleneck_s`` = the slowest stage's time; latency per token is unchanged.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from neurosim.graph.ir import OP_CLASSES, EventGraph
from neurosim.hardware.schema import AccountingProfile, GpuProfile, NeuromorphicProfile
from neurosim.mapping.place import ACTIVATION_BITS
from neurosim.replay.engine import TokenCounters
from neurosim.replay.plan import ReplayPlan

PJ = 1e-12
NS = 1e-9
COMPONENTS = ("synapses", "neurons", "spikes", "noc", "links", "memory", "transfer", "dense",
              "static")


def interpolate(table: dict[int, float], x: float) -> float:
    """Piecewise-linear in the count, clamped at the ends."""
    keys = sorted(table)
    return float(np.interp(x, keys, [table[k] for k in keys]))


class NeuromorphicCosts:
    """Per-token energy and time of a placed graph on a neuromorphic profile."""

    def __init__(self, plan: ReplayPlan, profile: NeuromorphicProfile) -> None:
        self.plan, self.p = plan, profile
        g: EventGraph = plan.graph
        m = plan.mapping
        self.levels = [lv.name for lv in profile.memory]
        read = np.array([float(lv.read_energy_pj_per_bit) for lv in profile.memory])
        write = np.array([float(lv.write_energy_pj_per_bit) for lv in profile.memory])
        bw = np.array([float(lv.bandwidth_gb_s) for lv in profile.memory])
        self.read_pj, self.write_pj, self.bw_gb_s = read, write, bw
        c = profile.core
        self.state_bits = int(c.neuron_state_bits.value)
        self.chips = m.chips
        # stages: blocks and dense ops per stage
        n_st = len(g.stages)
        self.stage_dense_fixed = np.zeros((n_st, len(OP_CLASSES)))
        self.stage_dense_pos = np.zeros((n_st, len(OP_CLASSES)))
        self.stage_param_bytes = np.zeros(n_st)
        stage_of = {n: i for i, names in enumerate(g.stages) for n in names}
        self.gated = [(stage_of[op.name], op) for op in g.dense_ops if op.gated_by is not None]
        for op in g.dense_ops:
            if op.gated_by is not None:
                continue
            s = stage_of[op.name]
            for j, k in enumerate(OP_CLASSES):
                self.stage_dense_fixed[s, j] += op.ops.get(k, 0)
                self.stage_dense_pos[s, j] += op.ops_per_position.get(k, 0)
            self.stage_param_bytes[s] += op.param_bytes
        self.dense_level = m.dense_param_level
        self.kv_level = m.kv_level
        # barrier per stage: cores and chips involved
        cores_per_chip = m.cores_per_chip
        self.block_barrier_ns = np.zeros(len(plan.block_steps))
        for s in range(n_st):
            blocks = np.flatnonzero(plan.block_stage == s)
            if not len(blocks):
                continue
            cores = int(plan.block_cores[blocks].sum())
            chips = int(plan.block_chips[blocks].max())
            t = interpolate(profile.chip.barrier_latency_ns.value, min(cores, cores_per_chip))
            if chips > 1:
                t += interpolate(profile.system.barrier_latency_ns.value, chips)
            self.block_barrier_ns[blocks[0]] = t  # charged once per stage step
        du = profile.dense_unit
        self.dense_flop_s = float(du.units.value) * float(du.throughput_gflop_s) * 1e9
        self.dense_op_pj = np.array([float(du.ops.mac_energy_pj), float(du.ops.add_energy_pj),
                                     float(du.ops.mul_energy_pj), float(du.ops.special_energy_pj)])
        self.transfer_pj_bit = float(du.transfer_energy_pj_per_bit)
        self.transfer_bw = float(du.transfer_bandwidth_gb_s) * 1e9
        self.kv_bits_per_pos = 0 if g.kv_cache is None else g.kv_cache.bits_per_position()
        self.kv_layers = 0 if g.kv_cache is None else g.kv_cache.layers
        self.block_out_bits = plan.block_out_values * ACTIVATION_BITS

    def dense_ops(self, position: int, active: dict[str, float] | None = None) -> np.ndarray:
        """(stages, 4) scalar ops per class, merge adds of partial sums included; gated ops
        scaled by the active fraction of their gate group (``active``, default all)."""
        ops = self.stage_dense_fixed + self.stage_dense_pos * (position + 1)
        for s, op in self.gated:
            c = op.count(position, (active or {}).get(op.gated_by, 1.0))
            ops[s] += [c[k] for k in OP_CLASSES]
        merge = np.bincount(self.plan.block_stage, weights=self.plan.block_merge_adds,
                            minlength=len(ops))
        ops[:, 1] += merge
        return ops

    def param_bytes(self, active: dict[str, float] | None = None) -> np.ndarray:
        """(stages,) dense parameter bytes read per token (gated ops: active experts only)."""
        out = self.stage_param_bytes.copy()
        for s, op in self.gated:
            out[s] += op.param_bytes_read((active or {}).get(op.gated_by, 1.0))
        return out

    def token(self, tc: TokenCounters, active: dict[str, float] | None = None) -> dict:
        """Energy by component (J), memory bits by level, latency (s) and stage times;
        ``active``: the active fraction of each gate group this token (LTE experts)."""
        p, c = self.plan, self.p.core
        e: dict[str, float] = defaultdict(float)
        binary = tc.synops - tc.synops_graded
        e["synapses"] = (binary.sum() * float(c.synop_energy_pj)
                         + tc.synops_graded.sum() * float(c.graded_synop_energy_pj)) * PJ
        e["neurons"] = (tc.updates_active.sum() * float(c.neuron_update_energy_pj)
                        + tc.updates_inactive.sum() * float(c.inactive_neuron_update_energy_pj)) * PJ
        e["spikes"] = tc.events.sum() * float(c.spike_out_energy_pj) * PJ
        e["noc"] = (tc.messages.sum() * float(c.message_in_energy_pj)
                    + tc.hops.sum() * float(self.p.chip.hop_energy_pj)) * PJ
        e["links"] = (tc.crossings.sum() * float(self.p.system.message_bits.value)
                      * float(self.p.system.link.energy_pj_per_bit)) * PJ
        # memory traffic, bits per level
        read_bits = np.zeros(len(self.levels))
        write_bits = np.zeros(len(self.levels))
        wbits = tc.synops * p.block_weight_bits
        np.add.at(read_bits, p.block_level, wbits)
        state = (tc.updates_active + tc.updates_inactive).sum() * self.state_bits
        read_bits[0] += state
        write_bits[0] += state
        if self.kv_level is not None:
            read_bits[self.kv_level] += self.kv_layers * tc.position * self.kv_bits_per_pos
            write_bits[self.kv_level] += self.kv_layers * self.kv_bits_per_pos
        param_bytes = self.param_bytes(active)
        read_bits[self.dense_level] += param_bytes.sum() * 8
        mem_j = (read_bits * self.read_pj + write_bits * self.write_pj) * PJ
        for name, j in zip(self.levels, mem_j):
            e[f"memory:{name}"] = float(j)
        out_bits = self.block_out_bits.sum()
        e["transfer"] = out_bits * self.transfer_pj_bit * PJ
        ops = self.dense_ops(tc.position, active)
        e["dense"] = float((ops.sum(axis=0) * self.dense_op_pj).sum()) * PJ

        # time
        spiking_ns = tc.stage_busy_ns + tc.stage_path_ns + self.block_barrier_ns * tc.steps_run
        n_st = len(param_bytes)
        stage_s = np.zeros(n_st)
        np.maximum.at(stage_s, p.block_stage, spiking_ns * NS)
        # off-core weight reads bound a stage from below
        offcore = np.where(p.block_level > 0, wbits / 8 / (self.bw_gb_s[p.block_level] * 1e9), 0.0)
        mem_s = np.zeros(n_st)
        np.add.at(mem_s, p.block_stage, offcore)
        if self.kv_level is not None:
            kv_s = tc.position * self.kv_bits_per_pos / 8 / (self.bw_gb_s[self.kv_level] * 1e9)
            kv_blocks = p.block_stage[np.unique(p.chunk_block[p.chunk_kv])]
            np.add.at(mem_s, kv_blocks, kv_s)
        spiking_s = np.maximum(stage_s, mem_s)
        dense_s = np.maximum(ops.sum(axis=1) / self.dense_flop_s,
                             param_bytes / (self.bw_gb_s[self.dense_level] * 1e9))
        xfer = np.zeros(n_st)
        np.add.at(xfer, p.block_stage, self.block_out_bits / 8 / self.transfer_bw)
        stage_s = spiking_s + dense_s + xfer
        latency = float(stage_s.sum())
        e["static"] = self.chips * float(self.p.chip.static_power_mw) * 1e-3 * latency
        return {
            "energy_j": dict(e),
            "memory_bytes": {n: float((r + w) / 8) for n, r, w in zip(self.levels, read_bits, write_bits)},
            "latency_s": latency,
            "stage_s": stage_s,
            "bottleneck_s": float(stage_s.max(initial=0.0)),
            "dense_ops": ops.sum(axis=0),
            "spiking_s": float(spiking_s.sum()),
            "dense_s": float(dense_s.sum()),
            "transfer_s": float(xfer.sum()),
        }


def gated_delta(graph: EventGraph, position: int, active: dict[str, float]) -> dict:
    """What gating changes against the dense model for one token: MACs, other scalar ops and
    parameter bytes of inactive experts removed, the routers' added."""
    macs = other = 0
    bytes_ = 0.0
    for op in graph.dense_ops:
        if op.gated_by is not None:
            full, act = op.count(position), op.count(position, active.get(op.gated_by, 1.0))
            macs += act["mac"] - full["mac"]
            other += sum(act[k] - full[k] for k in OP_CLASSES if k != "mac")
            bytes_ += op.param_bytes_read(active.get(op.gated_by, 1.0)) - op.param_bytes
        elif op.kind == "router":
            c = op.count(position)
            macs += c["mac"]
            other += sum(c[k] for k in OP_CLASSES if k != "mac")
            bytes_ += op.param_bytes
    return {"macs": macs, "other": other, "bytes": bytes_}


def gpu_baseline(dense_graph: EventGraph, parameters: int, embedding_params: int,
                 profile: GpuProfile, position: int, context: int,
                 delta: dict | None = None) -> dict:
    """Roofline of the dense model on a GPU for one token at ``position`` (batch 1).

    FLOPs = 2 x MACs + other scalar ops; bytes = weights read (all but the embedding table,
    plus one embedding row) + KV cache read (``position`` positions) and written (one);
    time = max(FLOPs / peak, bytes / bandwidth); energy = FLOPs x J/FLOP + bits x J/bit +
    idle power x time, per device used.  ``delta`` (:func:`gated_delta`) adjusts MACs, other
    ops and bytes for a gated model (LTE) run on the GPU.
    """
    gpu = profile.gpu
    wb = int(gpu.weight_bits.value) / 8
    kvb = int(gpu.kv_cache_bits.value) / 8
    kv = dense_graph.kv_cache
    kv_pos_bytes = 0 if kv is None else kv.layers * 2 * kv.width * kvb
    weight_bytes = parameters * wb
    devices = gpu.devices
    if devices == "auto":
        need = weight_bytes + context * kv_pos_bytes
        devices = max(1, math.ceil(need / (float(gpu.memory_capacity_gib) * 2**30)))
    macs = dense_graph.dense_equivalent_macs(position)
    other = sum(sum(v for k, v in op.count(position).items() if k != "mac")
                for op in dense_graph.dense_ops)
    read = (parameters - embedding_params) * wb + kv_pos_bytes * position
    bytes_ = read + kv_pos_bytes + (embedding_params and dense_graph.dense_ops[0].param_bytes)
    if delta:
        macs += delta["macs"]
        other += delta["other"]
        bytes_ += delta["bytes"]  # at the card's weight width
    flops = 2 * macs + other
    t = max(flops / (devices * float(gpu.peak_tflop_s) * 1e12),
            bytes_ / (devices * float(gpu.memory_bandwidth_gb_s) * 1e9))
    energy = (flops * float(gpu.flop_energy_pj) + bytes_ * 8 * float(gpu.memory_energy_pj_per_bit)) * PJ \
        + devices * float(gpu.idle_power_w) * t
    return {"energy_j": energy, "latency_s": t, "flops": flops, "bytes": bytes_, "devices": devices}


def accounting_baseline(graph: EventGraph, synops: float,
                        profile: AccountingProfile, position: int,
                        weight_bits_read: float, projection_rate: float | None = None,
                        active: dict[str, float] | None = None) -> dict:
    """The literature's theoretical energy for one token.

    ``spiking``: synops x E_AC (graded synops too: the papers' accounting makes no difference)
    plus every non-spiking scalar op at its class energy; ``dense_equivalent``: the dense
    model's MACs x E_MAC plus the same non-spiking ops; ``with_memory``: ``spiking`` plus the
    weight bits read at the profile's first memory level.  With ``projection_rate`` R,
    ``paper``: SpikeGPT's accounting (v5 Table 1), which prices the block projections
    (dense ops of kind ``linear``) at E_AC x R instead of E_MAC, everything else as in
    ``spiking``.
    """
    o = profile.ops
    cls = {"mac": float(o.mac_energy_pj), "add": float(o.add_energy_pj),
           "mul": float(o.mul_energy_pj), "special": float(o.special_energy_pj)}
    act = active or {}
    counts = [op.count(position, act.get(op.gated_by, 1.0)) for op in graph.dense_ops]
    nonspiking = sum(v * cls[k] for c in counts for k, v in c.items())
    spiking = synops * float(o.ac_energy_pj) + nonspiking
    dense_macs = graph.dense_equivalent_macs(position)
    # the dense model: every expert, no router
    full = [op.count(position) for op in graph.dense_ops if op.kind != "router"]
    full_ops = sum(v * cls[k] for c in full for k, v in c.items())
    dense_eq = (dense_macs - sum(c["mac"] for c in full)) * float(o.mac_energy_pj) + full_ops
    mem = profile.memory[0].read_energy_pj_per_bit.value if profile.memory else 0.0
    out = {
        "spiking_j": spiking * PJ,
        "dense_equivalent_j": dense_eq * PJ,
        "with_memory_j": (spiking + weight_bits_read * mem) * PJ,
    }
    if projection_rate is not None:
        proj = sum(op.count(position)["mac"] for op in graph.dense_ops if op.kind == "linear")
        paper = spiking - proj * (float(o.mac_energy_pj) - projection_rate * float(o.ac_energy_pj))
        out["paper_j"] = paper * PJ
    return out
