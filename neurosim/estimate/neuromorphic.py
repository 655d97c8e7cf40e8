"""Neuromorphic energy and time of a placed graph's counters (DESIGN §3).

Energy per token, by component:

==============  =============================================================================
synapses        synops x synop_energy (graded synops x graded_synop_energy)
neurons         active updates x neuron_update_energy + inactive x inactive_update_energy
spikes          events x spike_out_energy
noc             messages x message_in_energy + hops x hop_energy
links           chip crossings x message_bits x link energy per bit
memory:<level>  bits read/written x energy per bit: weights per synop (b_w bits), neuron
                state per update (read + write), KV cache (read p positions, write one),
                dense-unit parameters
transfer        partial sums moved from cores to the dense units (16 bits each), unless the
                block merges none and the next stage's non-spiking ops all run on the cores
dense           dense-unit scalar ops x energy per op class
programmable    non-spiking ops the profile places on the neuro-cores (``dense_placement``)
                x the programmable neurons' energy per op class; their neuron state
                (``state_bits`` read and written per op) is core memory traffic
static          chips x static power x latency / batch (the system's time per token)
==============  =============================================================================

Time per token: stages in order.  A spiking stage takes the max over its blocks of the sum
over steps of (critical core busy + longest NoC path), the stage's barrier once per step,
and at least its off-core memory time and its chip-link time; ``latency_s:spiking:noc`` and
``:barrier`` are the path and barrier parts of the critical block of each stage that is not
bound by memory or links (the bits of messages that
leave their sending chips over that chip's links, at ``system.link.bandwidth_gbit_s`` each).
A dense stage takes max(ops / (dense units x throughput), parameter bytes / bandwidth) plus
the transfer of partial sums, plus its placed ops x ``op_latency_ns`` spread over the
cores the mapping uses (those of its chips when no synapse block is placed).  Dense units
and their transfer bandwidth are per chip (``dense_unit.location: chip``, times the chips
used) or in total (``host``).  With layer
pipelining across tokens (a profile option) a new token enters every ``bottleneck_s`` = the
slowest stage's time; latency per token is unchanged.  Counters marked
``concurrent_stages`` (an imported network under a one-step synaptic delay, as Loihi runs
it: every layer works on the previous step's spikes at the same time) take the slowest
stage's time per step, and its parts.

A batch of B independent sequences shares the system: ``latency_s`` is the time between
two tokens of one sequence, B token passes without pipelining, max(one pass, B x
bottleneck) with it; the ``latency_s:<part>`` columns are one pass's parts.
"""

from __future__ import annotations

import numpy as np

from neurosim.estimate import NS, PJ, Priced, interpolate, register
from neurosim.hardware.schema import NeuromorphicProfile
from neurosim.replay.counters import Counters

ACTIVATION_BITS = 16
"""Bits of an accumulated output value moved from a core to a dense unit."""


def dense_scale(c: Counters, p: NeuromorphicProfile) -> int:
    """How many times ``dense_unit.units`` and its transfer bandwidth count: the chips used
    when the units sit on every chip, else once."""
    return int(c.meta["mapping"]["chips"]) if p.dense_unit.location == "chip" else 1


def _stage_sum(per_block: np.ndarray, stage: np.ndarray, n_st: int) -> np.ndarray:
    """(T, G) sums over the blocks of each stage of (T, B) values."""
    out = np.zeros((per_block.shape[0], n_st))
    np.add.at(out.T, stage, per_block.T)
    return out


def _stage_max(per_block: np.ndarray, stage: np.ndarray, n_st: int) -> np.ndarray:
    out = np.zeros((per_block.shape[0], n_st))
    np.maximum.at(out.T, stage, per_block.T)
    return out


def _barrier_ns(c: Counters, p: NeuromorphicProfile) -> np.ndarray:
    """(B,) barrier time per step, charged to the first block of each stage."""
    stage, cores, chips = c["block_stage"], c["block_cores"], c["block_chips"]
    per_chip = int(c.meta["mapping"]["cores_per_chip"])
    out = np.zeros(len(stage))
    if not len(stage):
        return out
    stages, first = np.unique(stage, return_index=True)
    idx = np.searchsorted(stages, stage)
    stage_cores = np.zeros(len(stages), np.int64)
    np.add.at(stage_cores, idx, cores.astype(np.int64))
    stage_chips = np.zeros(len(stages), np.int64)
    np.maximum.at(stage_chips, idx, chips.astype(np.int64))
    t = interpolate(p.chip.barrier_latency_ns.value, np.minimum(stage_cores, per_chip))
    multi = stage_chips > 1
    t = t + np.where(multi, interpolate(p.system.barrier_latency_ns.value, stage_chips), 0.0)
    out[first] = t
    return out


