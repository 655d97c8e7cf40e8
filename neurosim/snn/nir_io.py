"""NIR (the Neuromorphic Intermediate Representation, ``nir`` 1.0) into a
:class:`~neurosim.snn.network.SpikingNetwork`.

Neuron nodes (LIF, CubaLIF, IF, LI, CubaLI, I, Threshold) become populations; the weighted
nodes between two of them (Affine, Linear, Scale, Conv1d, Conv2d, SumPool2d, AvgPool2d,
Flatten, Delay, and the Input/Output nodes of nested graphs) are multiplied out into one dense
projection per (source, target) pair, their biases summed into the target's.  A projection
that closes a cycle is recurrent: it delivers the previous step's spikes.  Weights into the
top-level Output node (no neuron between) become a ``readout`` population.  Several
top-level Input nodes are one input, their values side by side in the graph's node order;
an edge from an Input straight into a neuron node drives those neurons with the input
values as current, without synapses (a ``drive`` projection).  A node's
``metadata["neurosim"]`` (written by :func:`to_nir`) is kept as its population's hints.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from neurosim.errors import InputError
from neurosim.snn.network import INPUT, PARAMS, Population, Projection, SpikingNetwork

MAX_BYTES = 1 << 30
"""The largest NIR file read."""
MAX_DENSE = 1 << 26
"""The most entries of one projection's dense (post, pre) matrix (512 MiB of float64)."""

_NEURONS = {"LIF": "lif", "CubaLIF": "cubalif", "IF": "if", "Threshold": "threshold",
            "LI": "li", "CubaLI": "cubali", "I": "i"}
_NIR_PARAMS = {"tau_syn": "tau_syn", "tau_mem": "tau_mem", "tau": "tau", "r": "r",
               "v_leak": "v_leak", "v_threshold": "v_threshold", "v_reset": "v_reset",
               "w_in": "w_in", "threshold": "threshold"}
_LINEAR = ("Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d")
_PASS = ("Flatten", "Delay")
SUPPORTED = ("Input", "Output", *_LINEAR, *_PASS, *_NEURONS, "NIRGraph")


def read_nir(path: str | Path, name: str | None = None) -> SpikingNetwork:
    """The network of a ``.nir`` file; :class:`InputError` (one line) when it cannot be
    read or holds something neurosim cannot simulate."""
    import nir  # noqa: PLC0415 - only NIR files need it

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise InputError(where, None, "no such NIR file" if not path.exists() else
                         "not a regular file", expected="a .nir (HDF5) file")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(where, None, "NIR file too large", got=path.stat().st_size,
                         expected=f"at most {MAX_BYTES} bytes")
    data = path.read_bytes()
    _check_types(path, where)
    try:
        graph = nir.read(path)
    except Exception as exc:  # h5py and nir raise anything from OSError to AssertionError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(where, None, f"not a readable NIR graph: {first[:120]}",
                         expected="a file written by nir.write (nir 1.0)") from None
    return from_nir(graph, name or path.stem,
                    {"file": where, "sha256": hashlib.sha256(data).hexdigest(),
                     "format": "NIR", "nir_version": _version()})


def _check_types(path: Path, where: str) -> None:
    """Refuse, naming it, the first node whose type neurosim does not simulate (before NIR
    itself fails on a type it does not know)."""
    import h5py

    def walk(group, prefix: str) -> None:
        for name, node in group.get("nodes", {}).items():
            kind = node["type"][()] if "type" in node else b""
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind == "NIRGraph":
                walk(node, f"{prefix}{name}.")
            elif kind not in SUPPORTED:
                raise InputError(where, f"{prefix}{name}", f"unsupported NIR node type {kind[:40]!r}",
                                 expected="one of " + ", ".join(SUPPORTED))

    try:
        with h5py.File(path, "r") as f:
            if "node" in f:
                walk(f["node"], "")
    except OSError as exc:
        raise InputError(where, None, f"not a readable NIR graph: {str(exc)[:120]}",
                         expected="a file written by nir.write (nir 1.0)") from None


def _version() -> str:
    from importlib.metadata import version

    return version("nir")


