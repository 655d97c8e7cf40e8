"""The numba backend: a :class:`~neurosim.backends.net.Net` stepped with numba kernels."""

from __future__ import annotations

import time

import numpy as np

from neurosim.backends.net import Net, NetResult
from neurosim.kernels.net import _bispike_step, _deliver, _gif_step, _lif_step


def _csc(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, rows, vals) of ``w`` by columns, zeros left out; int64."""
    cols, rows = np.nonzero(w.T)
    vals = w[rows, cols].astype(np.int64)
    indptr = np.zeros(w.shape[1] + 1, np.int64)
    np.add.at(indptr, cols + 1, 1)
    return np.cumsum(indptr), rows.astype(np.int64), vals


def simulate(net: Net) -> NetResult:
    """Run ``net`` for ``net.steps`` steps (semantics: :mod:`neurosim.backends.net`)."""
    t0 = time.perf_counter()
    pops = net.populations
    conns = [(c, _csc(c.weights)) for c in net.connections]
    synops = {c.name: 0 for c in net.connections}
    state = {p.name: (np.zeros(p.size, np.int64), np.zeros(p.size, np.int64)) for p in pops}
    spikes = {p.name: np.zeros((net.steps, p.size), np.int32) for p in pops if p.spiking}
    inputs = {k: v.astype(np.int64) for k, v in net.inputs.items()}
    syn_in = {p.name: np.zeros(p.size, np.int64) for p in pops}  # delivered next step
    for t in range(net.steps):
        out = {}
        for p in pops:
            x = syn_in[p.name]
            if p.drive:
                x += inputs[p.drive][t]
            o = np.zeros(p.size, np.int64)
            a, b = state[p.name]
            prm = p.params
            if p.model == "source":
                o[:] = inputs[p.name][t]
            elif p.model == "gif":
                _gif_step(a, x, t % prm["period"] == 0, prm["level"], o)
            elif p.model == "lif":
                _lif_step(a, b, x, prm["du"], prm["dv"], prm["vth"], prm["bias"], o)
            elif p.model == "bispike":
                _bispike_step(a, b, x, t % prm["period"] == 0, prm["alpha"], o)
            else:  # accumulator
                a += x
            if p.spiking:
                spikes[p.name][t] = o
            out[p.name] = o
        syn_in = {p.name: np.zeros(p.size, np.int64) for p in pops}
        for c, (indptr, rows, vals) in conns:  # the synapses take this step's spikes
            synops[c.name] += _deliver(indptr, rows, vals, out[c.pre], syn_in[c.post])
    acc = {p.name: state[p.name][0].copy() for p in pops if p.model == "accumulator"}
    return NetResult("numba", spikes, {k: int(v) for k, v in synops.items()}, acc,
                     time.perf_counter() - t0)
