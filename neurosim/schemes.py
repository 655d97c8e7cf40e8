"""Spiking schemes: what each brings beside its lowering (:mod:`neurosim.graph.lower`).

A :class:`Scheme` names the traffic sources it can replay (``synthetic``, ``real``,
``recurrence``), each a factory of a source with ``codes(position)`` and ``provenance()``,
whether it converts a real checkpoint into an artifact, and whether its papers' accounting
prices projections at a measured firing rate.  Adding a scheme is its lowering plus one
:func:`register` call here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neurosim.cards import ModelCard
from neurosim.errors import InputError
from neurosim.graph.ir import EventGraph
from neurosim.traffic.absmax import AbsmaxTraffic
from neurosim.traffic.fitted import FittedTraffic, load_fit
from neurosim.traffic.rates import RateTraffic, RecordedTraffic, layer_rates
from neurosim.traffic.synthetic import SyntheticTraffic

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Request:
    """What a traffic factory gets: the card, its graph, the artifact (or None), the seed,
    the last position to be replayed and a progress callback."""

    card: ModelCard
    graph: EventGraph
    artifact: Any
    seed: int
    last_position: int
    progress: Progress | None


Factory = Callable[[Request], Any]


@dataclass(frozen=True)
class Scheme:
    name: str
    sources: dict[str, Factory] = field(default_factory=dict)
    converts: bool = False
    rate_accounting: bool = False


SCHEMES: dict[str, Scheme] = {}


def register(scheme: Scheme) -> Scheme:
    SCHEMES[scheme.name] = scheme
    return scheme


def scheme_of(card: ModelCard) -> Scheme:
    return SCHEMES[card.spiking.scheme]


def traffic_source(req: Request, kind: str | None):
    """The source of traffic ``kind`` (default: the card's) for ``req``."""
    card = req.card
    kind = kind or card.traffic.default
    scheme = scheme_of(card)
    if kind not in scheme.sources:
        raise InputError(card.name, "traffic", f"scheme {scheme.name} has no {kind} traffic",
                         got=kind, expected=" or ".join(sorted(scheme.sources)))
    return scheme.sources[kind](req)


# --- SpikeLLM ---------------------------------------------------------------------------


def _spikellm_synthetic(r: Request):
    s = r.card.spiking
    if r.card.traffic.fit:
        scale = r.card.traffic.nonzero_scale
        return FittedTraffic(r.graph, load_fit(r.card.traffic.fit), s.abits, r.seed,
                             1.0 if scale is None else scale)
    return SyntheticTraffic(r.graph, s.abits, s.addbit, s.kv_addbit, r.seed)


def _spikellm_real(r: Request):
    if r.artifact is None:
        raise InputError(r.card.name, "weights.source", "real traffic needs real weights",
                         got=r.card.weights.source,
                         expected="a SpikeLLM card with weights, or --traffic synthetic")
    from neurosim.convert.cache import trace_for
    from neurosim.traffic.trace import RealTraffic

    return RealTraffic(trace_for(r.card, r.artifact, r.last_position + 1, r.progress), r.graph)


register(Scheme("spikellm", {"synthetic": _spikellm_synthetic, "real": _spikellm_real},
                converts=True))

# --- SpikeGPT ---------------------------------------------------------------------------


def _spikegpt_synthetic(r: Request):
    s = r.card.spiking
    per_layer = layer_rates(s.firing_rate, r.card.architecture.layers)
    return RateTraffic(r.graph, [per_layer[g.layer] for g in r.graph.groups], r.seed,
                       {"firing_rate": s.firing_rate, "rule": "LIF spikes per token"})


def _spikegpt_recurrence(r: Request):
    from neurosim.convert.cache import recurrence_for

    spikes, meta = recurrence_for(r.card, r.seed, r.last_position + 1)
    return RecordedTraffic(spikes, {
        "model": "SpikeGPT recurrence, seeded random RWKV-4 weights", "seed": r.seed,
        "text": meta["text"], "tokens_recorded": meta["tokens_recorded"],
        "spikes_sha256": meta["files"]["spikes.npy"]})


register(Scheme("spikegpt", {"synthetic": _spikegpt_synthetic,
                             "recurrence": _spikegpt_recurrence}, rate_accounting=True))

# --- SpikeLM ----------------------------------------------------------------------------


def _spikelm_synthetic(r: Request):
    s = r.card.spiking
    return RateTraffic(r.graph, [s.firing_rate] * len(r.graph.groups), r.seed,
                       {"firing_rate": s.firing_rate,
                        "rule": "+1 and -1 each at firing_rate/2 per step"})


register(Scheme("spikelm", {"synthetic": _spikelm_synthetic}))

# --- LTE --------------------------------------------------------------------------------


def _lte_synthetic(r: Request):
    s = r.card.spiking
    if s.sparsity is None:
        raise InputError(r.card.name, "spiking.sparsity", "synthetic LTE traffic needs the "
                         "expert sparsity", expected="a fraction, or one per layer; or --traffic real")
    per_layer = layer_rates(s.sparsity, r.card.architecture.layers)
    return RateTraffic(r.graph, [1 - per_layer[g.layer] for g in r.graph.groups], r.seed,
                       {"sparsity": s.sparsity,
                        "rule": "each expert active with probability 1 - sparsity"})


def _lte_real(r: Request) -> RecordedTraffic:
    """The expert decisions of the card's router (built on its real weights) on real text."""
    card = r.card
    if card.spiking.router is None or card.weights.source == "none":
        raise InputError(card.name, "spiking.router", "real LTE traffic needs a router built on "
                         "real weights", expected="an LTE card with weights and spiking.router, "
                         "or --traffic synthetic")
    from neurosim.convert.cache import router_for
    from neurosim.convert.lte import load_gates

    router = router_for(card, r.progress)
    gates = load_gates(router)
    if r.last_position >= len(gates):
        raise InputError(card.name, "spiking.router.evaluation_tokens",
                         "fewer expert decisions recorded than positions asked for",
                         got=len(gates), expected=f">= {r.last_position + 1} (or fewer --tokens)")
    ev, tr = router.meta["evaluation"], router.meta["training"]
    return RecordedTraffic(gates, {
        "model": "LTE routers on the card's real weights (model frozen)",
        "router_sha256": router.meta["files"]["router.safetensors"],
        "checkpoint_sha256": router.meta["checkpoint"]["sha256"],
        "text": {"name": ev["text"], "sha256": ev["sha256"]}, "tokens_recorded": len(gates),
        "eta": tr["eta"],
        "ppl_full": ev["ppl_full"], "ppl_routed": ev["ppl_routed"]}, kind="real")


register(Scheme("lte", {"synthetic": _lte_synthetic, "real": _lte_real}))

# --- MatMul-free LM (BitLinear) -----------------------------------------------------------


def _bitlinear_synthetic(r: Request) -> AbsmaxTraffic:
    return AbsmaxTraffic(r.graph, r.card.spiking.activation_bits, r.seed)


register(Scheme("bitlinear", {"synthetic": _bitlinear_synthetic}))

# --- dense ------------------------------------------------------------------------------


def _dense_none(r: Request):
    return RateTraffic(r.graph, [], r.seed, {"rule": "no spiking sites"})


register(Scheme("none", {"synthetic": _dense_none}))
