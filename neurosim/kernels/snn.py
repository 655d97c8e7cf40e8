"""Numba kernel of the time-stepped simulation of :mod:`neurosim.snn.simulate`: private,
pure, on flat arrays (semantics in :mod:`neurosim.snn.network`)."""

from __future__ import annotations

import numba as nb
import numpy as np

# population kinds (codes shared with neurosim.snn.simulate)
LIF, CUBALIF, IF, THRESHOLD, LI, CUBALI, INTEGRATOR, READOUT = range(8)
# rows of the parameter table
TAU, TAU_SYN, R, V_LEAK, V_TH, V_RESET, W_IN, THR = range(8)


@nb.njit(cache=True, nogil=True, inline="always")
def _sparse_column(acc: np.ndarray, lo: int, k0: int, k1: int, rows: np.ndarray, shift: int,
                   vals: np.ndarray, x: float) -> None:
    """Add ``x`` times one sparse weight column (``vals[k0:k1]`` at ``rows[k0 + shift:]``)."""
    for k in range(k0, k1):
        acc[lo + rows[k + shift]] += vals[k] * x


@nb.njit(cache=True, nogil=True, inline="always")
def _dense_rows(acc: np.ndarray, lo: int, r0: int, r1: int, n_cols: int, cols: np.ndarray,
                xs: np.ndarray, starts: np.ndarray, vals: np.ndarray) -> None:
    """Rows ``r0:r1`` of a dense projection: add the listed columns (``vals[starts[c]:]``,
    times ``xs``) in order; views and no multiply for a spike, so the loops vectorise."""
    tgt = acc[lo + r0:lo + r1]
    for i in range(n_cols):
        col = vals[starts[cols[i]] + r0:starts[cols[i]] + r1]
        if xs[i] == 1.0:
            for r in range(r1 - r0):
                tgt[r] += col[r]
        else:
            for r in range(r1 - r0):
                tgt[r] += col[r] * xs[i]


@nb.njit(cache=True, nogil=True)
def _simulate(dt: float, inputs: np.ndarray, pop_kind: np.ndarray, pop_off: np.ndarray,
              params: np.ndarray, bias: np.ndarray, proj_pre: np.ndarray,
              proj_post: np.ndarray, proj_lag: np.ndarray, proj_dense: np.ndarray,
              row_shift: np.ndarray, col_off: np.ndarray, indptr: np.ndarray,
              rows: np.ndarray, vals: np.ndarray, spikes: np.ndarray, v: np.ndarray,
              i_syn: np.ndarray) -> None:
    """Run every step.

    inputs (T, n_in) float64; populations in evaluation order, neurons ``pop_off[p] :
    pop_off[p + 1]`` of the flat state; params (8, N) float64; bias (N,); projection ``j``
    from ``proj_pre[j]`` (-1: the input) to ``proj_post[j]``, delivering the spikes (input
    values) of step ``t - proj_lag[j]`` (none before step 0), its columns ``col_off[j] :
    col_off[j + 1]`` of the CSC arrays indptr (cols + 1,) int64, vals float32 or float64,
    rows int32 (synapse ``k``'s target within the post population is ``rows[k +
    row_shift[j]]``; a ``proj_dense`` projection has no rows: its column holds every target
    in order, zeros included).  Writes spikes (T, N) uint8 and the final v, i_syn (N,)
    float64 (start at zero).  One thread: a step's work is too small to share at a profit
    (a parallel region per step cost more than it saved on two cores)."""
    n_t = inputs.shape[0]
    acc = np.zeros(v.shape[0])
    width = max(inputs.shape[1], np.diff(pop_off).max()) if pop_off.shape[0] > 1 else 1
    cols = np.empty(width, np.int64)
    xs = np.empty(width)
    for t in range(n_t):
        for p in range(pop_kind.shape[0]):
            lo, hi = pop_off[p], pop_off[p + 1]
            for i in range(lo, hi):
                acc[i] = bias[i]
            for j in range(proj_pre.shape[0]):
                ts = t - proj_lag[j]
                if proj_post[j] != p or ts < 0:
                    continue
                c0, q = col_off[j], proj_pre[j]
                n_cols = 0  # the columns of this step's spikes (input values), in order
                if q < 0:
                    for c in range(inputs.shape[1]):
                        if inputs[ts, c] != 0.0:
                            cols[n_cols], xs[n_cols] = c, inputs[ts, c]
                            n_cols += 1
                else:
                    q0 = pop_off[q]
                    for c in range(pop_off[q + 1] - q0):
                        if spikes[ts, q0 + c]:
                            cols[n_cols], xs[n_cols] = c, 1.0
                            n_cols += 1
                starts = indptr[c0:]
                if proj_dense[j]:
                    _dense_rows(acc, lo, 0, hi - lo, n_cols, cols, xs, starts, vals)
                else:
                    for i in range(n_cols):
                        _sparse_column(acc, lo, starts[cols[i]], starts[cols[i] + 1], rows,
                                       row_shift[j], vals, xs[i])
            kind = pop_kind[p]
            for i in range(lo, hi):
                x = acc[i]
                if kind == THRESHOLD:
                    spikes[t, i] = x > params[THR, i]
                elif kind == READOUT:
                    v[i] = x
                else:
                    _integrate(i, t, kind, x, dt, params, v, i_syn, spikes)


@nb.njit(cache=True, nogil=True, inline="always")
def _integrate(i: int, t: int, kind: int, x: float, dt: float, params: np.ndarray,
               v: np.ndarray, i_syn: np.ndarray, spikes: np.ndarray) -> None:
    """Neuron ``i``'s forward Euler step on input current ``x``, and its spike and reset."""
    if kind == CUBALIF or kind == CUBALI:
        i_syn[i] += dt / params[TAU_SYN, i] * (params[W_IN, i] * x - i_syn[i])
        x = i_syn[i]
    if kind == IF or kind == INTEGRATOR:
        v[i] += dt * params[R, i] * x
    else:
        v[i] += dt / params[TAU, i] * (params[V_LEAK, i] - v[i] + params[R, i] * x)
    if kind <= THRESHOLD and v[i] > params[V_TH, i]:
        spikes[t, i] = 1
        v[i] = params[V_RESET, i]