def _flatten(graph, prefix: str, nodes: dict, edges: list, where: str) -> tuple[list[str], str]:
    """Nested graphs inlined: their nodes as ``<graph>.<node>``; returns the names of the
    graph's Input nodes (one in a nested graph) and of its first Output node."""
    ins, outs = [], []
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        kind = type(node).__name__
        if kind == "NIRGraph":
            i, o = _flatten(node, f"{full}.", nodes, edges, where)
            nodes[full] = ("graph", (i[0], o))
        else:
            nodes[full] = (kind, node)
        if kind == "Input":
            ins.append(full)
        if kind == "Output":
            outs.append(full)
    for src, dst in graph.edges:
        edges.append((f"{prefix}{src}", f"{prefix}{dst}"))
    if (len(ins) != 1 if prefix else not ins) or not outs:
        raise InputError(where, prefix.rstrip(".") or "graph",
                         f"needs {'exactly one' if prefix else 'an'} Input node and an Output node",
                         got=f"{len(ins)} Input, {len(outs)} Output")
    return ins, outs[0]


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def from_nir(graph, name: str, source: dict | None = None) -> SpikingNetwork:
    """A :class:`SpikingNetwork` from an in-memory ``nir.NIRGraph``."""
    source = dict(source or {})
    where = source.get("file", name)
    nodes: dict[str, tuple[str, object]] = {}
    edges: list[tuple[str, str]] = []
    top_ins, _ = _flatten(graph, "", nodes, edges, where)
    top_outs = [n for n, node in graph.nodes.items() if type(node).__name__ == "Output"]
    # a nested graph's node resolves to its Input (as a target) and Output (as a source)
    resolve_dst = {n: v[0] for n, (k, v) in nodes.items() if k == "graph"}
    resolve_src = {n: v[1] for n, (k, v) in nodes.items() if k == "graph"}
    edges = [(resolve_src.get(s, s), resolve_dst.get(d, d)) for s, d in edges]
    for n, (kind, _) in nodes.items():
        if kind not in SUPPORTED and kind != "graph":
            raise InputError(where, n, f"unsupported NIR node {kind}",
                             expected="one of " + ", ".join(s for s in SUPPORTED if s != "NIRGraph"))
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        preds[d].append(s)

    shapes: dict[str, tuple[int, ...]] = {}
    pops: dict[str, Population] = {}
    # the network's input: the Input nodes' values side by side, in the graph's node order
    input_shape = {n: tuple(int(x) for x in np.atleast_1d(nodes[n][1].input_type["input"]))
                   for n in top_ins}
    in_size = {n: int(np.prod(sh)) for n, sh in input_shape.items()}
    in_off = dict(zip(top_ins, np.cumsum([0] + [in_size[n] for n in top_ins])))
    n_inputs = sum(in_size.values())

    def selection(n: str) -> np.ndarray:
        """(size of Input node n, all inputs): picks node n's values."""
        return np.eye(n_inputs)[in_off[n]:in_off[n] + in_size[n]]

    def neuron(n: str) -> Population:
        if n in pops:
            return pops[n]
        kind, node = nodes[n]
        raw = {k: _arr(getattr(node, a)) for a, k in _NIR_PARAMS.items()
               if k in PARAMS[_NEURONS[kind]] and getattr(node, a, None) is not None}
        shape = max((v.shape for v in raw.values()), key=lambda s: int(np.prod(s)), default=())
        size = int(np.prod(shape)) if shape else 1
        params = {}
        for k in PARAMS[_NEURONS[kind]]:
            v = raw.get(k, np.zeros(()) if k == "v_reset" else None)
            if v is None:
                raise InputError(where, f"{n}.{k}", "parameter missing")
            if v.size not in (1, size):
                raise InputError(where, f"{n}.{k}", "shape differs from the node's other "
                                 "parameters", got=v.shape, expected=str(shape))
            params[k] = np.broadcast_to(v.reshape(-1), (size,)).copy()
        shapes[n] = tuple(int(x) for x in shape) or (1,)
        hints = dict((getattr(node, "metadata", None) or {}).get("neurosim", {}))
        pops[n] = Population(n, _NEURONS[kind], size, params, hints)
        return pops[n]

    memo: dict[str, tuple[dict[str, np.ndarray], np.ndarray, tuple[int, ...]]] = {}
    visiting: set[str] = set()

    def into(n: str) -> tuple[dict[str, np.ndarray], np.ndarray, tuple[int, ...]]:
        """What node ``n`` emits as a linear function of populations' spikes: per source
        population a matrix (out, source size), a bias (out,), and its output shape."""
        if n in memo:
            return memo[n]
        kind, node = nodes[n]
        if n in in_off:
            return {(INPUT, 0.0): selection(n)}, np.zeros(in_size[n]), input_shape[n]
        if kind in _NEURONS:
            p = neuron(n)
            return {(n, 0.0): np.eye(p.size)}, np.zeros(p.size), shapes[n]
        if n in visiting:
            raise InputError(where, n, "a cycle without a neuron node (an algebraic loop)")
        if not preds[n]:
            raise InputError(where, n, f"{kind} node has no input edge")
        visiting.add(n)
        terms: dict[tuple[str, float], np.ndarray] = {}
        bias, in_shape = None, None
        for p in preds[n]:
            t, b, s = into(p)
            if in_shape is not None and int(np.prod(s)) != int(np.prod(in_shape)):
                raise InputError(where, n, "inputs of different sizes", got=(in_shape, s))
            in_shape = s
            for k, m in t.items():
                terms[k] = terms[k] + m if k in terms else m
            bias = b if bias is None else bias + b
        visiting.discard(n)
        a, c, out_shape = _linear(kind, node, in_shape, where, n)
        if kind == "Delay":  # the same values, later
            d = _arr(node.delay).reshape(-1)
            if d.size == 0 or np.ptp(d) != 0 or not np.isfinite(d[0]) or d[0] < 0:
                raise InputError(where, f"{n}.delay", "needs one delay >= 0 for every element",
                                 got=d[:4].tolist(), expected="equal, finite delays in seconds")
            terms = {(k, lag + float(d[0])): m for (k, lag), m in terms.items()}
        if a is not None:
            terms = {k: _product(a, m, where, n) for k, m in terms.items()}
            bias = a @ bias + c
        memo[n] = (terms, bias, out_shape)
        return memo[n]

    projections: list[tuple] = []  # pre, post, weights, bias, drive, delay (s)
    targets = [n for n, (k, _) in nodes.items() if k in _NEURONS]
    outputs: list[str] = []
    for n in targets:
        p = neuron(n)
        if not preds[n]:
            raise InputError(where, n, f"{nodes[n][0]} node has no input edge")
        terms, bias, drive = {}, np.zeros(p.size), None
        for q in preds[n]:
            if q in in_off:  # an Input straight into neurons: its values are their current
                drive = selection(q) if drive is None else drive + selection(q)
                continue
            t, b, _ = into(q)
            for k, m in t.items():
                terms[k] = terms[k] + m if k in terms else m
            bias = bias + b
        for (k, _), m in [*terms.items(), *([(("input", 0.0), drive)] if drive is not None else [])]:
            if m.shape[0] != p.size:
                raise InputError(where, n, f"{p.size} neurons get {m.shape[0]} inputs from {k}",
                                 expected=f"weights with {p.size} rows")
        first = True
        for (k, delay), m in terms.items():
            projections.append((k, n, m, bias if first else np.zeros(p.size), False, delay))
            first = False
        if drive is not None:
            projections.append((INPUT, n, drive, bias if first else np.zeros(p.size), True, 0.0))
    for o in top_outs:
        for q in preds[o]:
            if nodes[q][0] in _NEURONS:
                outputs.append(q)
                continue
            terms, bias, _ = into(q)
            rname = o if o not in pops else f"{o}.readout"
            size = len(bias)
            pops[rname] = Population(rname, "readout", size, {})
            first = True
            for (k, delay), m in terms.items():
                projections.append((k, rname, m, bias if first else np.zeros(size), False, delay))
                first = False
            outputs.append(rname)
    net = _assemble(name, n_inputs, pops, projections, outputs, source, where)
    net.stored = _stored(nodes)
    return net


