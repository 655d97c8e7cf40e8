"""Rate traffic: independent spikes per channel and step at a given rate per neuron group.

The synthetic traffic of the binary and ternary schemes, whose papers publish firing rates,
not code distributions:

* SpikeGPT (LIF, binary): a group fires with probability ``rate`` per channel and token;
  the rate is one number or one per layer (rates that rise with depth, as a reproduction
  measured: seed-methods §2.8);
* SpikeLM (bi-spiking, ternary): ``+1`` and ``-1`` each with probability ``rate / 2`` per
  channel and step, ``steps`` steps per token;
* LTE (expert gates, binary): an expert is active with probability ``1 - sparsity`` (one
  sparsity, or one per layer).

Spikes are independent across channels, steps and tokens: no membrane memory, no channel
persistence.  ``codes(position)`` returns (steps, N) int8 in graph group order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neurosim.graph.ir import EventGraph


class RateTraffic:
    """Bernoulli spikes at ``rate_of(group)`` per channel and step (module docstring)."""

    kind = "synthetic"

    def __init__(self, graph: EventGraph, rates: Sequence[float], seed: int,
                 description: dict[str, Any]) -> None:
        if len(rates) != len(graph.groups):
            raise ValueError("one rate per neuron group")
        self.graph, self.seed, self.description = graph, seed, description
        self.rates = np.asarray(rates, np.float64)
        self.sizes = np.array([g.size for g in graph.groups], np.int64)
        self.signed = np.array([g.signed for g in graph.groups], bool)
        self.steps = np.array([g.max_steps for g in graph.groups], np.int64)
        self.max_steps = int(self.steps.max(initial=1))
        self._rate = np.repeat(self.rates, self.sizes)          # (N,)
        self._signed = np.repeat(self.signed, self.sizes)
        self._on = np.arange(self.max_steps)[:, None] < np.repeat(self.steps, self.sizes)[None, :]

    def codes(self, position: int) -> np.ndarray:
        """(steps, N) int8 spikes of the token at ``position``."""
        rng = np.random.default_rng([self.seed, 2, position])
        u = rng.random((self.max_steps, self._rate.size))
        fire = (u < self._rate) & self._on
        out = fire.astype(np.int8)
        neg = fire & self._signed & (u < self._rate / 2)
        out[neg] = -1
        return out

    def provenance(self) -> dict[str, Any]:
        return {"kind": "synthetic", "model": "independent spikes at fixed rates",
                "seed": self.seed, **self.description}


def layer_rates(rate: float | Sequence[float], layers: int) -> list[float]:
    """One rate per layer from a single rate or a per-layer list."""
    if isinstance(rate, (int, float)):
        return [float(rate)] * layers
    if len(rate) != layers:
        raise ValueError(f"{len(rate)} rates for {layers} layers")
    return [float(r) for r in rate]


class RecordedTraffic:
    """Spikes recorded from a model run: ``spikes`` (tokens, N) 0/1 per position, in graph
    group order; ``kind`` says what recorded them (``recurrence``, ``real``)."""

    def __init__(self, spikes: np.ndarray, description: dict[str, Any],
                 kind: str = "recurrence") -> None:
        self.spikes, self.description, self.kind = spikes, description, kind

    def codes(self, position: int) -> np.ndarray:
        if position >= len(self.spikes):
            raise IndexError(f"position {position}: {len(self.spikes)} tokens were recorded")
        return np.asarray(self.spikes[position])[None, :].astype(np.int8)

    def provenance(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.description,
                "mean_rate": float(np.mean(self.spikes)) if self.spikes.size else 0.0}
