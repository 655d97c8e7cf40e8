"""Small hand-built graphs and profiles for closed-form engine tests."""

from __future__ import annotations

import copy

import numpy as np
import yaml

from neurosim.graph.ir import EventGraph, NeuronGroup, SynapseBlock
from neurosim.hardware import profiles_dir
from neurosim.hardware.schema import NeuromorphicProfile

BASE = yaml.safe_load((profiles_dir() / "loihi2.yaml").read_text())


def q(value, note="test value"):
    return {"value": value, "assumed": note}


def make_profile(*, neurons=64, fan_in=64, mem_kib=64.0, state_bits=8, cores=4, mesh=(2, 2),
                 chips="auto", max_chips=16, payload=8, routing="unicast",
                 update="time_driven", lanes=1, dram=True, placement=None,
                 **energies) -> NeuromorphicProfile:
    """A neuromorphic profile with round numbers (pJ, ns) unless overridden; ``placement``:
    op kinds run on the neuro-cores (default none)."""
    d = copy.deepcopy(BASE)
    d["name"] = "test"
    core = d["core"]
    core.update(
        neurons=q(neurons), max_fan_in=q(fan_in), neuron_state_bits=q(state_bits),
        graded_payload_bits=q(payload), synapse_lanes=q(lanes), neuron_update=update,
        synop_energy_pj=q(1.0), graded_synop_energy_pj=q(2.0), neuron_update_energy_pj=q(10.0),
        inactive_neuron_update_energy_pj=q(5.0), spike_out_energy_pj=q(3.0),
        message_in_energy_pj=q(7.0), event_in_latency_ns=q(1.0), synop_latency_ns=q(2.0),
        neuron_update_latency_ns=q(4.0), inactive_neuron_update_latency_ns=q(3.0),
        spike_out_latency_ns=q(5.0),
    )
    for k, v in energies.items():
        core[k] = q(v)
    d["chip"].update(cores=q(cores), core_mesh=q(list(mesh)), hop_energy_pj=q(11.0),
                     hop_latency_ns=q(6.0), barrier_latency_ns=q({1: 100.0}),
                     static_power_mw=q(1000.0))
    d["system"].update(chips=chips, max_chips=q(max_chips), message_bits=q(32),
                       barrier_latency_ns=q({1: 0.0, 2: 1000.0}))
    d["system"]["link"] = {"energy_pj_per_bit": q(0.5), "latency_ns": q(50.0),
                           "bandwidth_gbit_s": q(1.0)}
    d["network"] = {"routing": routing}
    levels = [{"name": "sram", "scope": "core", "capacity_kib": q(mem_kib),
               "read_energy_pj_per_bit": q(0.25), "write_energy_pj_per_bit": q(0.5),
               "bandwidth_gb_s": q(1.0)}]
    if dram:
        levels.append({"name": "dram", "scope": "system", "read_energy_pj_per_bit": q(20.0),
                       "write_energy_pj_per_bit": q(20.0), "bandwidth_gb_s": q(1.0)})
    d["memory"] = levels
    d["programmable_ops"] = {
        "kinds": ["norm", "residual", "dequantize", "silu_gate"],
        "ops": {"mac_energy_pj": q(8.0), "add_energy_pj": q(8.0), "mul_energy_pj": q(8.0),
                "special_energy_pj": q(16.0)},
        "op_latency_ns": q(2.0), "state_bits": q(24)}
    d["dense_placement"] = {k: "neuro_cores" for k in placement or ()}
    return NeuromorphicProfile.model_validate(d)


def one_layer(c_in: int, c_out: int, *, steps: int = 1, salient: int = 0, code_bits: int = 4,
              weight_bits: int = 4, model="gif") -> EventGraph:
    """One spiking site: a group of ``c_in`` neurons driving a dense ``c_in x c_out`` block."""
    g = NeuronGroup("L0.x.in", 0, "x", model, c_in, steps, salient, code_bits)
    b = SynapseBlock("L0.x", 0, "x", g.name, c_in, c_out, weight_bits)
    return EventGraph("test", "llama", [g], [b], [], [[g.name, b.name]], [(g.name, b.name)])


def codes(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.int8)


class OneToken:
    """Traffic of one token at ``position``: ``codes`` there, zeros at earlier positions."""

    kind = "synthetic"

    def __init__(self, token_codes: np.ndarray, position: int = 0) -> None:
        self.token_codes, self.position = token_codes, position

    def codes(self, position: int) -> np.ndarray:
        return self.token_codes if position == self.position else np.zeros_like(self.token_codes)

    def provenance(self) -> dict:
        return {"kind": "synthetic", "model": "one hand-written token"}


def replay(graph, profile, token_codes, position=0, context=16):
    """(mapping summary, counters, priced token columns) of one hand-written token."""
    from neurosim import estimate
    from neurosim.api import replay_graph

    c = replay_graph(graph, profile, OneToken(token_codes, position), tokens=1,
                     position=position, context=context)
    priced = estimate.price(c, profile)
    return c, {k: float(v[0]) for k, v in priced.tokens.items()}


def block_sums(c, name: str) -> int:
    """Counter ``name`` of the one token, summed over blocks."""
    return int(c[name][0].sum())


def front(rows: np.ndarray) -> np.ndarray:
    """The non-dominated rows of ``rows`` (n, d), by falling row sum, ties in row order: a
    row is kept when no other row is >= it in every column and larger in one, and no
    earlier row equals it; all-zero rows are dropped."""
    kept = []
    for i, r in enumerate(rows):
        if not r.any():
            continue
        beaten = any((o >= r).all() and ((o > r).any() or j < i) for j, o in enumerate(rows)
                     if j != i)
        if not beaten:
            kept.append(i)
    kept.sort(key=lambda i: (-int(rows[i].sum()), i))
    return rows[kept].reshape(len(kept), rows.shape[1])


def fronts(vec: np.ndarray, first: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`front` of every (block, step) slice of whole arrays: vec (S, T, d) int64 >= 0,
    block ``b`` owning rows ``first[b]:first[b+1]`` and running ``steps[b]`` steps.
    Returns the rows (M, d) in (block, step) order and their count per slice (B, S)."""
    n_steps, _, d = vec.shape
    count = np.zeros((len(first) - 1, n_steps), np.int64)
    out = []
    for b in range(len(first) - 1):
        for s in range(min(int(steps[b]), n_steps)):
            f = front(vec[s, first[b]:first[b + 1]])
            out.append(f)
            count[b, s] = len(f)
    return (np.concatenate(out) if out else np.zeros((0, d), np.int64)).astype(np.int64), count