def _stored(nodes: dict) -> dict[str, int]:
    """Parameters, bytes and zero weights of the weighted nodes as the file stores them."""
    out = {"parameters": 0, "bytes": 0, "weights": 0, "zero_weights": 0}
    for kind, node in nodes.values():
        if kind not in ("Affine", "Linear", "Conv1d", "Conv2d", "Scale"):
            continue
        w = np.asarray(node.scale if kind == "Scale" else node.weight)
        arrays = [w] + ([np.asarray(node.bias)] if kind not in ("Linear", "Scale") else [])
        out["parameters"] += sum(a.size for a in arrays)
        out["bytes"] += sum(a.nbytes for a in arrays)
        if kind != "Scale":
            out["weights"] += w.size
            out["zero_weights"] += int(w.size - np.count_nonzero(w))
    return out


def _product(a: np.ndarray, m: np.ndarray, where: str, n: str) -> np.ndarray:
    if a.shape[1] != m.shape[0]:
        raise InputError(where, n, "input size does not match the weights", got=m.shape[0],
                         expected=f"{a.shape[1]} values")
    if a.shape[0] * m.shape[1] > MAX_DENSE:
        raise InputError(where, n, "projection too large to simulate densely",
                         got=f"{a.shape[0]} x {m.shape[1]}", expected=f"at most {MAX_DENSE} weights")
    return a @ m


