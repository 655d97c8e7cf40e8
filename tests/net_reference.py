"""A slow, obviously correct simulator of a Net: Python ints, one neuron at a time.

Written from the semantics in :mod:`neurosim.backends.net`, not from the kernels.
"""

from __future__ import annotations

import numpy as np

from neurosim.backends.net import Net, NetResult


def _sm(a: int, keep: int) -> int:
    p = a * keep
    return (abs(p) >> 12) * (1 if p >= 0 else -1)


def simulate(net: Net) -> NetResult:
    pops = {p.name: p for p in net.populations}
    state = {p.name: {"a": [0] * p.size, "b": [0] * p.size} for p in net.populations}
    out_prev = {p.name: [0] * p.size for p in net.populations}
    spikes = {p.name: np.zeros((net.steps, p.size), np.int32)
              for p in net.populations if p.spiking}
    synops = {c.name: 0 for c in net.connections}
    w = {c.name: c.weights.tolist() for c in net.connections}
    for t in range(net.steps):
        x = {name: [0] * p.size for name, p in pops.items()}
        for name, p in pops.items():
            if p.drive:
                x[name] = [int(v) for v in net.inputs[p.drive][t]]
        for c in net.connections:  # last step's outputs arrive now
            for i, s in enumerate(out_prev[c.pre]):
                if s:
                    for j in range(pops[c.post].size):
                        x[c.post][j] += w[c.name][j][i] * s
        out = {}
        for name, p in pops.items():
            st, prm, o = state[name], p.params, [0] * p.size
            for i in range(p.size):
                xi = x[name][i]
                if p.model == "source":
                    o[i] = int(net.inputs[name][t][i])
                elif p.model == "gif":
                    v = xi if t % prm["period"] == 0 else st["a"][i] + xi
                    o[i] = min(v, prm["level"]) if v > 0 else 0
                    st["a"][i] = v - o[i]
                elif p.model == "lif":
                    u = _sm(st["a"][i], 4096 - prm["du"] - 1) + xi * 64
                    if u > 2**23:
                        u -= 2**24
                    elif u <= -(2**23):
                        u += 2**24
                    v = _sm(st["b"][i], 4096 - prm["dv"]) + u + prm["bias"]
                    v = max(-(2**23) + 1, min(2**23 - 1, v))
                    o[i] = 1 if v > prm["vth"] * 64 else 0
                    st["a"][i], st["b"][i] = u, (0 if o[i] else v)
                elif p.model == "bispike":
                    a = prm["alpha"]
                    if t % prm["period"] == 0:
                        m = xi
                    else:
                        m = (st["a"][i] * (a - a * st["b"][i])) // 4 + xi
                    s = 1 if 2 * m > a else (-1 if 2 * m < -a else 0)
                    st["a"][i], st["b"][i], o[i] = m, s, s
                else:
                    st["a"][i] += xi
            out[name] = o
            if p.spiking:
                spikes[name][t] = o
        for c in net.connections:  # every step's spikes reach the synapses
            for i, s in enumerate(out[c.pre]):
                if s:
                    synops[c.name] += sum(1 for j in range(pops[c.post].size) if w[c.name][j][i])
        out_prev = out
    state_out = {n: np.array(state[n]["a"], np.int64) for n, p in pops.items()
                 if p.model == "accumulator"}
    return NetResult("reference", spikes, synops, state_out)
