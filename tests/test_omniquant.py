"""OmniQuant's pieces: LET is an exact equivalence of the full-precision model (GQA and RoPE
included), and LWC's fake quantization is the min-max quantizer at its initial clipping."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurosim.convert.checkpoint import LINEAR_SITES, LlamaShape, linear_name  # noqa: E402
from neurosim.convert.model import LlamaRunner  # noqa: E402
from neurosim.convert.omniquant import (  # noqa: E402
    LWC_INIT,
    apply_let,
    lwc_fake_quant,
    tie_rotary_pairs,
)

SHAPE = LlamaShape(layers=2, d_model=48, heads=6, kv_heads=2, d_ffn=80, vocab=50,
                   rms_eps=1e-6, rope_theta=10000.0, tied_embeddings=True)


def _tensors(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sh, d_kv = SHAPE, SHAPE.kv_heads * SHAPE.head_dim
    dims = {"q_proj": (sh.d_model, sh.d_model), "k_proj": (d_kv, sh.d_model),
            "v_proj": (d_kv, sh.d_model), "o_proj": (sh.d_model, sh.d_model),
            "gate_proj": (sh.d_ffn, sh.d_model), "up_proj": (sh.d_ffn, sh.d_model),
            "down_proj": (sh.d_model, sh.d_ffn)}
    t = {"model.embed_tokens.weight": torch.randn(sh.vocab, sh.d_model, generator=g,
                                                  dtype=torch.float64),
         "model.norm.weight": 1 + 0.1 * torch.randn(sh.d_model, generator=g, dtype=torch.float64)}
    for L in range(sh.layers):
        for site in LINEAR_SITES:
            t[linear_name(L, site)] = 0.2 * torch.randn(*dims[site], generator=g, dtype=torch.float64)
        for norm in ("input_layernorm", "post_attention_layernorm"):
            t[f"model.layers.{L}.{norm}.weight"] = 1 + 0.1 * torch.randn(
                sh.d_model, generator=g, dtype=torch.float64)
    return t


def _logits(t: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    return LlamaRunner(SHAPE, t, "fp", dtype=torch.float64).forward(ids)


@pytest.mark.parametrize("which", ["qkv", "fc1", "out", "qkt", "all"])
def test_let_is_an_exact_equivalence(which):
    """Positive random scales folded into every layer leave the FP64 logits equal to within
    rounding (1e-10 relative), for each transformation alone and all together."""
    t = _tensors(0)
    ids = torch.arange(12) % SHAPE.vocab
    base = _logits(t, ids)
    g = torch.Generator().manual_seed(1)
    d_kv = SHAPE.kv_heads * SHAPE.head_dim

    def scales(n):
        return torch.exp(torch.randn(n, generator=g, dtype=torch.float64))

    folded = t
    for L in range(SHAPE.layers):
        kw = {"s_qkv": scales(SHAPE.d_model), "s_fc1": scales(SHAPE.d_model),
              "s_out": scales(d_kv), "s_qkt": tie_rotary_pairs(scales(d_kv), SHAPE.kv_heads)}
        if which != "all":
            kw = {f"s_{which}": kw[f"s_{which}"]}
        folded = apply_let(folded, L, SHAPE.heads, SHAPE.kv_heads, **kw)
    changed = {"qkv": "q_proj", "fc1": "up_proj", "out": "v_proj", "qkt": "k_proj",
               "all": "o_proj"}[which]
    assert not torch.equal(folded[linear_name(0, changed)], t[linear_name(0, changed)])
    got = _logits(folded, ids)
    torch.testing.assert_close(got, base, rtol=1e-10, atol=1e-10)


def test_untied_rotary_scales_break_the_equivalence():
    """The rotary pairs must share a scale: without the tie RoPE does not commute with it."""
    t = _tensors(2)
    ids = torch.arange(10) % SHAPE.vocab
    g = torch.Generator().manual_seed(3)
    s = torch.exp(torch.randn(SHAPE.kv_heads * SHAPE.head_dim, generator=g, dtype=torch.float64))
    folded = apply_let(t, 0, SHAPE.heads, SHAPE.kv_heads, s_qkt=s)
    assert (_logits(folded, ids) - _logits(t, ids)).abs().max() > 1e-6


def test_lwc_at_full_range_is_min_max():
    """With clipping logits so large that sigmoid is 1, LWC's fake quantization equals the
    min-max quantizer of the project (codes, scales and zero points)."""
    from neurosim.convert.model import quantize_weight

    w = torch.randn(16, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    big = torch.full((16,), 50.0, dtype=torch.float64)
    q, s, z = quantize_weight(w, 4)
    want = (q.double() - z.double()[:, None]) * s.double()[:, None]
    got = lwc_fake_quant(w, big, big, 4)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-9)


def test_lwc_clips_and_passes_gradients():
    w = torch.randn(8, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    up = torch.full((8,), LWC_INIT, dtype=torch.float64, requires_grad=True)
    low = torch.full((8,), LWC_INIT, dtype=torch.float64, requires_grad=True)
    fq = lwc_fake_quant(w, up, low, 4)
    hi, lo = torch.sigmoid(up) * w.amax(dim=1), torch.sigmoid(low) * w.amin(dim=1)
    step = (hi - lo) / 15  # the grid's zero point is rounded: the range moves by < a step
    assert (fq.amax(dim=1) <= hi + step).all() and (fq.amin(dim=1) >= lo - step).all()
    assert (fq.amax(dim=1) < w.amax(dim=1)).any()  # something was clipped
    ((fq - w) ** 2).sum().backward()
    assert up.grad is not None and torch.isfinite(up.grad).all() and up.grad.abs().sum() > 0


def test_block_forward_in_full_precision_is_the_runner():
    """The differentiable block (no quantization) equals the project's LlamaRunner layer."""
    from neurosim.convert.omniquant import block_forward

    t = _tensors(6)
    ids = torch.arange(9) % SHAPE.vocab
    x = t["model.embed_tokens.weight"][ids]
    h = x
    for L in range(SHAPE.layers):
        h = block_forward(h, t, L, SHAPE)
    from neurosim.convert.model import LlamaRunner

    runner = LlamaRunner(SHAPE, t, "fp", dtype=torch.float64)
    want = runner.forward(ids)
    got = runner._norm(h, "model.norm.weight") @ t["model.embed_tokens.weight"].T
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_calibration_lowers_the_loss_and_is_deterministic():
    from neurosim.convert.omniquant import block_forward, calibrate_layer

    t = _tensors(7)
    g = torch.Generator().manual_seed(8)
    xs = [torch.randn(16, SHAPE.d_model, generator=g, dtype=torch.float64) for _ in range(4)]
    targets = [block_forward(x, t, 0, SHAPE) for x in xs]
    runs = [calibrate_layer(t, 0, SHAPE, xs, targets, (4, 4), epochs=4) for _ in range(2)]
    (folded, clip, losses, _), (folded2, _, losses2, _) = runs
    assert losses[-1] < losses[0], losses
    assert losses == losses2
    for k in folded:
        assert torch.equal(folded[k], folded2[k]), k
