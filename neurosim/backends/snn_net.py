"""An imported network (:class:`~neurosim.snn.network.SpikingNetwork`) in Loihi's fixed point:
a :class:`~neurosim.backends.net.Net` every backend (numba, Lava) runs bit for bit.

IF and LIF populations with ``v_leak = 0``, ``v_reset = 0`` and no biases.  A weight ``w``
into a population becomes the integer ``round(w · g · scale)``, with ``g = dt·r`` (IF) or
``dt·r/tau`` (LIF) the gain of one step's current, and the threshold ``round(v_threshold ·
scale)``; ``dv = round(4096 · dt/tau)`` (IF: 0), ``du = 4095`` (no current carried over).
The Net delivers every connection one step late, neurosim's ``synaptic_delay``.  Where the
weights times ``g · scale`` are integers and there is no leak, the Net's spikes are the
float simulation's exactly; otherwise they are Loihi's rounding of it.
"""

from __future__ import annotations

import numpy as np

from neurosim.backends.net import Connection, Net, Population
from neurosim.errors import InputError
from neurosim.snn.network import INPUT, SpikingNetwork

WEIGHT_LIMIT = 255
"""The largest integer weight magnitude (Loihi's 8-bit synapses with a sign)."""


def loihi_net(net: SpikingNetwork, inputs: np.ndarray, dt_s: float, scale: float = 64.0,
              label: str | None = None) -> Net:
    """``net`` on ``inputs`` (T, net.inputs) spikes as a fixed-point :class:`Net`."""
    where = net.source.get("file", net.name)
    x = np.asarray(inputs)
    if x.ndim != 2 or x.shape[1] != net.inputs:
        raise InputError(where, "input", "input spikes of the wrong shape", got=x.shape,
                         expected=f"(steps, {net.inputs})")
    gain, pops = {}, [Population(INPUT, "source", net.inputs)]
    for p in net.populations:
        q = p.params
        if p.kind not in ("if", "lif"):
            raise InputError(where, p.name, f"Loihi's fixed point runs IF and LIF here, not {p.kind}")
        for k in ("v_reset", "v_leak"):
            if k in q and np.any(q[k] != 0):
                raise InputError(where, f"{p.name}.{k}", "must be 0 in Loihi's fixed point")
        uniform = {k: float(v[0]) for k, v in q.items() if np.ptp(v) == 0}
        if len(uniform) != len(q):
            raise InputError(where, p.name, "parameters differ between neurons; one value per "
                             "population")
        a = dt_s / uniform["tau"] if p.kind == "lif" else 0.0
        gain[p.name] = (a if p.kind == "lif" else dt_s) * uniform["r"]
        pops.append(Population(p.name, "lif", p.size, {
            "du": 4095, "dv": int(round(4096 * a)), "vth": int(round(uniform["v_threshold"] * scale)),
            "bias": 0}))
    conns = []
    for j in net.projections:
        if j.drive or np.any(j.bias != 0):
            raise InputError(where, j.name, "Loihi's fixed point here has no biases or driven "
                             "inputs")
        w = np.round(j.weights * gain[j.post] * scale)
        if np.abs(w).max(initial=0) > WEIGHT_LIMIT:
            raise InputError(where, f"{j.name}.weight", "too large for 8-bit synapses at this "
                             "scale", got=float(np.abs(w).max()), expected=f"at most {WEIGHT_LIMIT}")
        conns.append(Connection(j.name, j.pre, j.post, w.astype(np.int32)))
    return Net(pops, conns, {INPUT: (x != 0).astype(np.int32)}, x.shape[0],
               label or f"{net.name}-loihi")
