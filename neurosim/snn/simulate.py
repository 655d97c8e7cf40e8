"""Time-stepped simulation of a :class:`~neurosim.snn.network.SpikingNetwork` (numba,
event-driven within a step: only the columns of neurons that spiked are read)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from neurosim.errors import InputError
from neurosim.kernels import snn as k
from neurosim.snn.network import INPUT, SpikingNetwork

_KIND = {"lif": k.LIF, "cubalif": k.CUBALIF, "if": k.IF, "threshold": k.THRESHOLD, "li": k.LI,
         "cubali": k.CUBALI, "i": k.INTEGRATOR, "readout": k.READOUT}
_ROW = {"tau": k.TAU, "tau_mem": k.TAU, "tau_syn": k.TAU_SYN, "r": k.R, "v_leak": k.V_LEAK,
        "v_threshold": k.V_TH, "v_reset": k.V_RESET, "w_in": k.W_IN, "threshold": k.THR}
INTEGRATOR = "forward Euler"
MAX_INPUT_VALUES = 1 << 31
"""The most values (steps x input neurons) of one input tensor."""


@dataclass(eq=False)
class SimulationRun:
    """One run: ``spikes[pop]`` (T, size) uint8, ``synops[projection]`` (T,) int64 (the
    synapses reached by the spikes sent at each step, delivered then or, one step late, at
    the next; the last step's late ones too),
    ``input_events`` (T,) int64 (nonzero input values), ``voltage[pop]`` (size,) float64
    final membrane values, ``dt_s``, ``synaptic_delay`` (see :meth:`Simulator.run`) and
    ``integrator``."""

    spikes: dict[str, np.ndarray]
    synops: dict[str, np.ndarray]
    input_events: np.ndarray
    voltage: dict[str, np.ndarray]
    dt_s: float
    synaptic_delay: bool = False
    integrator: str = INTEGRATOR

    @property
    def steps(self) -> int:
        return len(self.input_events)


class Simulator:
    """A network's connectivity in CSC form, built once; :meth:`run` on any input."""

    def __init__(self, net: SpikingNetwork) -> None:
        self.net = net

    @cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        net = self.net
        pops = net.populations
        index = {p.name: i for i, p in enumerate(pops)}
        sizes = np.array([p.size for p in pops], np.int64)
        off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = int(off[-1])
        params = np.zeros((8, n))
        for p, lo in zip(pops, off):
            for name, v in p.params.items():
                params[_ROW[name], lo:lo + p.size] = v
        bias = np.zeros(n)
        indptr, rows, vals, col_off, dense = [np.zeros(1, np.int64)], [], [], [0], []
        row_shift = []  # rows[k + row_shift[j]] is the target of synapse k of projection j
        base = n_rows = 0
        for j in net.projections:
            lo = off[index[j.post]]
            bias[lo:lo + net.size(j.post)] += j.bias
            wt = np.ascontiguousarray(j.weights.T)  # (pre, post): the columns of W in order
            nz = wt != 0
            # at least half nonzero: every weight stored, zeros too (fewer bytes than values
            # and row indices), the rows implicit (0 .. post - 1)
            dense.append(bool(2 * np.count_nonzero(nz) >= nz.size))
            cnt = np.full(wt.shape[0], wt.shape[1]) if dense[-1] else nz.sum(axis=1)
            rows.append(np.zeros(0, np.int32) if dense[-1] else np.nonzero(nz)[1].astype(np.int32))
            row_shift.append(n_rows - base)
            n_rows += len(rows[-1])
            vals.append(wt.ravel() if dense[-1] else wt[nz])
            indptr.append(base + np.cumsum(cnt))
            base += int(cnt.sum())
            col_off.append(col_off[-1] + wt.shape[0])
        vals = np.concatenate(vals) if vals else np.zeros(0)
        narrow = vals.astype(np.float32)
        if np.array_equal(narrow, vals):  # float32 weights (a torch export) read half the bytes
            vals = narrow
        # col_off indexes indptr: each projection's columns follow the previous ones'
        return {
            "pop_kind": np.array([_KIND[p.kind] for p in pops], np.int64), "pop_off": off,
            "params": params, "bias": bias,
            "proj_pre": np.array([-1 if j.pre == INPUT else index[j.pre] for j in net.projections],
                                 np.int64),
            "proj_post": np.array([index[j.post] for j in net.projections], np.int64),
            "proj_dense": np.array(dense, np.bool_),
            "row_shift": np.array(row_shift, np.int64),
            "col_off": np.array(col_off, np.int64),
            "indptr": np.concatenate(indptr).astype(np.int64),
            "rows": np.concatenate(rows) if rows else np.zeros(0, np.int32),
            "vals": vals,
        }

    def run(self, inputs: np.ndarray, dt_s: float, synaptic_delay: bool = False) -> SimulationRun:
        """Simulate ``inputs`` (T, inputs) of finite values (spikes: 0/1) at ``dt_s``.

        ``synaptic_delay``: every projection delivers the previous step's spikes, one step
        per layer as on Loihi and in SANA-FE (default: NIR's, as snnTorch and Norse run it:
        a forward projection delivers the same step's, a recurrent one the previous).  A
        projection through a NIR Delay node delivers that many steps later again."""
        net = self.net
        where = net.source.get("file", net.name)
        x = np.asarray(inputs)
        if x.ndim != 2 or x.shape[1] != net.inputs or x.shape[0] < 1:
            raise InputError(where, "input", "input spikes of the wrong shape", got=x.shape,
                             expected=f"(steps, {net.inputs}): one row per step, one column "
                             "per input neuron")
        if x.dtype.kind not in "biuf":
            raise InputError(where, "input", "input values must be numbers", got=str(x.dtype))
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise InputError(where, "input", "input values must be finite")
        if not (isinstance(dt_s, (int, float)) and np.isfinite(dt_s) and dt_s > 0):
            raise InputError(where, "dt", "must be a number > 0 (seconds per step)", got=dt_s)
        a = self._arrays
        n = int(a["pop_off"][-1])
        spikes = np.zeros((x.shape[0], n), np.uint8)
        v, i_syn = np.zeros(n), np.zeros(n)
        lag = np.array([int(synaptic_delay or j.recurrent) + _steps(j.delay_s, dt_s, where, j.name)
                        for j in net.projections], np.int64)
        k._simulate(float(dt_s), x, a["pop_kind"], a["pop_off"], a["params"], a["bias"],
                    a["proj_pre"], a["proj_post"], lag, a["proj_dense"], a["row_shift"],
                    a["col_off"], a["indptr"],
                    a["rows"], a["vals"], spikes, v, i_syn)
        off = a["pop_off"]
        index = {p.name: i for i, p in enumerate(net.populations)}

        def synops(j) -> np.ndarray:
            """The synapses the spikes of each step reach (an injected current: none)."""
            if j.drive:
                return np.zeros(len(x), np.int64)
            q = index.get(j.pre)
            src = x if q is None else spikes[:, off[q]:off[q + 1]]
            return (src != 0).astype(np.int64) @ j.column_fanout().astype(np.int64)

        return SimulationRun(
            spikes={p.name: spikes[:, off[i]:off[i + 1]] for i, p in enumerate(net.populations)},
            synops={j.name: synops(j) for j in net.projections},
            input_events=np.count_nonzero(x, axis=1).astype(np.int64),
            voltage={p.name: v[off[i]:off[i + 1]].copy() for i, p in enumerate(net.populations)},
            dt_s=float(dt_s), synaptic_delay=bool(synaptic_delay))


def _steps(delay_s: float, dt_s: float, where: str, name: str) -> int:
    """A delay in whole steps; refuses one that is not a multiple of ``dt_s``."""
    steps = round(delay_s / dt_s)
    if abs(steps * dt_s - delay_s) > 1e-9 * max(delay_s, dt_s):
        raise InputError(where, f"{name}.delay", "is not a whole number of steps", got=delay_s,
                         expected=f"a multiple of dt = {dt_s:g} s")
    return steps


def bernoulli_input(inputs: int, steps: int, rate: float, seed: int) -> np.ndarray:
    """(steps, inputs) uint8 spikes, each 1 with probability ``rate``, from numpy's PCG64
    seeded with ``seed``."""
    if not (isinstance(rate, (int, float)) and 0 <= rate <= 1):
        raise InputError("run", "rate", "must be a probability from 0 to 1", got=rate)
    rng = np.random.default_rng(seed)
    return (rng.random((steps, inputs)) < rate).astype(np.uint8)
