"""A :class:`SpikingNetwork` as an :class:`~neurosim.graph.ir.EventGraph`, and its simulated
spikes as the traffic the replay prices: one time step is one "token" of the LLM path.

Every population that receives spikes gets one synapse block (``<population>.syn``, its
targets the population's neurons, fan-out the nonzero weights per source neuron), so its
neurons are placed once. The block's source group is the spiking population itself, or, for
a population fed by several (a recurrent layer: its input and its own previous spikes), a
group ``<population>.in`` that gathers those spikes side by side (``model="bus"``: the same
spikes as their populations', routed to this block). Each group's code at step ``t`` is 1
where its neuron spiked (the input: its value): events are counted in the step that sends
them, whenever they are integrated (a recurrent or delayed projection: the next). Input that
drives neurons directly (no synapses) is no block. A NIR file written by
:func:`neurosim.snn.nir_io.to_nir` names its groups and blocks as the card's graph did
(population hints: block name, layer, site, weight bits, the group's model, steps and code
bits).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.errors import InputError
from neurosim.graph.ir import EventGraph, NeuronGroup, SynapseBlock
from neurosim.snn.network import INPUT, SpikingNetwork
from neurosim.snn.simulate import SimulationRun

MAX_INPUT_CODE = 127
"""The largest input value a code carries (int8 codes)."""


def _model(net: SpikingNetwork, name: str) -> str:
    if name == INPUT:
        return "input"
    kind = net[name].kind
    return "lif" if kind in ("lif", "cubalif") else "if"


def to_graph(net: SpikingNetwork, weight_bits: int, input_bits: int = 1) -> EventGraph:
    """The EventGraph of ``net`` with weights of ``weight_bits`` on chip and input codes of
    ``input_bits`` (1: binary spikes)."""
    groups: dict[str, NeuronGroup] = {}
    blocks, stages, edges = [], [], []
    for layer, post in enumerate(net.order):
        incoming = [j for j in net.incoming(post) if not j.drive]
        if not incoming:
            continue
        hints = net[post].hints
        stage = []
        if len(incoming) == 1:
            src = incoming[0].pre
            gname = INPUT if src == INPUT else src
            if gname not in groups:
                groups[gname] = _group(net, gname, layer, net.size(src), _model(net, src),
                                       input_bits if src == INPUT else 1)
                stage.append(gname)
        else:
            gname = f"{post}.in"
            size = sum(net.size(j.pre) for j in incoming)
            bits = input_bits if any(j.pre == INPUT for j in incoming) else 1
            groups[gname] = _group(net, gname, layer, size, "bus", bits)
            stage.append(gname)
        fan = np.concatenate([j.column_fanout() for j in incoming])
        blk = SynapseBlock(hints.get("block", f"{post}.syn"), hints.get("layer", layer),
                           hints.get("site", post), gname, len(fan), net[post].size,
                           int(hints.get("weight_bits", weight_bits)), fanout=fan,
                           targets=hints.get("targets", "neurons"))
        blocks.append(blk)
        stages.append([*stage, blk.name])
        edges += [(j.pre, blk.name) for j in incoming] + [(blk.name, post)]
    return EventGraph(net.name, "snn", list(groups.values()), blocks, [], stages, edges,
                      weights="nir")


def _group(net: SpikingNetwork, name: str, layer: int, size: int, model: str,
           bits: int) -> NeuronGroup:
    h = net[name].hints if name != INPUT and model != "bus" else {}
    return NeuronGroup(name, int(h.get("layer", layer)), h.get("site", name), h.get("model", model),
                       size, max_steps=int(h.get("max_steps", 1)), salient=int(h.get("salient", 0)),
                       code_bits=int(h.get("code_bits", bits)), signed=bool(h.get("signed", False)))


def input_codes(values: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """Input values as int8 codes and their bits; refuses what a spike code cannot carry."""
    v = np.asarray(values)
    if v.dtype.kind == "f":
        if not np.isfinite(v).all() or not np.array_equal(v, np.round(v)):
            raise InputError(where, "input", "input values must be spike counts (integers)",
                             expected=f"integers from 0 to {MAX_INPUT_CODE}")
    elif v.dtype.kind not in "biu":
        raise InputError(where, "input", "input values must be spike counts", got=str(v.dtype))
    lo, hi = (int(v.min()), int(v.max())) if v.size else (0, 0)
    if lo < 0 or hi > MAX_INPUT_CODE:
        raise InputError(where, "input", "input values out of range", got=f"{lo}..{hi}",
                         expected=f"integers from 0 to {MAX_INPUT_CODE}")
    return v.astype(np.int8), max(1, hi.bit_length())


class SimulatedSpikes:
    """The traffic of a simulation run: :meth:`codes` of step ``t`` is (1, width) int8, the
    graph's groups side by side."""

    kind = "simulated"

    def __init__(self, graph: EventGraph, net: SpikingNetwork, run: SimulationRun,
                 inputs: np.ndarray, provenance: dict[str, Any]) -> None:
        self._provenance = provenance
        spikes = {INPUT: inputs.astype(np.int8),
                  **{k: v.view(np.int8) for k, v in run.spikes.items()}}
        parts = []
        for g in graph.groups:
            if g.model != "bus":
                parts.append(spikes[g.name])
                continue
            post = g.name[: -len(".in")]
            for j in (j for j in net.incoming(post) if not j.drive):
                parts.append(spikes[j.pre])
        self._codes = (np.concatenate(parts, axis=1) if parts
                       else np.zeros((run.steps, 0), np.int8))  # (T, width)
        self.steps = run.steps

    def codes(self, position: int) -> np.ndarray:
        return self._codes[position][None, :]

    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)
