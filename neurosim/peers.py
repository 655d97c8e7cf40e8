"""Cross-checks against peer simulators: the same network in neurosim and in SANA-FE."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.snn.crosscheck import DT_S
from neurosim.snn.network import SpikingNetwork


@dataclass
class Comparison:
    """One network on both: spikes (theirs), whether they are equal, energy and latency
    of each (neurosim's energy without static power) and their ratios neurosim / SANA-FE."""

    spikes: int
    spikes_equal: bool
    energy_j: float
    sanafe_energy_j: float
    latency_s: float
    sanafe_latency_s: float
    synops: int
    sanafe_synapse_events: int
    messages: int
    sanafe_messages: int

    @property
    def energy_ratio(self) -> float:
        return self.energy_j / self.sanafe_energy_j

    @property
    def latency_ratio(self) -> float:
        return self.latency_s / self.sanafe_latency_s


def compare_sanafe(net: SpikingNetwork, inputs: np.ndarray) -> Comparison:
    """Run ``net`` on ``inputs`` in neurosim (``loihi-calibrated``) and in SANA-FE."""
    from neurosim.api import run_network
    from neurosim.snn.sanafe import run_sanafe
    from neurosim.snn.simulate import Simulator

    mine = Simulator(net).run(inputs, DT_S, synaptic_delay=True)
    theirs = run_sanafe(net, inputs, DT_S)
    equal = all(np.array_equal(mine.spikes[p], theirs.spikes[p]) for p in net.order)
    res = run_network(net, "loihi-calibrated", inputs=inputs, synaptic_delay=True, baselines=())
    t = res.tokens
    return Comparison(
        spikes=int(sum(theirs.spikes[p].sum() for p in net.order)), spikes_equal=equal,
        energy_j=float(t["energy_j"].sum() - t["energy_j:static"].sum()),
        sanafe_energy_j=theirs.energy_j, latency_s=float(t["latency_s"].sum()),
        sanafe_latency_s=theirs.latency_s, synops=int(t["synops"].sum()),
        sanafe_synapse_events=theirs.counts["synapse_events"], messages=int(t["messages"].sum()),
        sanafe_messages=theirs.counts["messages"])
