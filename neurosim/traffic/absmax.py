"""Absmax traffic: per-token absmax-quantized Gaussian activations (the BitLinear inputs of
the MatMul-free LM, without a checkpoint).

A documented activation model, not a recording: for each token and neuron group of ``n``
channels, ``z ~ N(0, 1)`` independently per channel, and the codes are
``round(q_max · z / max|z|)`` with ``q_max = 2^(bits-1) - 1`` (the BitLinear quantizer,
``mmfreelm/ops/fusedbitnet.py``).  A channel is silent (code 0) where ``|z| < max|z| /
(2 q_max)``: about 1 % of 1,024 Gaussian channels at 8 bits.  Trained models' activations have
heavier tails than a Gaussian (outlier channels), which raises ``max|z|`` and the share of
zero codes: this model is an upper bound on events for a given width.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.graph.ir import EventGraph


class AbsmaxTraffic:
    """Signed codes of per-token absmax quantization of Gaussian activations (module
    docstring), in graph group order: ``codes(position)`` is (1, N) int8."""

    kind = "synthetic"

    def __init__(self, graph: EventGraph, bits: int, seed: int) -> None:
        if not 2 <= bits <= 8:
            raise ValueError("absmax traffic codes fit int8: 2 to 8 bits")
        self.graph, self.bits, self.seed = graph, bits, seed
        self.q_max = 2 ** (bits - 1) - 1
        sizes = np.array([g.size for g in graph.groups], np.int64)
        self._start = np.concatenate([[0], np.cumsum(sizes)])

    def codes(self, position: int) -> np.ndarray:
        """(1, N) int8 codes of the token at ``position``."""
        z = np.random.default_rng([self.seed, 3, position]).standard_normal(int(self._start[-1]))
        out = np.empty((1, z.size), np.int8)
        for lo, hi in zip(self._start[:-1], self._start[1:]):
            zz = z[lo:hi]
            out[0, lo:hi] = np.rint(self.q_max * zz / np.abs(zz).max())
        return out

    def provenance(self) -> dict[str, Any]:
        return {"kind": "synthetic", "model": "Gaussian activations, per-token absmax "
                "quantization per neuron group", "bits": self.bits, "seed": self.seed}
