"""Numba kernels of the numba backend: private, pure functions on plain int64 arrays.

Semantics, validation and units live in :mod:`neurosim.backends.net` and
:mod:`neurosim.backends.numba_net`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_UV_MAX = 2**23  # Loihi's 24-bit current and voltage


@nb.njit(cache=True, nogil=True)
def _deliver(indptr: np.ndarray, rows: np.ndarray, vals: np.ndarray, pre_out: np.ndarray,
             acc: np.ndarray) -> int:
    """Add ``W · pre_out`` to ``acc`` event by event; return the synops.

    W in CSC form: column ``i`` holds ``vals[indptr[i]:indptr[i+1]]`` at ``rows[...]``
    (explicit zeros removed). pre_out (pre,) int64; acc (post,) int64.
    """
    synops = 0
    for i in range(pre_out.shape[0]):
        s = pre_out[i]
        if s != 0:
            lo, hi = indptr[i], indptr[i + 1]
            for k in range(lo, hi):
                acc[rows[k]] += vals[k] * s
            synops += hi - lo
    return synops


@nb.njit(cache=True, nogil=True)
def _gif_step(v: np.ndarray, x: np.ndarray, first: bool, level: int, out: np.ndarray) -> None:
    """One GIF step: clear on a token's first step, integrate, emit min(v, level), subtract."""
    for i in range(v.shape[0]):
        vi = x[i] if first else v[i] + x[i]
        o = min(vi, level) if vi > 0 else 0
        v[i] = vi - o
        out[i] = o


@nb.njit(cache=True, nogil=True)
def _sm_decay(a: np.int64, keep: np.int64) -> np.int64:
    """sign(a)·(|a|·keep >> 12): Loihi's sign-magnitude decay."""
    p = a * keep
    return -((-p) >> 12) if p < 0 else p >> 12


@nb.njit(cache=True, nogil=True)
def _lif_step(u: np.ndarray, v: np.ndarray, x: np.ndarray, du: int, dv: int, vth: int,
              bias: int, out: np.ndarray) -> None:
    """One step of Loihi's fixed-point LIF (24-bit u wraps, v saturates), hard reset."""
    vth_eff = np.int64(vth) << 6
    for i in range(u.shape[0]):
        ui = _sm_decay(u[i], 4096 - du - 1) + (x[i] << 6)
        if ui > _UV_MAX:
            ui -= 2 * _UV_MAX
        elif ui <= -_UV_MAX:
            ui += 2 * _UV_MAX
        u[i] = ui
        vi = _sm_decay(v[i], 4096 - dv) + ui + bias
        vi = min(max(vi, -_UV_MAX + 1), _UV_MAX - 1)
        if vi > vth_eff:
            out[i] = 1
            vi = 0
        else:
            out[i] = 0
        v[i] = vi


@nb.njit(cache=True, nogil=True)
def _bispike_step(m: np.ndarray, s: np.ndarray, x: np.ndarray, first: bool, alpha: int,
                  out: np.ndarray) -> None:
    """One elastic bi-spiking step; ``s`` holds the previous step's symbols and is updated."""
    for i in range(m.shape[0]):
        if first:
            mi = x[i]
        else:
            mi = ((m[i] * (alpha - alpha * s[i])) >> 2) + x[i]
        if 2 * mi > alpha:
            si = 1
        elif 2 * mi < -alpha:
            si = -1
        else:
            si = 0
        m[i] = mi
        s[i] = si
        out[i] = si