def _pair(x, name: str, where: str, n: str) -> tuple[int, int]:
    v = np.atleast_1d(np.asarray(x)).astype(np.int64)
    if v.size == 1:
        v = np.repeat(v, 2)
    if v.size != 2:
        raise InputError(where, f"{n}.{name}", "needs one or two integers", got=v.tolist())
    return int(v[0]), int(v[1])


def _linear(kind: str, node, in_shape: tuple[int, ...], where: str, n: str):
    """(matrix (out, in) or None for the identity, bias (out,), output shape) of a node."""
    size = int(np.prod(in_shape))
    if kind in ("Output", "Input", "Flatten", "Delay"):
        shape = (size,) if kind == "Flatten" else in_shape
        return None, np.zeros(size), shape
    if kind in ("Affine", "Linear"):
        w = _arr(node.weight)
        if w.ndim != 2:
            raise InputError(where, f"{n}.weight", "must be a matrix", got=w.shape)
        b = _arr(node.bias) if kind == "Affine" else np.zeros(w.shape[0])
        if b.shape != (w.shape[0],):
            raise InputError(where, f"{n}.bias", "wrong shape", got=b.shape,
                             expected=f"({w.shape[0]},)")
        return w, b, (w.shape[0],)
    if kind == "Scale":
        s = np.broadcast_to(_arr(node.scale).reshape(-1), (size,))
        return np.diag(s), np.zeros(size), in_shape
    if kind in ("Conv1d", "Conv2d"):
        return _conv(kind, node, in_shape, where, n)
    return _pool(kind, node, in_shape, where, n)


