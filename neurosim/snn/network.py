"""SpikingNetwork: a time-stepped spiking network with real weights (what a NIR file holds).

Populations of one neuron kind each, projections of real-valued weights between them, one
input and its outputs.  Every vector is flat (C order: a (C, H, W) node is C·H·W neurons).

Step ``t`` (dt seconds) of a run, populations in :attr:`SpikingNetwork.order`:

1. the input current of a population is ``I = Σ_p W_p · s_pre(p) + b_p`` over its
   projections ``p``: a forward projection delivers its source's spikes of the same step, a
   recurrent one (it closes a cycle) those of step ``t - 1`` (none at step 0);
2. the population integrates ``I`` and emits binary spikes (forward Euler on NIR's ODEs):

==========  ===================================================================================
``lif``     ``v += dt/tau · (v_leak - v + r·I)``; spike where ``v > v_threshold``, there
            ``v = v_reset``
``cubalif`` ``i_syn += dt/tau_syn · (w_in·I - i_syn)``, then
            ``v += dt/tau_mem · (v_leak - v + r·i_syn)``; spike and reset as ``lif``
``if``      ``v += dt · r·I``; spike and reset as ``lif``
``threshold`` spike where ``I > threshold`` (no state)
``li``      ``v += dt/tau · (v_leak - v + r·I)``; no spikes
``cubali``  as ``cubalif`` without spikes
``i``       ``v += dt · r·I``; no spikes
``readout`` ``v = I`` (a projection straight into an Output node); no spikes
==========  ===================================================================================

Counters per step: the spikes of each population; the synops of each projection, Σ over
its source's spikes of the nonzero weights in that neuron's column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.errors import InputError

SPIKING = ("lif", "cubalif", "if", "threshold")
NON_SPIKING = ("li", "cubali", "i", "readout")
KINDS = SPIKING + NON_SPIKING
INPUT = "input"
"""The name of the input population (its spikes are given, not simulated)."""

PARAMS = {
    "lif": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "cubalif": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "if": ("r", "v_threshold", "v_reset"),
    "threshold": ("threshold",),
    "li": ("tau", "r", "v_leak"),
    "cubali": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "i": ("r",),
    "readout": (),
}
"""Each kind's parameters, (size,) float64 arrays."""
POSITIVE = ("tau", "tau_syn", "tau_mem")


@dataclass(frozen=True, eq=False)
class Population:
    """``size`` neurons of one ``kind`` with per-neuron ``params`` (see module docstring)."""

    name: str
    kind: str
    size: int
    params: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    hints: dict = field(default_factory=dict)
    """What a NIR file exported by neurosim says of the graph node behind the population
    (``metadata["neurosim"]``): its group's model, steps and code bits, its block's name."""

    @property
    def spiking(self) -> bool:
        return self.kind in SPIKING


@dataclass(frozen=True, eq=False)
class Projection:
    """Weights (post size, pre size) float64 from population ``pre`` (or the input) to
    ``post``, plus a bias (post size,) added every step; ``recurrent``: it delivers the
    previous step's spikes; ``drive``: see below."""

    name: str
    pre: str
    post: str
    weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    recurrent: bool = False
    drive: bool = False
    """Input values injected as current (an Input node straight into neurons): no synapses."""
    delay_s: float = 0.0
    """A NIR Delay on the way: the spikes arrive this much later (a multiple of the step)."""

    def column_fanout(self) -> np.ndarray:
        """Nonzero weights per presynaptic neuron, (pre size,) int32."""
        return np.count_nonzero(self.weights, axis=0).astype(np.int32)


