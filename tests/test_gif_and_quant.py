"""GIF decomposition and the SpikeLLM quantizers (seed-methods §1.2, §1.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.traffic.gif import gif_codes, gif_steps

torch = pytest.importorskip("torch")
from neurosim.convert.model import quantize, quantize_act, quantize_weight  # noqa: E402


def slow_gif(q: int, m: int, steps: int) -> list[int]:
    """The IF neuron of §1.2 step by step: u1 = q; o_k = min(u_k, M); u_{k+1} = u_k - o_k."""
    u, out = q, []
    for _ in range(steps):
        o = min(u, m)
        out.append(o)
        u -= o
    return out


@settings(max_examples=200, deadline=None)
@given(abits=st.integers(1, 6), addbit=st.integers(0, 3), data=st.data())
def test_gif_steps_equal_subtractive_reset(abits, addbit, data):
    m, steps = 2**abits - 1, 2**addbit
    codes = data.draw(st.lists(st.integers(0, steps * m), min_size=1, max_size=40))
    got = gif_steps(np.array(codes), abits, steps)
    assert got.shape == (steps, len(codes))
    for c, q in enumerate(codes):
        assert got[:, c].tolist() == slow_gif(q, m, steps)
        assert int(got[:, c].sum()) == min(q, steps * m)  # Σ steps = min(q, S·M)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_gif_codes_sum_is_the_capped_high_code(seed):
    # the numba coder: a salient channel's steps sum to min(q_high, S·M) of the
    # (abits + addbit)-bit quantizer, a non-salient channel is its base code in one step
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, 50) * rng.lognormal(0, 1)
    sal = rng.random(50) < 0.2
    out = gif_codes(x, sal, 4, 1)
    lo, hi = x.min(), x.max()
    s_h = min(max((hi - lo) / 31, 1e-5), 1e4)
    q_h = np.clip(np.rint(x / s_h) + np.rint(-lo / s_h), 0, 31)
    s_b = min(max((hi - lo) / 15, 1e-5), 1e4)
    q_b = np.clip(np.rint(x / s_b) + np.rint(-lo / s_b), 0, 15)
    assert np.array_equal(out.sum(axis=0)[sal], np.minimum(q_h, 30)[sal])
    assert np.array_equal(out[0][~sal], q_b[~sal]) and not out[1][~sal].any()


def test_saturation_of_two_steps():
    # n = 4, a = 1: the top 5-bit code 31 becomes 30 = 2 x 15 (seed-methods §1.2)
    assert gif_steps(np.array([31]), 4, 2).sum() == 30
    assert gif_steps(np.array([61, 62, 63]), 4, 4).sum(axis=0).tolist() == [60, 60, 60]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_spiking_linear_equals_fake_quant_in_the_integer_domain(seed):
    # §1.6: fake quantization x̂ = Q_n(x)·m + Q_{n+a}(x)·(1-m) then W x̂ equals the
    # event-driven GIF layer: integer weights accumulate every graded spike of every step,
    # and the zero points enter as per-token bias terms.
    g = torch.Generator().manual_seed(seed)
    c_in, c_out = 24, 7
    x = torch.randn(3, c_in, generator=g) * torch.rand(c_in, generator=g) * 4
    w = torch.randn(c_out, c_in, generator=g)
    mask = torch.rand(c_in, generator=g) < 0.25
    wq, ws, wz = quantize_weight(w, 4)
    w_int = wq.long() - wz.long()[:, None]                         # signed, -15..15
    w_hat = w_int.float() * ws[:, None]
    codes, x_hat = quantize_act(x, mask, 4, 1)
    fake = x_hat @ w_hat.T
    for t in range(x.shape[0]):
        q = codes[t].long().numpy()
        spikes = gif_steps(q, 4, 2)                                # (2, c_in)
        acc = np.zeros(c_out, np.int64)
        for k in range(spikes.shape[0]):                           # one event per nonzero spike
            for c in np.flatnonzero(spikes[k]):
                acc += w_int[:, c].numpy() * int(spikes[k, c])
        m_np = mask.numpy()
        assert np.array_equal(acc, w_int.numpy() @ np.minimum(q, 30))   # exact integers
        # dequantize: per-token scales and zero points of the two quantizers
        lo, hi = float(x[t].min()), float(x[t].max())
        s_b = min(max((hi - lo) / 15, 1e-5), 1e4)
        s_h = min(max((hi - lo) / 31, 1e-5), 1e4)
        z_b, z_h = round(-lo / s_b), round(-lo / s_h)
        acc_b = w_int.numpy()[:, ~m_np] @ q[~m_np]
        acc_h = w_int.numpy()[:, m_np] @ q[m_np]
        y = ws.numpy() * (s_b * (acc_b - z_b * w_int.numpy()[:, ~m_np].sum(1))
                          + s_h * (acc_h - z_h * w_int.numpy()[:, m_np].sum(1)))
        np.testing.assert_allclose(y, fake[t].numpy(), rtol=1e-4, atol=1e-4)


def _exact_codes(k: list[int], bits: int) -> list[int]:
    """The quantizer of a row ``k·u`` in exact rational arithmetic (any ``u > 0``)."""
    from fractions import Fraction

    lo, hi, top = min(k), max(k), 2**bits - 1
    s = Fraction(hi - lo, top)
    z = round(Fraction(-lo) / s)  # Python rounds a Fraction half to even
    return [min(max(round(Fraction(v) / s) + z, 0), top) for v in k]


@settings(max_examples=300, deadline=None)
@given(u=st.floats(1e-4, 10.0), lo=st.integers(-31, 0), width=st.sampled_from([15, 30, 31, 45, 62]),
       bits=st.sampled_from([4, 5]))
def test_quantizer_codes_of_a_grid_row_do_not_depend_on_its_scale(u, lo, width, bits):
    # a row on an earlier quantizer's grid (x = k·u: at token 0 attention returns V itself)
    # has exact half-integer ties; in FP64 its codes are those of exact arithmetic for every
    # scale u, not a float rounding that goes either way with u's last bits
    k = list(range(lo, lo + width + 1))
    x = torch.tensor([v * u for v in k], dtype=torch.float64)
    assert quantize(x, bits)[0].long().tolist() == _exact_codes(k, bits)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 4, 5, 8]))
def test_fp32_quantizer_is_plain_round_half_even(seed, bits):
    # the tie tolerance is below FP32's resolution: FP32 codes (weights, evaluation) are
    # those of torch.round, exact ties included
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 40, generator=g) * 3
    x[0] = torch.arange(40, dtype=torch.float32) * 0.25 - 4.0  # grid row with exact ties
    q, s, z = quantize(x, bits)
    lo, hi = x.amin(-1, keepdim=True), x.amax(-1, keepdim=True)
    s0 = ((hi - lo) / (2**bits - 1)).clamp(1e-5, 1e4)
    z0 = torch.round(-lo / s0)
    assert torch.equal(z, z0)
    assert torch.equal(q, (torch.round(x / s0) + z0).clamp(0, 2**bits - 1))