def _critical_parts(spiking_ns: np.ndarray, path_ns: np.ndarray, barrier_ns: np.ndarray,
                    stage: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, G) seconds of the NoC path and of the barrier inside each spiking stage's time:
    those of the stage's critical block (the largest busy + path + barrier), where the
    stage is not bound by its off-core memory or chip-link time (``bound`` (T, G) true)."""
    T, n_st = bound.shape
    noc = np.zeros((T, n_st))
    bar = np.zeros((T, n_st))
    rows = np.arange(T)
    for s in np.unique(stage):
        blocks = np.flatnonzero(stage == s)
        crit = blocks[np.argmax(spiking_ns[:, blocks], axis=1)]     # (T,)
        noc[:, s] = np.where(bound[:, s], path_ns[rows, crit] * NS, 0.0)
        bar[:, s] = np.where(bound[:, s], barrier_ns[crit] * NS, 0.0)
    return noc, bar


def block_energy(c: Counters, p: NeuromorphicProfile) -> dict[str, np.ndarray]:
    """(T, B) joules per block of the components counted per block."""
    k = p.core
    binary = c["synops"] - c["synops_graded"]
    return {
        "synapses": (binary * float(k.synop_energy_pj)
                     + c["synops_graded"] * float(k.graded_synop_energy_pj)) * PJ,
        "neurons": (c["updates_active"] * float(k.neuron_update_energy_pj)
                    + c["updates_inactive"] * float(k.inactive_neuron_update_energy_pj)) * PJ,
        "spikes": c["events"] * float(k.spike_out_energy_pj) * PJ,
        "noc": (c["messages"] * float(k.message_in_energy_pj)
                + c["hops"] * float(p.chip.hop_energy_pj)) * PJ,
    }


def _price(c: Counters, p: NeuromorphicProfile) -> Priced:
    m, k = c.meta, p.core
    n_st, T = m["stages"], c.tokens
    stage, level = c["block_stage"], c["block_level"]
    n_lv = len(p.memory)
    read_pj = np.array([float(lv.read_energy_pj_per_bit) for lv in p.memory])
    write_pj = np.array([float(lv.write_energy_pj_per_bit) for lv in p.memory])
    bw = np.array([float(lv.bandwidth_gb_s) for lv in p.memory]) * 1e9
    kv_level, dense_level = m["mapping"]["kv_level"], m["mapping"]["dense_level"]
    chips = int(m["mapping"]["chips"])

    per_block = block_energy(c, p)
    e = {name: v.sum(axis=1) for name, v in per_block.items()}
    e["links"] = (c["crossings"].sum(axis=1) * float(p.system.message_bits.value)
                  * float(p.system.link.energy_pj_per_bit)) * PJ
    # memory traffic, bits per level
    read = np.zeros((T, n_lv))
    write = np.zeros((T, n_lv))
    wbits = c["synops"] * c["block_weight_bits"]
    np.add.at(read.T, level, wbits.T)
    state = (c["updates_active"] + c["updates_inactive"]).sum(axis=1) * int(k.neuron_state_bits.value)
    read[:, 0] += state
    write[:, 0] += state
    kv_bits = m["kv_bits_per_position"]
    pos = c["count_position"]
    if kv_level is not None:
        read[:, kv_level] += m["kv_layers"] * pos * kv_bits
        write[:, kv_level] += m["kv_layers"] * kv_bits
    param_bytes = c["param_bytes"]
    read[:, dense_level] += param_bytes.sum(axis=1) * 8
    prog = programmable_ops(c, p)                                    # (T, G, C)
    ops = c["dense_ops"] - prog                                      # the dense units'
    pg = p.programmable_ops
    if pg is not None:
        state = prog.sum(axis=(1, 2)) * int(pg.state_bits.value)
        read[:, 0] += state
        write[:, 0] += state
    mem_j = (read * read_pj + write * write_pj) * PJ
    for i, lv in enumerate(p.memory):
        e[f"memory:{lv.name}"] = mem_j[:, i]
    moved = _transfers(c, ops, prog)                                 # (T, B)
    out_bits = moved * c["block_out_values"] * ACTIVATION_BITS
    e["transfer"] = out_bits.sum(axis=1) * float(p.dense_unit.transfer_energy_pj_per_bit) * PJ
    du = p.dense_unit
    e["dense"] = ops.sum(axis=1) @ _class_pj(du.ops) * PJ
    if pg is not None:
        e["programmable"] = prog.sum(axis=1) @ _class_pj(pg.ops) * PJ

    # time
    busy_w = np.array([float(k.event_in_latency_ns), float(k.synop_latency_ns) / int(k.synapse_lanes.value),
                       float(k.neuron_update_latency_ns), float(k.inactive_neuron_update_latency_ns),
                       float(k.spike_out_latency_ns)])
    path_w = np.array([float(p.chip.hop_latency_ns), float(p.system.link.latency_ns)])
    if k.busy_time == "overlap":  # receive side (messages, synapses) beside send side
        receive = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
        busy = np.maximum(c.front_max("busy", busy_w * receive),
                          c.front_max("busy", busy_w * (1 - receive))).sum(axis=2)
    else:
        busy = c.front_max("busy", busy_w).sum(axis=2)               # (T, B) ns
    path = c.front_max("path", path_w).sum(axis=2)
    barrier = _barrier_ns(c, p) * c["block_steps"]                   # (B,) ns
    spiking_ns = busy + path + barrier
    stage_s = _stage_max(spiking_ns * NS, stage, n_st)
    offcore = np.where(level > 0, wbits / 8 / bw[level], 0.0)        # (T, B)
    mem_s = _stage_sum(offcore, stage, n_st)
    if kv_level is not None:
        kv_s = pos * kv_bits / 8 / bw[kv_level]
        for s in c["kv_block_stages"]:
            mem_s[:, s] += kv_s
    link_bw = float(p.system.link.bandwidth_gbit_s) * 1e9
    link = c["exits"] * float(p.system.message_bits.value) / (c["block_src_links"] * link_bw)
    link_s = _stage_sum(link, stage, n_st)
    spiking_s = np.maximum.reduce([stage_s, mem_s, link_s])
    noc_s, barrier_s = _critical_parts(spiking_ns, path, barrier, stage,
                                       stage_s >= np.maximum(mem_s, link_s))
    scale = dense_scale(c, p)
    dense_flop_s = float(du.units.value) * scale * float(du.throughput_gflop_s) * 1e9
    dense_s = np.maximum(ops.sum(axis=2) / dense_flop_s, param_bytes / bw[dense_level])
    if pg is not None:  # on every core the mapping uses (a graph without synapses: its
        # chips' cores), in parallel
        cores = int(m["mapping"]["cores"]) or chips * int(m["mapping"]["cores_per_chip"])
        dense_s = dense_s + prog.sum(axis=2) * float(pg.op_latency_ns) * NS / cores
    xfer = _stage_sum(out_bits / 8 / (float(du.transfer_bandwidth_gb_s) * scale * 1e9),
                      stage, n_st)
    total_s = spiking_s + dense_s + xfer
    bottleneck = total_s.max(axis=1, initial=0.0)
    if m.get("concurrent_stages"):  # every stage works on the previous step's spikes at once
        latency = int(m.get("batch", 1)) * bottleneck
        pick = np.arange(len(total_s)), total_s.argmax(axis=1) if n_st else 0

        def part(x: np.ndarray) -> np.ndarray:
            return x[pick] if n_st else np.zeros(len(total_s))
    else:
        latency = _latency(total_s.sum(axis=1), bottleneck, int(m.get("batch", 1)),
                           p.execution.layer_pipelining)

        def part(x: np.ndarray) -> np.ndarray:
            return x.sum(axis=1)
    e["static"] = chips * float(p.chip.static_power_mw) * 1e-3 * latency / m.get("batch", 1)

    cols: dict[str, np.ndarray] = {
        "energy_j": sum(e.values()),
        "latency_s": latency,
        "bottleneck_s": bottleneck,
        "latency_s:spiking": part(spiking_s),
        "latency_s:dense": part(dense_s),
        "latency_s:transfer": part(xfer),
        "latency_s:spiking:noc": part(noc_s),
        "latency_s:spiking:barrier": part(barrier_s),
    }
    for i, lv in enumerate(p.memory):
        cols[f"memory_bytes:{lv.name}"] = (read[:, i] + write[:, i]) / 8
    for name, v in e.items():
        cols[f"energy_j:{name}"] = v
    notes = []
    missing = set(m["group_models"]) - set(k.neuron_models)
    if missing:
        notes.append(f"neuron models {sorted(missing)} are not native on {p.name}; "
                     "their codes are injected as spikes into accumulating neurons")
    if p.execution.layer_pipelining:
        notes.append("layer pipelining: tokens_per_s_pipelined = 1 / slowest stage time")
    if p.placed_on_cores() and "dense_kinds" not in m:
        notes.append("these counters predate per-kind op counts: every non-spiking op is "
                     "priced on the dense unit, whatever dense_placement says")
    return Priced(cols, sum(per_block.values()),
                  {"dense_units": int(du.units.value) * scale,
                   "dense_placement": placement(c, p)}, notes, total_s)


def _latency(pass_s: np.ndarray, bottleneck_s: np.ndarray, batch: int,
             pipelined: bool) -> np.ndarray:
    """(T,) seconds between two tokens of one of ``batch`` sequences: each token's pass
    through every stage, one after another without pipelining (``batch`` passes), else a
    new token entering every slowest stage's time (at least one pass)."""
    if not pipelined:
        return batch * pass_s
    return np.maximum(pass_s, batch * bottleneck_s)


