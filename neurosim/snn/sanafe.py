"""The same network on SANA-FE (``sanafe`` 2.2, Boyle et al., TCAD 2025), for cross-checks.

:func:`run_sanafe` builds a :class:`~neurosim.snn.network.SpikingNetwork` of LIF and IF
populations on SANA-FE's shipped Loihi architecture and runs it on an input: every
population on cores of its own (in the network's order, the input first; split evenly over
as few cores as hold it at 1,024 neurons each, as neurosim's mapping splits it), SANA-FE's
``leaky_integrate_fire`` soma with a hard reset, ``loihi_dense_synapse`` synapses.
neurosim's forward Euler step ``v += dt/tau (v_leak - v + r I)`` is SANA-FE's ``v =
leak_decay v + I'`` with ``leak_decay = 1 - dt/tau`` and the weights scaled by ``dt r /
tau`` (IF: ``leak_decay = 1``, weights times ``dt r``), given ``v_leak = 0``.

SANA-FE delivers a spike one step later (neurosim's ``synaptic_delay``), passes every number
as float32 and truncates ``v`` toward zero to a multiple of 1/64 after the leak each step;
spikes agree exactly where that truncation and float32 change nothing (weights on the 1/64
grid, no leak).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

from neurosim.errors import InputError
from neurosim.snn.network import INPUT, SpikingNetwork

NEURONS_PER_CORE = 1024
"""Loihi's compartments per core (SANA-FE's ``max_neurons_supported``)."""
CORES = 128


@dataclass
class SanafeRun:
    """What SANA-FE reports: ``spikes[pop]`` (T, size) uint8 (the input's too),
    ``energy_j`` and ``latency_s`` (simulated: sums over the steps), their per-step arrays, its
    counters (``synapse_events``: its ``spikes``, the synapses looked up; ``messages``:
    ``packets_sent``; ``neurons_updated``, ``neurons_fired``, ``hops``) and energy per unit."""

    spikes: dict[str, np.ndarray]
    energy_j: float
    latency_s: float
    step_energy_j: np.ndarray
    step_latency_s: np.ndarray
    counts: dict[str, int]
    energy_by_unit_j: dict[str, float]
    sim_s: float = 0.0
    """Wall time of SANA-FE's ``sim`` alone (network build and chip load excluded)."""


def _arch(inputs_per_core: int):
    """SANA-FE's Loihi architecture with only as many input units per core as needed (the
    stock file defines 1,024 per core; the unused ones cost nothing but memory)."""
    import sanafe

    text = (files("sanafe.examples") / "loihi.yaml").read_text()
    text, n = re.subn(r"loihi_inputs\[0\.\.1023\]", f"loihi_inputs[0..{inputs_per_core - 1}]", text)
    if n != 1:
        raise InputError("sanafe", "loihi.yaml", "its input units are not where expected")
    fd, tmp = tempfile.mkstemp(suffix="_loihi.yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        return sanafe.load_arch(tmp)
    finally:
        os.unlink(tmp)


def _soma(net: SpikingNetwork, dt_s: float) -> tuple[dict, dict]:
    """Per population: SANA-FE's soma attributes and the factor its weights take."""
    attrs, scale = {}, {}
    for p in net.populations:
        q = p.params
        if p.kind not in ("lif", "if"):
            raise InputError(net.name, p.name, f"SANA-FE runs LIF and IF populations here, not "
                             f"{p.kind}")
        if p.kind == "lif" and np.any(q["v_leak"] != 0):
            raise InputError(net.name, f"{p.name}.v_leak", "SANA-FE's LIF leaks toward 0")
        for k in ("tau", "r", "v_threshold", "v_reset") if p.kind == "lif" else ("r", "v_threshold",
                                                                                  "v_reset"):
            if np.ptp(q[k]) != 0:
                raise InputError(net.name, f"{p.name}.{k}", "differs between neurons; this "
                                 "cross-check sets one value per population")
        a = dt_s / float(q["tau"][0]) if p.kind == "lif" else 0.0
        attrs[p.name] = {"leak_decay": 1.0 - a, "threshold": float(q["v_threshold"][0]),
                         "reset": float(q["v_reset"][0]), "reset_mode": "hard"}
        scale[p.name] = (a if p.kind == "lif" else dt_s) * float(q["r"][0])
    return attrs, scale


def run_sanafe(net: SpikingNetwork, inputs: np.ndarray, dt_s: float,
               timing_model: str = "detailed") -> SanafeRun:
    """Run ``net`` on SANA-FE's Loihi model for ``inputs`` (T, net.inputs) spikes."""
    import sanafe

    x = np.asarray(inputs) != 0
    steps = x.shape[0]
    if any(j.bias.any() for j in net.projections):
        raise InputError(net.name, "bias", "this cross-check has no biases")
    attrs, scale = _soma(net, dt_s)
    sizes = {INPUT: net.inputs, **{p.name: p.size for p in net.populations}}
    core, start = {}, 0
    for name in [INPUT, *net.order]:  # every population from a fresh core, split evenly
        n = sizes[name]
        k = -(-n // NEURONS_PER_CORE)
        core[name] = start + np.arange(n) * k // n
        start += k
    if start > CORES:
        raise InputError(net.name, "populations", "do not fit one SANA-FE Loihi chip",
                         got=f"{start} cores", expected=f"at most {CORES}")
    arch = _arch(min(net.inputs, NEURONS_PER_CORE))
    cores = arch.cores()
    snn = sanafe.Network()
    groups = {INPUT: snn.create_neuron_group(INPUT, net.inputs, log_spikes=True)}
    for i, n in enumerate(groups[INPUT]):
        n.set_attributes(soma_hw_name=f"loihi_inputs[{i % NEURONS_PER_CORE}]")
        n.map_to_core(cores[int(core[INPUT][i])])
    for p in net.populations:
        g = snn.create_neuron_group(p.name, p.size, model_attributes=attrs[p.name],
                                    log_spikes=True, soma_hw_name="loihi_lif",
                                    default_dendrite_hw_name="loihi_dendrites",
                                    default_synapse_hw_name="loihi_dense_synapse")
        groups[p.name] = g
        for i, n in enumerate(g):
            n.map_to_core(cores[int(core[p.name][i])])
    for j in net.projections:
        w = j.weights * scale[j.post]
        post_i, pre_i = np.nonzero(w)
        order = np.lexsort((post_i, pre_i))  # SANA-FE keeps a neuron's edges together
        pre_i, post_i = pre_i[order], post_i[order]
        if len(pre_i):
            groups[j.pre].connect_neurons_sparse(groups[j.post], {"weight": w[post_i, pre_i].tolist()},
                                                 list(zip(pre_i.tolist(), post_i.tolist())))
    chip = sanafe.SpikingChip(arch)
    chip.load(snn)
    mapped = chip.mapped_neuron_groups[INPUT]
    for i in range(net.inputs):
        mapped[i].set_attributes(model_attributes={"spikes": x[:, i].tolist()})
    trace = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        res = chip.sim(steps, timing_model=timing_model, spike_trace=True, perf_trace=trace)
    sim_s = time.perf_counter() - t0
    spikes = {name: np.zeros((steps, n), np.uint8) for name, n in sizes.items()}
    for t, fired in enumerate(res["spike_trace"]):
        for addr in fired:
            spikes[addr.group_name][t, addr.neuron_offset] = 1
    trace.seek(0)
    head = trace.readline().strip().split(",")
    rows = np.array([r.split(",") for r in trace.read().strip().splitlines()], dtype=np.float64)
    col = {h: rows[:, i] for i, h in enumerate(head)}
    return SanafeRun(
        spikes=spikes, energy_j=float(res["energy"]["total"]), latency_s=float(res["sim_time"]),
        step_energy_j=col["total_energy"], step_latency_s=col["sim_time"],
        counts={"synapse_events": int(res["spikes"]), "messages": int(res["packets_sent"]),
                "neurons_updated": int(res["neurons_updated"]),
                "neurons_fired": int(res["neurons_fired"]), "hops": int(col["hops"].sum())},
        energy_by_unit_j={k: float(v) for k, v in res["energy"].items() if k != "total"},
        sim_s=sim_s)
