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
def _column(acc: np.ndarray, lo: int, k0: int, k1: int, dense: bool, rows: np.ndarray,
            shift: int, vals: np.ndarray, x: float) -> None:
    """Add ``x`` times one weight column (``vals[k0:k1]``) to its targets."""
    if dense:  # views and no multiply for a spike: the loop vectorises
        col, tgt = vals[k0:k1], acc[lo:lo + k1 - k0]
        if x == 1.0:
            for k in range(k1 - k0):
                tgt[k] += col[k]
        else:
            for k in range(k1 - k0):
                tgt[k] += col[k] * x
    else:
        for k in range(k0, k1):
            acc[lo + rows[k + shift]] += vals[k] * x


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
    in order, zeros included).  Writes spikes (T, N) uint8 and the final v, i_syn (N,) float64 (start at
    zero)."""
    n_t = inputs.shape[0]
    acc = np.zeros(v.shape[0])
    for t in range(n_t):
        for p in range(pop_kind.shape[0]):
            lo, hi = pop_off[p], pop_off[p + 1]
            for i in range(lo, hi):
                acc[i] = bias[i]
            for j in range(proj_pre.shape[0]):
                if proj_post[j] != p:
                    continue
                c0, q, dense, shift = col_off[j], proj_pre[j], proj_dense[j], row_shift[j]
                ts = t - proj_lag[j]
                if q < 0 and ts >= 0:
                    for c in range(inputs.shape[1]):
                        x = inputs[ts, c]
                        if x != 0.0:
                            _column(acc, lo, indptr[c0 + c], indptr[c0 + c + 1], dense, rows,
                                    shift, vals, x)
                elif q >= 0:
                    if ts >= 0:
                        q0 = pop_off[q]
                        for c in range(pop_off[q + 1] - q0):
                            if spikes[ts, q0 + c]:
                                _column(acc, lo, indptr[c0 + c], indptr[c0 + c + 1], dense,
                                        rows, shift, vals, 1.0)
            kind = pop_kind[p]
            for i in range(lo, hi):
                x = acc[i]
                if kind == THRESHOLD:
                    spikes[t, i] = x > params[THR, i]
                    continue
                if kind == READOUT:
                    v[i] = x
                    continue
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