def _class_pj(costs) -> np.ndarray:
    """(C,) picojoules per scalar op of each class of a :class:`DenseOpCosts`."""
    return np.array([float(costs.mac_energy_pj), float(costs.add_energy_pj),
                     float(costs.mul_energy_pj), float(costs.special_energy_pj)])


def programmable_ops(c: Counters, p: NeuromorphicProfile) -> np.ndarray:
    """(T, G, C) the non-spiking ops of the kinds ``p`` places on its neuro-cores."""
    out = np.zeros(c["dense_ops"].shape)
    placed = set(p.placed_on_cores())
    kinds = c.meta.get("dense_kinds")
    if not placed & set(kinds or ()):
        return out
    mine = [i for i, kind in enumerate(kinds) if kind in placed]
    fixed, per_position = c["kind_ops"][mine].sum(axis=0).transpose(2, 0, 1)  # (G, C) each
    attended = (c["count_position"] + 1.0)[:, None, None]
    out += fixed[None]
    out += per_position[None] * attended
    return out


def _transfers(c: Counters, dense_ops: np.ndarray, prog: np.ndarray) -> np.ndarray:
    """(T, B) 1 where a block's outputs go to the dense units, else 0: always, unless the
    block has no partial sums to merge and every non-spiking op of the next stage runs on
    the neuro-cores (the stage's own merge adds aside)."""
    stage = c["block_stage"]
    out = np.ones((c.tokens, len(stage)))
    if not prog.any():
        return out
    n_st = dense_ops.shape[1]
    merge = np.bincount(stage, weights=c["block_merge_adds"], minlength=n_st)
    unit_work = dense_ops.sum(axis=2) - merge[None, :]               # (T, G) beyond merges
    nxt = np.minimum(stage + 1, n_st - 1)
    on_cores = (prog.sum(axis=2)[:, nxt] > 0) & (unit_work[:, nxt] <= 0) & (stage + 1 < n_st)
    out[on_cores & (c["block_merge_adds"] == 0)[None, :]] = 0.0
    return out


