"""A whole EventGraph's spiking part as one Net, so a backend produces the spikes a run replays.

Every neuron group becomes a slice of one GIF population (driven by the traffic's integer
codes at each token's first step, ``period`` = the graph's most steps per token); every
weight block a connection into an accumulator, with one unit weight per nonzero synapse of
its fan-out (values do not change counts).  Attention (``kv``) blocks are not static
synapses: neurosim counts them from the K/V spikes the backend produced, as it does for
numba.  Two cross-checks run on every simulated run: the backend's GIF spikes must equal the
traffic's codes, and its synops per block must equal ``Σ spikes x fan-out``.
"""

from __future__ import annotations

import numpy as np

from neurosim.backends import Backend
from neurosim.backends.net import Connection, Net, Population
from neurosim.errors import BackendError
from neurosim.graph.ir import EventGraph


def graph_refusal(graph: EventGraph, backend: Backend) -> str | None:
    """Why ``backend`` cannot simulate ``graph`` whole, or None (checked before building)."""
    caps = backend.capabilities
    if not graph.groups:
        return f"{graph.model} has no spiking neuron groups"
    models = {g.model for g in graph.groups}
    if models != {"gif"}:
        return f"whole-graph runs simulate GIF groups; {graph.model} has {sorted(models)}"
    if len({g.code_bits for g in graph.groups}) != 1:
        return "neuron groups of different code widths"
    n = sum(g.size for g in graph.groups)
    weights = [b for b in graph.blocks if b.kind == "weights"]
    neurons = n + sum(b.c_out for b in weights)
    synapses = sum(b.nonzero_weights for b in weights)
    if caps.max_neurons is not None and neurons > caps.max_neurons:
        return (f"{graph.model} has {neurons:,} neurons (groups and block targets); backend "
                f"'{backend.name}' accepts at most {caps.max_neurons:,}")
    if caps.max_synapses is not None and synapses > caps.max_synapses:
        return (f"{graph.model} has {synapses:,} synapses; backend '{backend.name}' accepts at "
                f"most {caps.max_synapses:,}")
    return None


def _layout(graph: EventGraph) -> dict[str, int]:
    offsets = np.concatenate([[0], np.cumsum([g.size for g in graph.groups])])
    return {g.name: int(o) for g, o in zip(graph.groups, offsets)}


def graph_net(graph: EventGraph, codes: list[np.ndarray]) -> Net:
    """The Net replaying ``codes`` (per token, (steps, N) int8 as a traffic source emits)."""
    n = sum(g.size for g in graph.groups)
    period = max(g.max_steps for g in graph.groups)
    level = 2 ** graph.groups[0].code_bits - 1
    q = np.stack([c.astype(np.int32).sum(axis=0) for c in codes])  # the integer code per channel
    inputs = np.zeros((len(codes) * period + 1, n), np.int32)
    inputs[: len(codes) * period: period] = q
    pops = [Population("codes", "source", n),
            Population("gif", "gif", n, {"level": level, "period": period}, drive="codes")]
    conns = []
    offset = _layout(graph)
    for b in graph.blocks:
        if b.kind != "weights":
            continue
        w = np.zeros((b.c_out, n), np.int32)
        lo = offset[b.source]
        fan = b.column_fanout()
        w[:, lo:lo + b.c_in] = np.arange(b.c_out)[:, None] < fan[None, :]
        pops.append(Population(f"acc:{b.name}", "accumulator", b.c_out))
        conns.append(Connection(b.name, "gif", f"acc:{b.name}", w))
    return Net(pops, conns, {"codes": inputs}, inputs.shape[0], f"{graph.model}-{len(codes)}tokens")


def simulate_graph(graph: EventGraph, given: list[np.ndarray], backend: Backend,
                   timeout_s: float | None = None) -> tuple[list[np.ndarray], dict[str, int], float]:
    """Run the graph's neurons on ``backend`` with ``given`` codes per position as input.

    Returns the codes its GIF neurons emitted per position ((steps, N) int8 each), the
    synops it counted per block, and its wall time in seconds.  A graph outside the
    backend's capabilities is refused with the reason.
    """
    why = graph_refusal(graph, backend)
    if why:
        raise BackendError(f"backend '{backend.name}' cannot run {graph.model}: {why}; "
                           "use --backend numba")
    net = graph_net(graph, given)
    res = backend.run_net(net, timeout_s=timeout_s)
    period = net["gif"].params["period"]
    spikes = res.spikes["gif"]
    codes = [spikes[k * period:(k + 1) * period].astype(np.int8) for k in range(len(given))]
    return codes, dict(res.synops), res.wall_s
