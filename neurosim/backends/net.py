"""Net: a small spiking network in integer arithmetic, the unit every backend simulates.

A :class:`Net` is populations of one neuron model each, weighted connections between them,
and the values its source populations emit at every step.  Every backend runs the same
integer semantics, so their outputs can be compared bit for bit (the conformance suite).

Step ``t`` (0-based) of a run:

1. the input of each population is ``x_t = drive_t + Σ_c W_c · out_pre(c)[t-1]``:
   ``drive`` is a source population wired straight to its input (same step), and a
   connection delivers the previous step's outputs (one step of synaptic delay, as on Loihi);
2. every population updates and emits ``out[t]`` (0: no spike).

Neuron models (all state integer; ``phase = t mod period``):

``source``
    ``out[t] = inputs[t]``.
``gif`` (SpikeLLM, params ``level`` M, ``period``)
    the membrane is cleared when a token starts: ``v = (0 if phase == 0 else v) + x_t``;
    ``out = min(v, M)`` if ``v > 0`` else 0; reset by subtraction ``v -= out``.  Fed a code
    ``q`` at a token's first step it emits ``clip(q - kM, 0, M)`` at step ``k``.
``lif`` (params ``du``, ``dv`` in 0..4095, ``vth`` >= 0, ``bias``)
    Loihi's fixed-point LIF: ``u = sm(u·(4096 - du - 1)) + (x << 6)`` wrapped to 24 bits,
    ``v = clip(sm(v·(4096 - dv)) + u + bias, ±(2^23 - 1))`` with ``sm(a) = sign(a)·(|a| >> 12)``;
    spike (1) when ``v > vth << 6``, then hard reset ``v = 0``.  SpikeGPT's neuron
    (tau 2, threshold 1) is ``du = 4095, dv = 2048``.
``bispike`` (SpikeLM elastic bi-spiking, params ``alpha`` >= 1, ``period``)
    ``m = x_t`` when a token starts, else ``m = ((m·(alpha - alpha·s)) >> 2) + x_t``
    (the literal ``0.25·m·(alpha - o)`` carry with ``o = alpha·s``);
    ``s = +1 if 2m > alpha, -1 if 2m < -alpha, else 0`` (``clamp(round(m/alpha), -1, 1)``
    with round half to even).
``accumulator``
    ``v += x_t``; never spikes.  Its final ``v`` is the exact integer sum of its input.

Counters: ``spikes[pop]`` (steps, size) the outputs, ``synops[conn]`` = Σ over steps and
presynaptic neurons with a nonzero output of the nonzero weights in that neuron's column
(every step's spikes reach the synapses; those of the last step arrive after the run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim.errors import InputError

NEURON_MODELS = ("source", "gif", "lif", "bispike", "accumulator")

_PARAMS = {
    "source": {},
    "gif": {"level": (1, None), "period": (1, None)},
    "lif": {"du": (0, 4095), "dv": (0, 4095), "vth": (0, 2**17 - 1), "bias": (-4096, 4095)},
    "bispike": {"alpha": (1, None), "period": (1, None)},
    "accumulator": {},
}


@dataclass(frozen=True)
class Population:
    """``size`` neurons of one ``model`` with integer ``params`` (see module docstring)."""

    name: str
    model: str
    size: int
    params: dict[str, int] = field(default_factory=dict)
    drive: str | None = None

    @property
    def spiking(self) -> bool:
        return self.model not in ("source", "accumulator")


@dataclass(frozen=True, eq=False)
class Connection:
    """Weights ``(post.size, pre.size)`` int32 from population ``pre`` to ``post``."""

    name: str
    pre: str
    post: str
    weights: np.ndarray = field(repr=False)

    def column_nonzeros(self) -> np.ndarray:
        """Nonzero weights per presynaptic neuron, (pre.size,) int64."""
        return np.count_nonzero(self.weights, axis=0).astype(np.int64)


@dataclass(eq=False)
class Net:
    """Populations, connections and the (steps, size) int32 values of each source."""

    populations: list[Population]
    connections: list[Connection]
    inputs: dict[str, np.ndarray]
    steps: int
    label: str = "net"

    def __post_init__(self) -> None:
        self.validate()

    def __getitem__(self, name: str) -> Population:
        return self._pops[name]

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first inconsistent part."""
        where = f"net {self.label}"
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(where, "steps", "must be an integer >= 1", got=self.steps)
        self._pops: dict[str, Population] = {}
        for p in self.populations:
            key = f"populations.{p.name}"
            if p.name in self._pops:
                raise InputError(where, key, "population name repeats")
            if p.model not in NEURON_MODELS:
                raise InputError(where, f"{key}.model", "unknown neuron model", got=p.model,
                                 expected=f"one of {', '.join(NEURON_MODELS)}")
            if p.size < 1:
                raise InputError(where, f"{key}.size", "must be >= 1", got=p.size)
            want = _PARAMS[p.model]
            if set(p.params) != set(want):
                raise InputError(where, f"{key}.params", f"wrong parameters for {p.model}",
                                 got=sorted(p.params), expected=str(sorted(want)))
            for k, (lo, hi) in want.items():
                v = p.params[k]
                if not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
                    raise InputError(where, f"{key}.params.{k}", "out of range", got=v,
                                     expected=f"an integer in {lo}..{'' if hi is None else hi}")
            self._pops[p.name] = p
        for p in self.populations:
            if p.model == "source":
                x = self.inputs.get(p.name)
                if x is None or x.shape != (self.steps, p.size):
                    raise InputError(where, f"inputs.{p.name}", "source values missing or misshaped",
                                     got=None if x is None else x.shape,
                                     expected=f"shape ({self.steps}, {p.size})")
            if p.drive is not None:
                d = self._pops.get(p.drive)
                if d is None or d.model != "source" or d.size != p.size:
                    raise InputError(where, f"populations.{p.name}.drive",
                                     "must name a source population of the same size", got=p.drive)
        extra = set(self.inputs) - {p.name for p in self.populations if p.model == "source"}
        if extra:
            raise InputError(where, "inputs", "values for populations that are not sources",
                             got=sorted(extra))
        seen = set()
        for c in self.connections:
            key = f"connections.{c.name}"
            if c.name in seen:
                raise InputError(where, key, "connection name repeats")
            seen.add(c.name)
            pre, post = self._pops.get(c.pre), self._pops.get(c.post)
            if pre is None or post is None:
                raise InputError(where, key, "unknown population", got=(c.pre, c.post))
            if post.model == "source":
                raise InputError(where, key, "a source population takes no input", got=c.post)
            if pre.model == "accumulator":
                raise InputError(where, key, "an accumulator emits nothing", got=c.pre)
            if c.weights.shape != (post.size, pre.size):
                raise InputError(where, f"{key}.weights", "wrong shape", got=c.weights.shape,
                                 expected=f"({post.size}, {pre.size})")

    @property
    def neurons(self) -> int:
        return sum(p.size for p in self.populations if p.model != "source")

    @property
    def synapses(self) -> int:
        return sum(int(np.count_nonzero(c.weights)) for c in self.connections)

    def payload_bits(self, pop: str) -> int:
        """Bits of a population's spike payload (0: binary spikes)."""
        p = self[pop]
        if p.model == "lif":
            return 0
        if p.model == "bispike":
            return 2
        x = self.inputs.get(pop)
        peak = p.params["level"] if p.model == "gif" else int(np.abs(x).max(initial=0))
        signed = p.model == "source" and int(x.min(initial=0)) < 0
        return max(1, int(peak).bit_length() + signed)

    def components(self) -> int:
        """Connected parts of the net (drives and connections as edges)."""
        parent = {p.name: p.name for p in self.populations}

        def find(a: str) -> str:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        edges = [(p.drive, p.name) for p in self.populations if p.drive]
        edges += [(c.pre, c.post) for c in self.connections]
        for a, b in edges:
            parent[find(a)] = find(b)
        return len({find(p) for p in parent})

    # --- files (npz, no pickle) ------------------------------------------------------

    def save(self, path: str | Path) -> None:
        header = {
            "format": "neurosim.Net", "version": 1, "label": self.label, "steps": self.steps,
            "populations": [{"name": p.name, "model": p.model, "size": p.size,
                             "params": {k: int(v) for k, v in p.params.items()},
                             "drive": p.drive} for p in self.populations],
            "connections": [{"name": c.name, "pre": c.pre, "post": c.post}
                            for c in self.connections],
        }
        arrays = {f"w{i}": c.weights for i, c in enumerate(self.connections)}
        arrays.update({f"in:{k}": v for k, v in self.inputs.items()})
        np.savez(path, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Net:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if header.get("format") != "neurosim.Net" or header.get("version") != 1:
                raise InputError(str(path), "format", "not a neurosim Net version 1",
                                 got=header.get("format"))
            conns = [Connection(c["name"], c["pre"], c["post"], z[f"w{i}"])
                     for i, c in enumerate(header["connections"])]
            inputs = {k[3:]: z[k] for k in z.files if k.startswith("in:")}
        pops = [Population(p["name"], p["model"], p["size"], p["params"], p["drive"])
                for p in header["populations"]]
        return cls(pops, conns, inputs, header["steps"], header["label"])


@dataclass(eq=False)
class NetResult:
    """What one backend produced for a :class:`Net`.

    ``spikes[pop]`` (steps, size) int32 outputs of every spiking population; ``synops[conn]``
    int; ``state[pop]`` (size,) int64 final sums of the accumulators; ``wall_s`` the backend's
    own wall time (build, run, read back).
    """

    backend: str
    spikes: dict[str, np.ndarray]
    synops: dict[str, int]
    state: dict[str, np.ndarray]
    wall_s: float = 0.0

    def spike_counts(self, pop: str) -> np.ndarray:
        """Steps with a nonzero output, per neuron, (size,) int64."""
        return np.count_nonzero(self.spikes[pop], axis=0).astype(np.int64)

    def save(self, path: str | Path) -> None:
        arrays = {f"s:{k}": v for k, v in self.spikes.items()}
        arrays.update({f"v:{k}": v for k, v in self.state.items()})
        meta = {"backend": self.backend, "synops": self.synops, "wall_s": self.wall_s}
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NetResult:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            spikes = {k[2:]: z[k] for k in z.files if k.startswith("s:")}
            state = {k[2:]: z[k] for k in z.files if k.startswith("v:")}
        return cls(meta["backend"], spikes, {k: int(v) for k, v in meta["synops"].items()},
                   state, float(meta["wall_s"]))


def differences(a: NetResult, b: NetResult) -> list[str]:
    """Every way two results of the same net differ, as readable lines (empty: identical)."""
    out = []
    for pop in sorted(set(a.spikes) | set(b.spikes)):
        if pop not in a.spikes or pop not in b.spikes:
            out.append(f"{pop}: spikes only from {a.backend if pop in a.spikes else b.backend}")
            continue
        ca, cb = a.spike_counts(pop), b.spike_counts(pop)
        if not np.array_equal(ca, cb):
            i = int(np.flatnonzero(ca != cb)[0])
            out.append(f"{pop}: spike counts differ at neuron {i} ({a.backend} {ca[i]}, "
                       f"{b.backend} {cb[i]}; {int((ca != cb).sum())} neurons differ)")
        elif not np.array_equal(a.spikes[pop], b.spikes[pop]):
            t, i = (int(x[0]) for x in np.nonzero(a.spikes[pop] != b.spikes[pop]))
            out.append(f"{pop}: spike values differ at step {t}, neuron {i}")
    for conn in sorted(set(a.synops) | set(b.synops)):
        if a.synops.get(conn) != b.synops.get(conn):
            out.append(f"{conn}: synops {a.backend} {a.synops.get(conn)}, "
                       f"{b.backend} {b.synops.get(conn)}")
    for pop in sorted(set(a.state) | set(b.state)):
        if pop not in a.state or pop not in b.state or not np.array_equal(a.state[pop], b.state[pop]):
            out.append(f"{pop}: accumulated values differ")
    return out