def placement(c: Counters, p: NeuromorphicProfile) -> dict[str, str]:
    """Where each kind of non-spiking op of the run's graph runs: ``neuro_cores`` or
    ``dense_unit``."""
    placed = set(p.placed_on_cores())
    return {k: "neuro_cores" if k in placed else "dense_unit"
            for k in c.meta.get("dense_kinds", [])}


def _no_baseline(c: Counters, p: NeuromorphicProfile) -> list:
    return []


def _columns(p: NeuromorphicProfile) -> list[str]:
    levels = [lv.name for lv in p.memory]
    parts = ["synapses", "neurons", "spikes", "noc", "links", *[f"memory:{n}" for n in levels],
             "transfer", "dense", *(["programmable"] if p.programmable_ops else []), "static"]
    return ["energy_j", "latency_s", "bottleneck_s", "latency_s:spiking", "latency_s:dense",
            "latency_s:transfer", "latency_s:spiking:noc", "latency_s:spiking:barrier",
            *[f"memory_bytes:{n}" for n in levels],
            *[f"energy_j:{c}" for c in parts]]


def _fields(p: NeuromorphicProfile) -> dict[str, list[str]]:
    return {
        "synapses": ["core.synop_energy_pj", "core.graded_synop_energy_pj"],
        "neurons": ["core.neuron_update_energy_pj", "core.inactive_neuron_update_energy_pj"],
        "spikes": ["core.spike_out_energy_pj"],
        "noc": ["core.message_in_energy_pj", "chip.hop_energy_pj"],
        "links": ["system.link.energy_pj_per_bit"],
        **{f"memory:{lv.name}": [f"memory.{lv.name}.read_energy_pj_per_bit",
                                 f"memory.{lv.name}.write_energy_pj_per_bit"] for lv in p.memory},
        "transfer": ["dense_unit.transfer_energy_pj_per_bit"],
        "dense": [f"dense_unit.ops.{k}_energy_pj" for k in ("mac", "add", "mul", "special")],
        **({"programmable": [f"programmable_ops.ops.{k}_energy_pj"
                             for k in ("mac", "add", "mul", "special")]}
           if p.programmable_ops else {}),
        "static": ["chip.static_power_mw"],
    }


price = register("neuromorphic", baseline=_no_baseline, columns=_columns,
                 fields=_fields)(_price)
