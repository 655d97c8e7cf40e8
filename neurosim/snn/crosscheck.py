"""The networks neurosim is cross-checked on against SANA-FE (:mod:`neurosim.peers` compares;
``tests/test_snn_peers.py`` and ``benchmarks/snn.py`` run them).

Every network is IF neurons (threshold 1, reset 0; SANA-FE's LIF with no leak) with weights
on the 1/64 grid in [-0.25, 0.75), so SANA-FE's float32 numbers and its 1/64 truncation
change nothing and the spikes must agree exactly.  Both run with a one-step synaptic delay
(SANA-FE's timing) on ``loihi-calibrated``, whose per-event costs are SANA-FE's Loihi
numbers.  SANA-FE has no static power, so its energy is set beside neurosim's without the
``static`` component.
"""

from __future__ import annotations

import numpy as np

from neurosim.snn.network import Population, Projection, SpikingNetwork

DT_S = 1e-4
R = 1.0 / DT_S  # dt · r = 1: an IF neuron adds its input current each step
CASES = {
    "ff-64-128-10": ([64, 128, 10], False, False),
    "ff-128-512-64": ([128, 512, 64], False, False),
    "ff-192-600-100": ([192, 600, 100], False, False),
    "recurrent-64-128r-10": ([64, 128, 10], True, False),
    "ff-64-1500-10": ([64, 1500, 10], False, False),
}
"""name: (layer sizes, the first hidden layer recurrent with 20 % of its weights, leaky).
Every layer's synapses fit one core's 128 KiB (8-bit weights) in neurosim's mapping, as
they do in SANA-FE, which has no synapse memory limit; the last one has more neurons than
a core holds."""
BEYOND = {
    "ff-512-1024-128 (weights beyond a core's memory)": ([512, 1024, 128], False, False),
    "lif-64-128-10 (leak 0.75 a step)": ([64, 128, 10], False, True),
}
"""Cases whose differences are explained, not removed: a layer whose synapses need several
cores in neurosim (each with its own compartments, their partial sums merged), and leaky
neurons (SANA-FE truncates the decayed potential to 1/64)."""
LEAK = 0.25
"""dt / tau of the leaky case: v = 0.75 v + I."""


def _neurons(name: str, n: int, leaky: bool) -> Population:
    if leaky:  # dt r / tau = 1: the current adds as it is
        return Population(name, "lif", n, {"tau": np.full(n, DT_S / LEAK),
                                           "r": np.full(n, 1 / LEAK), "v_leak": np.zeros(n),
                                           "v_threshold": np.ones(n), "v_reset": np.zeros(n)})
    return Population(name, "if", n, {"r": np.full(n, R), "v_threshold": np.ones(n),
                                      "v_reset": np.zeros(n)})


def network(sizes: list[int], recurrent: bool, leaky: bool = False,
            seed: int = 0) -> SpikingNetwork:
    """IF (or LIF) layers of ``sizes[1:]`` fed by ``sizes[0]`` inputs, weights on the 1/64
    grid."""
    rng = np.random.default_rng(seed)
    pops = [_neurons(f"l{i}", n, leaky) for i, n in enumerate(sizes[1:], 1)]
    projs = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        pre = "input" if i == 1 else f"l{i - 1}"
        a = max(1, round(192 / n_in))  # mean weight a/64: 10 % of the inputs add ~0.3 a step
        w = rng.integers(-a, 3 * a, (n_out, n_in)) / 64.0
        projs.append(Projection(f"{pre}->l{i}", pre, f"l{i}", w, np.zeros(n_out)))
        if recurrent and i == 1:
            r = rng.integers(-8, 8, (n_out, n_out)) * (rng.random((n_out, n_out)) < 0.2) / 64.0
            projs.append(Projection("l1->l1", "l1", "l1", r, np.zeros(n_out), recurrent=True))
    return SpikingNetwork("crosscheck", sizes[0], pops, projs, [pops[-1].name])
