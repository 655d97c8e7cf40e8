"""SpikeLLM GIF coding (seed-methods §1.2): per-token asymmetric quantization and the
greedy subtractive decomposition of salient channels into graded spikes.

For one token vector ``x`` (``C`` channels), ``b`` base bits and ``a`` extra bits:

* ``s = (max x - min x) / (2^b - 1)`` clamped to [1e-5, 1e4]; ``z = round(-min x / s)``;
  ``q = clamp(round(x / s) + z, 0, 2^b - 1)`` (round half to even, as torch.round);
* a salient channel uses the high quantizer (``b + a`` bits, its own ``s``, ``z``) and is
  sent in ``S = 2^a`` steps: ``u_1 = q``, ``o_k = min(u_k, M)``, ``u_{k+1} = u_k - o_k`` with
  ``M = 2^b - 1``, so ``sum_k o_k = min(q, S·M)``;
* a non-salient channel is one step carrying its base code.

The zero point is carried as a per-token bias, not as spikes: code 0 means the channel
equals the token's minimum.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_S_MIN, _S_MAX = 1e-5, 1e4


@nb.njit(cache=True)
def _quant_params(x: np.ndarray, bits: int) -> tuple[float, float]:
    lo, hi = x.min(), x.max()
    levels = (1 << bits) - 1
    s = (hi - lo) / levels
    s = min(max(s, _S_MIN), _S_MAX)
    z = np.rint(-lo / s)
    return s, z


@nb.njit(cache=True)
def _gif_codes_into(x: np.ndarray, salient: np.ndarray, abits: int, addbit: int,
                    out: np.ndarray) -> None:
    """Write codes of one token into ``out`` (steps, C) int8; steps >= 2^addbit if any salient."""
    m = (1 << abits) - 1
    s_b, z_b = _quant_params(x, abits)
    s_h, z_h = _quant_params(x, abits + addbit)
    top_h = (1 << (abits + addbit)) - 1
    n_steps = out.shape[0]
    for c in range(x.shape[0]):
        for k in range(n_steps):
            out[k, c] = 0
        if salient[c]:
            q = int(min(max(np.rint(x[c] / s_h) + z_h, 0.0), top_h))
            u = q
            for k in range(1 << addbit):
                o = min(u, m)
                out[k, c] = o
                u -= o
        else:
            out[0, c] = int(min(max(np.rint(x[c] / s_b) + z_b, 0.0), m))


def gif_codes(x: np.ndarray, salient: np.ndarray, abits: int, addbit: int) -> np.ndarray:
    """Codes of one token: shape (2^addbit if any channel is salient else 1, C), int8.

    ``x`` (C,) float activations; ``salient`` (C,) bool mask.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    salient = np.ascontiguousarray(salient, dtype=np.bool_)
    if x.ndim != 1 or salient.shape != x.shape:
        raise ValueError("x and salient must be 1-D of the same length")
    if not 1 <= abits <= 7 or not 0 <= addbit <= 4:
        raise ValueError("abits must be 1..7 and addbit 0..4")
    steps = (1 << addbit) if salient.any() else 1
    out = np.zeros((steps, x.shape[0]), np.int8)
    _gif_codes_into(x, salient, abits, addbit, out)
    return out


def gif_steps(codes: np.ndarray, abits: int, steps: int) -> np.ndarray:
    """Graded spikes of integer codes: ``o_k = clip(q - k·M, 0, M)``, ``M = 2^abits - 1``.

    The greedy subtractive decomposition written in closed form; a code ``q <= M`` is one
    spike. ``codes`` (N,) non-negative ints (at most ``steps·M``). Returns (steps, N) int8.
    """
    m = (1 << abits) - 1
    q = np.asarray(codes, np.int16)
    k = np.arange(steps, dtype=np.int16)[:, None] * m
    return np.clip(q[None, :] - k, 0, m).astype(np.int8)