def _conv(kind: str, node, in_shape, where: str, n: str):
    w = _arr(node.weight)
    two = kind == "Conv2d"
    if w.ndim != (4 if two else 3):
        raise InputError(where, f"{n}.weight", "wrong number of dimensions", got=w.shape)
    if len(in_shape) != (3 if two else 2):
        raise InputError(where, n, f"{kind} needs a (channels, {'height, width' if two else 'length'})"
                         " input", got=in_shape)
    c_out, c_in_g = w.shape[:2]
    groups = int(node.groups)
    c_in, *hw = in_shape
    if c_in != c_in_g * groups:
        raise InputError(where, n, "input channels differ from the weights'", got=c_in,
                         expected=str(c_in_g * groups))
    if not two:
        w = w[:, :, None, :]
        hw = [1, hw[0]]
    stride = (1, int(np.atleast_1d(node.stride)[0])) if not two else _pair(node.stride, "stride", where, n)
    dil = (1, int(np.atleast_1d(node.dilation)[0])) if not two else _pair(node.dilation, "dilation",
                                                                          where, n)
    k = w.shape[2:]
    if isinstance(node.padding, str):
        pad = (0, 0) if node.padding == "valid" else tuple(d * (s - 1) // 2 for d, s in zip(dil, k))
    else:
        pad = (0, int(np.atleast_1d(node.padding)[0])) if not two else _pair(node.padding, "padding",
                                                                            where, n)
    out = [(hw[i] + 2 * pad[i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    if min(out) < 1:
        raise InputError(where, n, "the kernel does not fit the input", got=in_shape)
    n_out, n_in = c_out * out[0] * out[1], c_in * hw[0] * hw[1]
    if n_out * n_in > MAX_DENSE:
        raise InputError(where, n, "convolution too large to simulate densely",
                         got=f"{n_out} x {n_in}", expected=f"at most {MAX_DENSE} weights")
    m = np.zeros((n_out, n_in))
    oy, ox = np.meshgrid(np.arange(out[0]), np.arange(out[1]), indexing="ij")
    per_g = c_out // groups
    for co in range(c_out):
        g = co // per_g
        for ci in range(c_in_g):
            cin = g * c_in_g + ci
            for ky in range(k[0]):
                for kx in range(k[1]):
                    iy = oy * stride[0] - pad[0] + ky * dil[0]
                    ix = ox * stride[1] - pad[1] + kx * dil[1]
                    ok = (iy >= 0) & (iy < hw[0]) & (ix >= 0) & (ix < hw[1])
                    rows = co * out[0] * out[1] + (oy * out[1] + ox)[ok]
                    cols = cin * hw[0] * hw[1] + (iy * hw[1] + ix)[ok]
                    m[rows, cols] += w[co, ci, ky, kx]
    b = np.repeat(np.broadcast_to(_arr(node.bias).reshape(-1), (c_out,)), out[0] * out[1])
    shape = (c_out, out[0], out[1]) if two else (c_out, out[1])
    return m, b, shape


def _pool(kind: str, node, in_shape, where: str, n: str):
    if len(in_shape) != 3:
        raise InputError(where, n, f"{kind} needs a (channels, height, width) input", got=in_shape)
    c, h, w_ = in_shape
    k = _pair(node.kernel_size, "kernel_size", where, n)
    s = _pair(node.stride, "stride", where, n)
    p = _pair(node.padding, "padding", where, n)
    out = [(dim + 2 * p[i] - k[i]) // s[i] + 1 for i, dim in enumerate((h, w_))]
    if min(out) < 1:
        raise InputError(where, n, "the kernel does not fit the input", got=in_shape)
    value = 1.0 if kind == "SumPool2d" else 1.0 / (k[0] * k[1])
    m = np.zeros((c * out[0] * out[1], c * h * w_))
    oy, ox = np.meshgrid(np.arange(out[0]), np.arange(out[1]), indexing="ij")
    for ch in range(c):
        for ky in range(k[0]):
            for kx in range(k[1]):
                iy, ix = oy * s[0] - p[0] + ky, ox * s[1] - p[1] + kx
                ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w_)
                m[ch * out[0] * out[1] + (oy * out[1] + ox)[ok], ch * h * w_ + (iy * w_ + ix)[ok]] += value
    return m, np.zeros(m.shape[0]), (c, out[0], out[1])


def _assemble(name: str, n_in: int, pops: dict[str, Population], projections: list,
              outputs: list[str], source: dict, where: str) -> SpikingNetwork:
    """Mark the projections that close a cycle (depth first from the input) recurrent,
    refuse populations the input cannot reach, and order the rest."""
    succ: dict[str, list[str]] = {INPUT: []}
    for pre, post, *_ in projections:
        succ.setdefault(pre, []).append(post)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    stack = [(INPUT, iter(succ.get(INPUT, [])))]
    state[INPUT] = 1
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            state[node] = 2
            stack.pop()
        elif state.get(nxt) == 1:
            back.add((node, nxt))
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter(succ.get(nxt, []))))
    unreached = [p for p in pops if p not in state]
    if unreached:
        raise InputError(where, unreached[0], "no path from the Input node reaches this node",
                         expected="every neuron node downstream of the Input")
    if not outputs:
        raise InputError(where, "Output", "no neuron or weights feed the Output node")
    # evaluation order: sources before targets over the forward projections, ties in the
    # graph's node order (Kahn's algorithm)
    rank = {p: i for i, p in enumerate(pops)}
    need = {p: 0 for p in pops}
    for pre, post, *_ in projections:
        if pre != INPUT and (pre, post) not in back:
            need[post] += 1
    ready = sorted((p for p in pops if need[p] == 0), key=rank.get)
    order = []
    while ready:
        p = ready.pop(0)
        order.append(p)
        for q in succ.get(p, []):
            if (p, q) not in back:
                need[q] -= 1
                if need[q] == 0:
                    ready.append(q)
                    ready.sort(key=rank.get)
    projs = [Projection(f"{pre}{'=>' if drive else '->'}{post}" + (f"@{delay:g}s" if delay else ""),
                        pre, post, m, b, (pre, post) in back, drive, delay)
             for pre, post, m, b, drive, delay in projections]
    projs.sort(key=lambda j: (order.index(j.post), j.recurrent, j.pre))
    return SpikingNetwork(name, n_in, [pops[p] for p in order], projs, outputs, source)


MAX_EXPORT_WEIGHTS = 1 << 26
"""The most weights an exported NIR file holds (256 MiB of float32)."""


def to_nir(graph, weights=None) -> tuple[object, list[str]]:
    """The spiking part of an :class:`~neurosim.graph.ir.EventGraph` as a ``nir.NIRGraph``,
    and what NIR cannot express.

    Each neuron group that drives weights is an Input node ``<group>.input`` straight into
    an IF node ``<group>`` (NIR has no graded GIF neuron: the group's model, steps and code
    bits are its ``metadata["neurosim"]``); each weight block is a Linear node
    ``<block>.weight`` into an I node ``<block>`` (the block's targets, which integrate its
    sums) and an Output node ``<block>.output``.  ``weights(block)``: the block's (c_out,
    c_in) weights, or None (then its nonzero pattern: ones where it has synapses, dense for a
    graph of shapes).  Attention blocks over the spiking KV cache and the dense-unit ops are
    listed in the graph's metadata and returned, one string per kind.
    """
    import nir  # noqa: PLC0415

    total = sum(b.c_in * b.c_out for b in graph.blocks if b.kind == "weights")
    if total > MAX_EXPORT_WEIGHTS:
        raise InputError(graph.model, "blocks", "too many weights to write as NIR", got=total,
                         expected=f"at most {MAX_EXPORT_WEIGHTS} (a smaller card)")
    blocks = [b for b in graph.blocks if b.kind == "weights"]
    sources = {b.source for b in blocks}
    nodes: dict[str, object] = {}
    edges: list[tuple[str, str]] = []
    for g in graph.groups:
        if g.name not in sources:
            continue
        n = g.size
        nodes[f"{g.name}.input"] = nir.Input(input_type={"input": np.array([n])})
        nodes[g.name] = nir.IF(r=np.ones(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                               metadata={"neurosim": {
                                   "model": g.model, "layer": g.layer, "site": g.site,
                                   "max_steps": g.max_steps, "salient": g.salient,
                                   "code_bits": g.code_bits, "signed": g.signed}})
        edges.append((f"{g.name}.input", g.name))
    for b in blocks:
        w = weights(b) if weights is not None else None
        if w is None:
            w = np.ones((b.c_out, b.c_in), np.float32)
            if b.fanout is not None:  # the nonzero pattern only: the first fanout[c] rows
                w *= np.arange(b.c_out)[:, None] < b.fanout[None, :]
        if b.identity:
            w = np.eye(b.c_in, dtype=np.float32)
        nodes[f"{b.name}.weight"] = nir.Linear(weight=np.asarray(w, np.float32))
        nodes[b.name] = nir.I(r=np.ones(b.c_out), metadata={"neurosim": {
            "block": b.name, "layer": b.layer, "site": b.site, "weight_bits": b.weight_bits,
            "targets": b.targets}})
        nodes[f"{b.name}.output"] = nir.Output(output_type={"output": np.array([b.c_out])})
        edges += [(b.source, f"{b.name}.weight"), (f"{b.name}.weight", b.name),
                  (b.name, f"{b.name}.output")]
    left = []
    kv = [b.name for b in graph.blocks if b.kind == "kv"]
    if kv:
        left.append(f"{len(kv)} attention blocks over the spiking KV cache ({', '.join(kv[:2])}"
                    + (", ..." if len(kv) > 2 else "") + ")")
    kinds: dict[str, int] = {}
    for op in graph.dense_ops:
        kinds[op.kind] = kinds.get(op.kind, 0) + 1
    if kinds:
        left.append(f"{len(graph.dense_ops)} dense-unit ops ("
                    + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")")
    meta = {"neurosim": {"model": graph.model, "family": graph.family,  # strings: HDF5 keeps them
                         "graph_weights": graph.weights, "not_in_nir": "; ".join(left),
                         "kv_blocks": ", ".join(kv), "dense_ops": kinds}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta), left
