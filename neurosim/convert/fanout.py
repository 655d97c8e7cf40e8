"""The real fan-out of a converted model: nonzero integer weights per input channel."""

from __future__ import annotations

from neurosim.convert.artifact import Artifact
from neurosim.errors import InputError
from neurosim.graph.ir import EventGraph
from neurosim.graph.lower import with_fanout


def with_weights(graph: EventGraph, art: Artifact) -> EventGraph:
    """``graph`` with each linear block's real per-column fan-out from ``art``; the
    artifact's salient masks must match the graph's groups."""
    masks = art.masks()
    for g in graph.groups:
        got = int(masks[(g.layer, g.site)].sum())
        if got != g.salient or masks[(g.layer, g.site)].shape[0] != g.size:
            raise InputError(str(art.path), f"model.layers.{g.layer}.{g.site}.salient",
                             "salient mask does not match the card", got=got,
                             expected=f"{g.salient} of {g.size} channels")
    fanout = {b.name: (art.weight_int(b.layer, b.site) != 0).sum(axis=0)
              for b in graph.blocks if b.kind == "weights"}
    return with_fanout(graph, fanout, f"artifact sha256:{art.sha256}")
