"""EventGraph: the event-driven intermediate representation.

Nodes are typed, immutable dataclasses:

* :class:`NeuronGroup` — a spiking site: the neurons that turn one activation vector into
  spike codes (``size`` channels, ``max_steps`` steps per token for the channels that get
  the most, ``code_bits`` per code).  An imported network (:mod:`neurosim.snn`) adds
  ``input`` (its given input spikes) and ``bus`` (spikes of several groups gathered as
  one block's input).
* :class:`SynapseBlock` — the synapses a group's spikes drive: ``c_in × c_out`` weights of
  ``weight_bits``; ``fanout[c]`` is the number of nonzero weights in column ``c`` (``None``:
  dense, every column has ``c_out``).  An ``identity`` block (``c_out == c_in``) gives each
  channel one synapse of weight 1 to its own target, e.g. a spike added to its residual-stream
  neuron: not a matrix product, so no dense-equivalent MACs.  An attention block
  (``kind="kv"``) reads cached K or V codes of every earlier position; its "weights" are the
  token's Q or P row and each event fans out to the ``fanout_per_event`` query heads that
  share its KV head (of ``kv_heads``).  ``targets``: where the block's sums go each token:
  to a dense unit (``dense``, an LLM's projections), or into spiking neurons that live on
  the block's own cores (``neurons``, an imported network), which send only the partial
  sums of fan-in split over several cores.
* :class:`DenseOp` — a non-spiking operation with closed-form scalar operation counts per
  class (``mac``, ``add``, ``mul``, ``special``), a fixed part per token plus a part per
  attended position, and the bytes of parameters it reads; ``gated_by`` names a ``gate``
  neuron group (LTE's expert router) whose active fraction per token scales the op.

``attention`` says whether a token attends the positions before it (``causal``, a decoder:
the KV cache grows token by token) or the whole sequence (``bidirectional``, an encoder).
``stages`` lists, in execution order, the sets of nodes that run concurrently (q, k and v
projections share an input and one stage).  Edges record data flow for display and checks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neurosim.errors import InputError

OP_CLASSES = ("mac", "add", "mul", "special")


@dataclass(frozen=True)
class NeuronGroup:
    """Spiking neurons encoding one activation vector per token into codes."""

    name: str
    layer: int
    site: str
    model: Literal["gif", "lif", "if", "ternary", "gate", "input", "bus"]
    size: int
    max_steps: int
    salient: int
    code_bits: int
    signed: bool = False

    @property
    def graded(self) -> bool:
        """Codes other than {-1, 0, 1} need a graded payload."""
        return self.code_bits > (2 if self.signed else 1)


@dataclass(frozen=True, eq=False)
class SynapseBlock:
    """Synapses from a neuron group (``c_in`` channels) to ``c_out`` targets."""

    name: str
    layer: int
    site: str
    source: str
    c_in: int
    c_out: int
    weight_bits: int
    kind: Literal["weights", "kv"] = "weights"
    fanout_per_event: int = 0
    kv_heads: int = 0
    fanout: np.ndarray | None = field(default=None, repr=False)
    identity: bool = False
    targets: Literal["dense", "neurons"] = "dense"

    def __post_init__(self) -> None:
        if self.identity:
            if self.kind != "weights" or self.c_out != self.c_in:
                raise ValueError(f"{self.name}: an identity block has kind weights and c_out == c_in")
            object.__setattr__(self, "fanout", np.ones(self.c_in, np.int32))
        if self.fanout is not None:
            f = np.ascontiguousarray(self.fanout, dtype=np.int32)
            if f.shape != (self.c_in,) or f.min(initial=0) < 0 or f.max(initial=0) > self.c_out:
                raise ValueError(f"{self.name}: fanout must be {self.c_in} ints in 0..{self.c_out}")
            object.__setattr__(self, "fanout", f)

    def column_fanout(self) -> np.ndarray:
        """Synapses each input channel drives, shape (c_in,), int32."""
        if self.kind == "kv":
            return np.full(self.c_in, self.fanout_per_event, np.int32)
        if self.fanout is None:
            return np.full(self.c_in, self.c_out, np.int32)
        return self.fanout

    @property
    def nonzero_weights(self) -> int:
        return 0 if self.kind == "kv" else int(self.column_fanout().sum(dtype=np.int64))

    @property
    def weight_bytes(self) -> float:
        return self.nonzero_weights * self.weight_bits / 8

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SynapseBlock):
            return NotImplemented
        mine, theirs = _block_fields(self), _block_fields(other)
        return mine == theirs and _same_array(self.fanout, other.fanout)

    __hash__ = None  # type: ignore[assignment]


def _block_fields(b: SynapseBlock) -> dict:
    d = {k: getattr(b, k) for k in b.__dataclass_fields__ if k != "fanout"}
    return d


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


@dataclass(frozen=True)
class DenseOp:
    """A non-spiking operation: scalar op counts per class, fixed and per attended position."""

    name: str
    layer: int
    kind: str
    ops: dict[str, int]
    ops_per_position: dict[str, int] = field(default_factory=dict)
    param_bytes: float = 0.0
    gated_by: str | None = None

    def count(self, position: int, active: float = 1.0) -> dict[str, int]:
        """Op counts per class for a token at 0-based ``position`` (attends position+1).

        A gated op (``gated_by`` names a gate group, e.g. LTE's experts) runs only for the
        active fraction ``active`` of its gate's channels: its counts scale by it.
        """
        out = {k: int(self.ops.get(k, 0)) for k in OP_CLASSES}
        for k, v in self.ops_per_position.items():
            out[k] += int(v) * (position + 1)
        if self.gated_by is not None and active != 1.0:
            out = {k: int(round(v * active)) for k, v in out.items()}
        return out

    def param_bytes_read(self, active: float = 1.0) -> float:
        """Parameter bytes read for one token (a gated op reads only active experts')."""
        return self.param_bytes * (active if self.gated_by is not None else 1.0)


@dataclass(frozen=True)
class KVCache:
    """Per-layer K and V code caches of a decoder."""

    layers: int
    width: int
    code_bits: int
    max_steps: int

    def bits_per_position(self) -> int:
        """Bits one position adds to one layer's K plus V cache."""
        return 2 * self.width * self.code_bits


@dataclass(eq=False)
class EventGraph:
    """A compiled model: neuron groups, synapse blocks, dense ops, stages and edges."""

    model: str
    family: str
    groups: list[NeuronGroup]
    blocks: list[SynapseBlock]
    dense_ops: list[DenseOp]
    stages: list[list[str]]
    edges: list[tuple[str, str]]
    kv_cache: KVCache | None = None
    weights: str = "shapes"
    attention: Literal["causal", "bidirectional"] = "causal"

    def __post_init__(self) -> None:
        names = [n.name for n in (*self.groups, *self.blocks, *self.dense_ops)]
        if len(set(names)) != len(names):
            raise ValueError("EventGraph node names repeat")
        self._index = {n.name: n for n in (*self.groups, *self.blocks, *self.dense_ops)}

    def __getitem__(self, name: str) -> NeuronGroup | SynapseBlock | DenseOp:
        return self._index[name]

    @property
    def layers(self) -> int:
        return 1 + max((b.layer for b in self.blocks), default=-1)

    def dense_equivalent_macs(self, position: int) -> int:
        """MACs of the dense model for a token at ``position``: every synapse block as a
        matrix product (identity blocks excepted) plus the dense ops' MACs, all experts
        active and no router (LTE's routers are not part of the dense model)."""
        total = sum(b.c_in * b.c_out for b in self.blocks if b.kind == "weights" and not b.identity)
        for b in self.blocks:
            if b.kind == "kv":
                total += b.c_in * b.fanout_per_event * (position + 1)
        total += sum(op.count(position)["mac"] for op in self.dense_ops if op.kind != "router")
        return total

    # --- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (fan-out arrays as lists)."""
        return {
            "format": "neurosim.EventGraph",
            "version": 1,
            "model": self.model,
            "family": self.family,
            "weights": self.weights,
            "groups": [asdict(g) for g in self.groups],
            "blocks": [
                {**_block_fields(b), "fanout": None if b.fanout is None else b.fanout.tolist()}
                for b in self.blocks
            ],
            "dense_ops": [asdict(d) for d in self.dense_ops],
            "stages": [list(s) for s in self.stages],
            "edges": [list(e) for e in self.edges],
            "kv_cache": None if self.kv_cache is None else asdict(self.kv_cache),
            "attention": self.attention,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], file: str = "<dict>") -> EventGraph:
        if data.get("format") != "neurosim.EventGraph" or data.get("version") != 1:
            raise InputError(file, "format", "not a neurosim EventGraph version 1",
                             got=data.get("format"), expected="neurosim.EventGraph")
        blocks = []
        for b in data["blocks"]:
            fanout = b.get("fanout")
            blocks.append(SynapseBlock(**{**b, "fanout": None if fanout is None
                                          else np.asarray(fanout, np.int32)}))
        kv = data.get("kv_cache")
        return cls(
            model=data["model"],
            family=data["family"],
            weights=data.get("weights", "shapes"),
            groups=[NeuronGroup(**g) for g in data["groups"]],
            blocks=blocks,
            dense_ops=[DenseOp(**d) for d in data["dense_ops"]],
            stages=[list(s) for s in data["stages"]],
            edges=[tuple(e) for e in data["edges"]],
            kv_cache=None if kv is None else KVCache(**kv),
            attention=data.get("attention", "causal"),
        )

    def save(self, path: str | Path) -> None:
        """Write the graph as JSON."""
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> EventGraph:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(str(path), None, f"cannot read EventGraph: {exc}") from None
        return cls.from_dict(data, str(path))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventGraph):
            return NotImplemented
        return (
            self.model == other.model and self.family == other.family
            and self.weights == other.weights and self.groups == other.groups
            and self.blocks == other.blocks and self.dense_ops == other.dense_ops
            and self.stages == other.stages and self.edges == other.edges
            and self.kv_cache == other.kv_cache and self.attention == other.attention
        )

    __hash__ = None  # type: ignore[assignment]
