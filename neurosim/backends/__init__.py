"""Simulation backends: the numba reference (default) and Lava (Loihi-style cores).

A backend simulates a :class:`~neurosim.backends.net.Net` (populations, weighted
connections, source values) in integer arithmetic and returns spikes, synops and
accumulated values.  Each declares :class:`Capabilities`; a request outside them is refused
with the reason before anything runs.  ``neurosim run --backend lava`` builds the Net of a
whole EventGraph (:mod:`neurosim.backends.graph_net`) and replays Lava's spikes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from neurosim.backends.net import NEURON_MODELS, Net, NetResult
from neurosim.errors import BackendError, NotFoundError

__all__ = ["Backend", "Capabilities", "BACKENDS", "get_backend", "installed_backends",
           "Net", "NetResult"]


@dataclass(frozen=True)
class Capabilities:
    """What a backend accepts. ``None``: no limit."""

    neuron_models: tuple[str, ...]
    graded_spikes: bool
    max_payload_bits: int | None
    weight_range: tuple[int, int] | None
    max_neurons: int | None
    max_synapses: int | None
    connected_only: bool
    attention_blocks: str

    def refusal(self, net: Net) -> str | None:
        """Why ``net`` is outside these capabilities, or None."""
        models = {p.model for p in net.populations} - set(self.neuron_models)
        if models:
            return f"neuron models {sorted(models)} are not supported"
        if self.max_neurons is not None and net.neurons > self.max_neurons:
            return f"{net.neurons:,} neurons exceed the limit of {self.max_neurons:,}"
        if self.max_synapses is not None and net.synapses > self.max_synapses:
            return f"{net.synapses:,} synapses exceed the limit of {self.max_synapses:,}"
        if self.weight_range is not None:
            lo, hi = self.weight_range
            for c in net.connections:
                w_lo, w_hi = int(c.weights.min(initial=0)), int(c.weights.max(initial=0))
                mixed = w_lo < 0 < w_hi
                if (mixed and (w_lo < lo or w_hi > hi)) or (not mixed and max(-w_lo, w_hi) > 2 * hi + 1):
                    return (f"connection {c.name} has weights {w_lo}..{w_hi}; 8-bit synapses "
                            f"hold {lo}..{hi} (mixed signs) or magnitudes up to {2 * hi + 1}")
        if self.max_payload_bits is not None:
            for p in net.populations:
                bits = 0 if p.model == "accumulator" else net.payload_bits(p.name)
                if bits > self.max_payload_bits:
                    return (f"population {p.name} sends {bits}-bit payloads; the limit is "
                            f"{self.max_payload_bits}")
        parts = net.components() if self.connected_only else 1
        if parts != 1:
            return f"the net has {parts} unconnected parts; one connected net is run"
        return None


@dataclass(frozen=True)
class Backend:
    """A named backend: capabilities, availability and its ``run_net``."""

    name: str
    summary: str
    capabilities: Capabilities
    _available: Callable[[], str | None]
    _run: Callable[[Net, float | None], NetResult]

    def unavailable(self) -> str | None:
        """Why the backend cannot run here (one line), or None."""
        return self._available()

    def run_net(self, net: Net, *, timeout_s: float | None = None) -> NetResult:
        """Simulate ``net``; BackendError if unavailable, outside capabilities or failing."""
        why = self.unavailable()
        if why:
            raise BackendError(why)
        refusal = self.capabilities.refusal(net)
        if refusal:
            raise BackendError(f"backend '{self.name}' refuses net {net.label}: {refusal}")
        return self._run(net, timeout_s)


def _numba_run(net: Net, timeout_s: float | None) -> NetResult:
    from neurosim.backends.numba_net import simulate

    return simulate(net)


def _lava_available() -> str | None:
    from neurosim.backends.lava_net import HOW_TO_GET, lava_python

    return None if lava_python() else HOW_TO_GET


def _lava_run(net: Net, timeout_s: float | None) -> NetResult:
    from neurosim.backends.lava_net import run_net

    return run_net(net, timeout_s)


BACKENDS: dict[str, Backend] = {
    "numba": Backend(
        "numba", "numba kernels, event-driven, any size (the reference)",
        Capabilities(NEURON_MODELS, graded_spikes=True, max_payload_bits=None, weight_range=None,
                     max_neurons=None, max_synapses=None, connected_only=False,
                     attention_blocks="counted from the cached K/V codes"),
        lambda: None, _numba_run),
    "lava": Backend(
        "lava", "lava-nc 0.10 fixed-point process models (Loihi2SimCfg, fixed_pt), one "
        "child process per run under a timeout",
        Capabilities(NEURON_MODELS, graded_spikes=True, max_payload_bits=24,
                     weight_range=(-128, 127), max_neurons=50_000, max_synapses=4_000_000,
                     connected_only=True,
                     attention_blocks="not static synapses: counted by neurosim from the K/V "
                     "spikes Lava produced"),
        _lava_available, _lava_run),
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; NotFoundError listing the choices otherwise."""
    if name not in BACKENDS:
        raise NotFoundError("backend", None, f"unknown backend {name!r}",
                            expected=f"one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def installed_backends() -> list[str]:
    """Names of the backends that can run in this environment."""
    return [n for n, b in BACKENDS.items() if b.unavailable() is None]