@dataclass(eq=False)
class SpikingNetwork:
    """An input of ``inputs`` neurons, populations, projections and the output populations.

    ``order``: the populations in evaluation order (forward projections go from earlier to
    later ones); ``source``: where the network came from (file, SHA-256, node names).
    """

    name: str
    inputs: int
    populations: list[Population]
    projections: list[Projection]
    outputs: list[str]
    source: dict = field(default_factory=dict)
    stored: dict | None = None
    """What the source file stores (NeuroBench's static metrics): ``parameters`` (weights
    and biases of its weighted nodes: a convolution's kernel, not its unrolled matrix),
    ``bytes`` and ``zero_weights``; None: the dense projections are what is stored."""

    def __post_init__(self) -> None:
        self._pops = {p.name: p for p in self.populations}
        self.validate()

    def __getitem__(self, name: str) -> Population:
        return self._pops[name]

    def size(self, name: str) -> int:
        """Neurons of a population or of the input."""
        return self.inputs if name == INPUT else self._pops[name].size

    def incoming(self, post: str) -> list[Projection]:
        return [p for p in self.projections if p.post == post]

    @property
    def order(self) -> list[str]:
        return [p.name for p in self.populations]

    @property
    def synapses(self) -> int:
        return sum(int(np.count_nonzero(p.weights)) for p in self.projections)

    @property
    def parameters(self) -> int:
        """Weights and biases stored (zeros included): NeuroBench's ParameterCount."""
        if self.stored is not None:
            return int(self.stored["parameters"])
        return sum(p.weights.size + p.bias.size for p in self.projections)

    @property
    def footprint_bytes(self) -> float:
        """Bytes of the stored weights and biases: NeuroBench's Footprint."""
        if self.stored is not None:
            return float(self.stored["bytes"])
        return float(sum(p.weights.nbytes + p.bias.nbytes for p in self.projections))

    @property
    def connection_sparsity(self) -> float:
        """Share of the stored weights (biases excluded) that are zero: NeuroBench's
        ConnectionSparsity."""
        if self.stored is not None:
            n = self.stored["weights"]
            return self.stored["zero_weights"] / n if n else 0.0
        n = sum(p.weights.size for p in self.projections)
        return (n - self.synapses) / n if n else 0.0

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first inconsistent part."""
        where = self.source.get("file", self.name)
        if self.inputs < 1:
            raise InputError(where, "Input", "the input has no neurons", got=self.inputs)
        if len(self._pops) != len(self.populations) or INPUT in self._pops:
            raise InputError(where, "nodes", "population names must be unique and not 'input'")
        position = {p.name: i for i, p in enumerate(self.populations)}
        for p in self.populations:
            if p.kind not in KINDS:
                raise InputError(where, p.name, "unknown neuron kind", got=p.kind,
                                 expected=", ".join(KINDS))
            for k in PARAMS[p.kind]:
                v = p.params.get(k)
                if v is None or v.shape != (p.size,):
                    raise InputError(where, f"{p.name}.{k}", "parameter missing or misshaped",
                                     got=None if v is None else v.shape,
                                     expected=f"({p.size},) values")
                if not np.isfinite(v).all():
                    raise InputError(where, f"{p.name}.{k}", "not finite",
                                     got=float(v[~np.isfinite(v)][0]), expected="finite numbers")
                if k in POSITIVE and (v <= 0).any():
                    raise InputError(where, f"{p.name}.{k}", "time constants must be > 0",
                                     got=float(v.min()))
        for j in self.projections:
            key = f"{j.pre}->{j.post}"
            if j.post not in self._pops or (j.pre != INPUT and j.pre not in self._pops):
                raise InputError(where, key, "projection between unknown populations")
            if j.pre != INPUT and not self._pops[j.pre].spiking:
                raise InputError(where, key, f"{j.pre} ({self._pops[j.pre].kind}) does not spike, "
                                 "so it cannot drive weights", expected="a spiking source "
                                 f"({', '.join(SPIKING)}) or the input")
            if j.weights.shape != (self.size(j.post), self.size(j.pre)):
                raise InputError(where, f"{key}.weight", "wrong shape", got=j.weights.shape,
                                 expected=f"({self.size(j.post)}, {self.size(j.pre)})")
            if j.bias.shape != (self.size(j.post),):
                raise InputError(where, f"{key}.bias", "wrong shape", got=j.bias.shape,
                                 expected=f"({self.size(j.post)},)")
            for what, arr in (("weight", j.weights), ("bias", j.bias)):
                if not np.isfinite(arr).all():
                    raise InputError(where, f"{key}.{what}", "not finite",
                                     got=float(arr[~np.isfinite(arr)][0]),
                                     expected="finite numbers")
            if not (np.isfinite(j.delay_s) and j.delay_s >= 0):
                raise InputError(where, f"{key}.delay", "must be a finite number of seconds >= 0",
                                 got=j.delay_s)
            if j.drive and j.pre != INPUT:
                raise InputError(where, key, "only the input drives neurons without synapses")
            forward = j.pre == INPUT or position[j.pre] < position[j.post]
            if forward == j.recurrent:
                raise InputError(where, key, "recurrent flag disagrees with the order",
                                 got=j.recurrent, expected=str(not forward))
        for name in self.outputs:
            if name not in self._pops:
                raise InputError(where, "Output", "an output is not a population", got=name)
