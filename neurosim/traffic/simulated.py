"""Traffic whose spikes a backend simulated from another source's codes, cross-checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from neurosim.errors import BackendError
from neurosim.graph.ir import EventGraph

Simulate = Callable[[list[np.ndarray]], tuple[list[np.ndarray], dict[str, int], float]]


class SimulatedTraffic:
    """The codes of ``positions`` positions of ``source`` as ``simulate`` (a backend running
    the graph's neurons) emits them.

    ``simulate(given)`` takes the codes per position and returns the emitted codes per
    position, the synops per block and its wall time (s).  The emitted codes must equal the
    given ones, and each block's synops its spikes times its fan-out: a backend that
    disagrees is refused.
    """

    def __init__(self, graph: EventGraph, source: Any, positions: int, backend: str,
                 simulate: Simulate) -> None:
        self.kind, self.source, self.backend = source.kind, source, backend
        given = [source.codes(p) for p in range(positions)]
        self._codes, synops, self.wall_s = simulate(given)
        for k, (mine, theirs) in enumerate(zip(self._codes, given)):
            pad = np.zeros_like(mine)
            pad[: theirs.shape[0]] = theirs
            if not np.array_equal(mine, pad):
                raise BackendError(f"backend '{backend}': its GIF spikes differ from the "
                                   f"traffic's codes at position {k}")
        spikes = np.concatenate(self._codes)
        offsets = np.concatenate([[0], np.cumsum([g.size for g in graph.groups])])
        offset = {g.name: int(o) for g, o in zip(graph.groups, offsets)}
        for b in graph.blocks:
            if b.kind != "weights":
                continue
            lo = offset[b.source]
            fired = (spikes[:, lo:lo + b.c_in] != 0).sum(axis=0)
            expected = int((fired * b.column_fanout()).sum())
            if synops[b.name] != expected:
                raise BackendError(f"backend '{backend}': block {b.name} counted "
                                   f"{synops[b.name]} synops, spikes x fan-out give {expected}")

    def codes(self, position: int) -> np.ndarray:
        return self._codes[position]

    def provenance(self) -> dict[str, Any]:
        inner = (self.source.provenance() if hasattr(self.source, "provenance")
                 else {"kind": self.source.kind})
        return {**inner, "spikes_from": self.backend, "backend_wall_s": round(self.wall_s, 3)}
