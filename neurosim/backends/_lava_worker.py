"""Run one Net on Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) in this process.

``python -m neurosim.backends._lava_worker NET.npz RESULT.npz`` -- started by
:mod:`neurosim.backends.lava_net` in its own process group, under a timeout.  Counters are
derived from what Lava produced: the spikes its sinks recorded, the accumulators' values and
the synapse weights as Lava holds them after its own clipping and truncation.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from neurosim.backends.net import Connection, Net, NetResult


def lava_weights(w: np.ndarray) -> tuple[np.ndarray, int]:
    """Weights Loihi represents exactly, and their exponent.

    One sign: 8-bit magnitudes as they are.  Mixed signs lose the least significant bit on
    Loihi (8 bits with a sign), so they are stored doubled with ``weight_exp = -1``: the
    accumulated sum of even products is halved exactly.  Raises ValueError outside -128..127.
    """
    lo, hi = int(w.min(initial=0)), int(w.max(initial=0))
    if lo >= 0 and hi <= 255 or hi <= 0 and lo >= -255:
        return w.astype(np.int32), 0
    if lo >= -128 and hi <= 127:
        return (2 * w).astype(np.int32), -1
    raise ValueError(f"weights {lo}..{hi} do not fit Loihi's 8-bit synapses")


def _synapse(net: Net, c: Connection):
    import scipy.sparse as sp
    from lava.proc.dense.process import Dense
    from lava.proc.sparse.process import Sparse

    w, exp = lava_weights(c.weights)
    bits = net.payload_bits(c.pre)
    if np.count_nonzero(w) < 0.5 * w.size:
        return Sparse(weights=sp.csr_matrix(w), weight_exp=exp, num_message_bits=bits)
    return Dense(weights=w, weight_exp=exp, num_message_bits=bits)


def run(net: Net) -> NetResult:
    """Build the Lava processes of ``net``, run ``net.steps`` steps, read the counters back."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from neurosim.backends._lava_procs import GIF, Accumulator, BiSpike

    t0 = time.perf_counter()
    if net.components() != 1:
        raise ValueError(f"Lava runs one connected network; this net has {net.components()}")
    procs = {}
    for p in net.populations:
        shape, prm = (p.size,), p.params
        if p.model == "source":
            procs[p.name] = Source(data=net.inputs[p.name].T.astype(np.int32))
        elif p.model == "gif":
            procs[p.name] = GIF(shape=shape, level=prm["level"], period=prm["period"])
        elif p.model == "lif":
            procs[p.name] = LIF(shape=shape, du=prm["du"], dv=prm["dv"], vth=prm["vth"],
                                bias_mant=prm["bias"], bias_exp=0)
        elif p.model == "bispike":
            procs[p.name] = BiSpike(shape=shape, alpha=prm["alpha"], period=prm["period"])
        else:
            procs[p.name] = Accumulator(shape=shape)
    for p in net.populations:
        if p.drive:
            procs[p.drive].s_out.connect(procs[p.name].a_in)
    synapses = {}
    for c in net.connections:
        syn = synapses[c.name] = _synapse(net, c)
        procs[c.pre].s_out.connect(syn.s_in)
        syn.a_out.connect(procs[c.post].a_in)
    sinks = {}
    for p in net.populations:
        if p.spiking:
            sinks[p.name] = Sink(shape=(p.size,), buffer=net.steps)
            procs[p.name].s_out.connect(sinks[p.name].a_in)
    anchor = procs[net.populations[0].name]
    anchor.run(condition=RunSteps(num_steps=net.steps),
               run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        spikes = {k: np.rint(s.data.get()).astype(np.int32).T for k, s in sinks.items()}
        state = {p.name: np.rint(procs[p.name].v.get()).astype(np.int64)
                 for p in net.populations if p.model == "accumulator"}
        held = {k: s.weights.get() for k, s in synapses.items()}
    finally:
        anchor.stop()
    out = {**spikes, **{k: v for k, v in net.inputs.items()}}
    synops = {}
    for c in net.connections:
        w = held[c.name]
        nnz = np.asarray((w != 0).sum(axis=0)).ravel().astype(np.int64)
        synops[c.name] = int(((out[c.pre] != 0) * nnz[None, :]).sum())
    return NetResult("lava", spikes, synops, state, time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    net_path, out_path = argv
    try:
        result = run(Net.load(net_path))
    except Exception as exc:  # reported to the parent as one line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    result.save(out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
