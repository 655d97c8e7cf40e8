"""OmniQuant's pieces (Shao et al., ICLR 2024; released code OpenGVLab/OmniQuant@95fae1b):
learnable weight clipping (LWC) and the learnable equivalent transformation (LET), for a
LLaMA checkpoint's tensors (``model.layers.<L>...``, (out, in) weights).

LET moves a channel scale ``s`` between an activation and the weights that read it, which
leaves the full-precision model unchanged and makes the activation easier to quantize:

* ``qkv``: the input RMSNorm's weight divided by ``s`` (d,), the columns of q, k and v
  multiplied by it;
* ``fc1``: the same between the post-attention RMSNorm and gate/up;
* ``out``: the rows of v divided by ``s`` (d_kv,), the columns of o multiplied by the scale
  of the KV head each query head reads (grouped-query attention: o's input channel
  ``(h, j)`` takes ``s[(h // group), j]``);
* ``qkt``: the rows of q divided and those of k multiplied by ``s`` (d_kv,), the query head
  ``h`` taking its KV head's scale; ``s`` is tied across each rotary pair (``j`` and
  ``j + head_dim/2``) so that RoPE commutes with it.

The released code has no LET for ``down_proj`` and trains no shifts for LLaMA's RMSNorm.
"""

from __future__ import annotations

import torch

from neurosim.convert.checkpoint import linear_name

LWC_INIT = 4.0
"""Initial value of LWC's clipping logits: ``sigmoid(4) = 0.982`` of the min-max range."""


def lwc_fake_quant(w: torch.Tensor, up: torch.Tensor, low: torch.Tensor, bits: int
                   ) -> torch.Tensor:
    """Weights (out, in) fake-quantized per output row to ``bits`` with learnable clipping:
    ``max' = sigmoid(up)·max``, ``min' = sigmoid(low)·min``, asymmetric, rounding by the
    straight-through estimator (gradients reach ``up``/``low`` through the scale)."""
    levels = 2**bits - 1
    hi = torch.sigmoid(up) * w.amax(dim=1)
    lo = torch.sigmoid(low) * w.amin(dim=1)
    scale = ((hi - lo) / levels).clamp(1e-5, 1e4)[:, None]
    zero = torch.round(-lo[:, None] / scale).detach()
    x = w / scale
    q = (x.round() - x).detach() + x  # straight-through rounding
    return (torch.clamp(q + zero, 0, levels) - zero) * scale


def apply_let(t: dict[str, torch.Tensor], layer: int, heads: int, kv_heads: int,
              s_qkv: torch.Tensor | None = None, s_fc1: torch.Tensor | None = None,
              s_out: torch.Tensor | None = None, s_qkt: torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
    """A copy of ``t`` with the given LET scales folded into layer ``layer``'s norms and
    weights (see the module docstring); ``s_qkt`` (d_kv,) must be equal across each rotary
    pair of a head."""
    out = dict(t)
    pre = f"model.layers.{layer}"
    q, k, v, o = (linear_name(layer, s) for s in ("q_proj", "k_proj", "v_proj", "o_proj"))
    group = heads // kv_heads
    if s_qkv is not None:
        out[f"{pre}.input_layernorm.weight"] = t[f"{pre}.input_layernorm.weight"] / s_qkv
        for name in (q, k, v):
            out[name] = t[name] * s_qkv[None, :]
    if s_fc1 is not None:
        out[f"{pre}.post_attention_layernorm.weight"] = (
            t[f"{pre}.post_attention_layernorm.weight"] / s_fc1)
        for site in ("gate_proj", "up_proj"):
            name = linear_name(layer, site)
            out[name] = t[name] * s_fc1[None, :]
    if s_out is not None:
        out[v] = out[v] / s_out[:, None]
        out[o] = out[o] * _per_query_head(s_out, kv_heads, group)[None, :]
    if s_qkt is not None:
        out[q] = out[q] / _per_query_head(s_qkt, kv_heads, group)[:, None]
        out[k] = out[k] * s_qkt[:, None]
    return out


def _per_query_head(s: torch.Tensor, kv_heads: int, group: int) -> torch.Tensor:
    """(d_kv,) per KV-head channel scales spread over the query heads that share each KV
    head: (heads · head_dim,)."""
    hd = s.shape[0] // kv_heads
    return s.view(kv_heads, 1, hd).expand(kv_heads, group, hd).reshape(-1)


def tie_rotary_pairs(s: torch.Tensor, kv_heads: int) -> torch.Tensor:
    """(d_kv,) scales made equal across each rotary pair (``j``, ``j + head_dim/2``) of
    every head: the first half's values repeated."""
    hd = s.shape[0] // kv_heads
    half = s.view(kv_heads, hd)[:, : hd // 2]
    return torch.cat([half, half], dim=1).reshape(-1)


def _act_fake_quant(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-token asymmetric min-max fake quantization of activations (..., C), rounding by
    the straight-through estimator."""
    levels = 2**bits - 1
    lo, hi = x.amin(-1, keepdim=True), x.amax(-1, keepdim=True)
    scale = ((hi - lo) / levels).clamp(1e-5, 1e4)
    zero = torch.round(-lo / scale).detach()
    v = x / scale
    q = (v.round() - v).detach() + v
    return (torch.clamp(q + zero, 0, levels) - zero) * scale


def _rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary embedding of (heads, T, head_dim) at positions 0..T-1."""
    hd, T = x.shape[-1], x.shape[-2]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=x.dtype) / hd))
    freqs = torch.arange(T, dtype=x.dtype)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    half = torch.cat((-x[..., hd // 2:], x[..., : hd // 2]), dim=-1)
    return x * emb.cos() + half * emb.sin()


SITES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def block_forward(x: torch.Tensor, t: dict[str, torch.Tensor], layer: int, shape,
                  bits: tuple[int, int] | None = None,
                  clip: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
                  ) -> torch.Tensor:
    """Decoder layer ``layer`` of ``t`` on hidden states (T, d), causal over the T tokens.

    ``bits`` = (weight bits, activation bits): weights fake-quantized per row with the LWC
    logits ``clip[site]``, every linear's input per token (None: full precision)."""
    sh, pre = shape, f"model.layers.{layer}"
    T, H, KVH, hd = x.shape[0], sh.heads, sh.kv_heads, sh.d_model // sh.heads
    group = H // KVH

    def w(site: str) -> torch.Tensor:
        m = t[linear_name(layer, site)]
        return m if bits is None else lwc_fake_quant(m, *clip[site], bits[0])

    def a(v: torch.Tensor) -> torch.Tensor:
        return v if bits is None else _act_fake_quant(v, bits[1])

    def norm(v: torch.Tensor, name: str) -> torch.Tensor:
        return v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + sh.rms_eps) * t[name]

    xn = a(norm(x, f"{pre}.input_layernorm.weight"))
    q = (xn @ w("q_proj").T).view(T, H, hd).transpose(0, 1)
    k = (xn @ w("k_proj").T).view(T, KVH, hd).transpose(0, 1)
    v = (xn @ w("v_proj").T).view(T, KVH, hd).transpose(0, 1)
    q, k = _rope(q, sh.rope_theta), _rope(k, sh.rope_theta)
    scores = q @ k.repeat_interleave(group, dim=0).transpose(1, 2) / hd**0.5
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    p = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    att = (p @ v.repeat_interleave(group, dim=0)).transpose(0, 1).reshape(T, H * hd)
    h = x + a(att) @ w("o_proj").T
    xn = a(norm(h, f"{pre}.post_attention_layernorm.weight"))
    f = torch.nn.functional.silu(xn @ w("gate_proj").T) * (xn @ w("up_proj").T)
    return h + a(f) @ w("down_proj").T


def calibrate_layer(t: dict[str, torch.Tensor], layer: int, shape, x_q: list[torch.Tensor],
                    target: list[torch.Tensor], bits: tuple[int, int], epochs: int,
                    lr_lwc: float = 1e-2, lr_let: float = 1e-3
                    ) -> tuple[dict[str, torch.Tensor], dict, list[float]]:
    """Train layer ``layer``'s LWC logits and LET scales (qkv, fc1, out, q/k) so that the
    quantized layer on ``x_q`` (its quantized inputs, (T, d) each) matches ``target`` (the
    full-precision chain's outputs): MSE, AdamW, no weight decay, one sample per step, in
    the given order (deterministic).  Returns the tensors with the scales folded in, the
    LWC logits per site and the mean loss of each epoch."""
    sh = shape
    d_kv = sh.kv_heads * (sh.d_model // sh.heads)
    dt = t[linear_name(layer, "q_proj")].dtype
    let = {"s_qkv": torch.ones(sh.d_model, dtype=dt), "s_fc1": torch.ones(sh.d_model, dtype=dt),
           "s_out": torch.ones(d_kv, dtype=dt), "s_qkt": torch.ones(d_kv, dtype=dt)}
    raw = {k: v.clone().requires_grad_(True) for k, v in let.items()}
    clip = {s: (torch.full((t[linear_name(layer, s)].shape[0],), LWC_INIT, dtype=dt,
                           requires_grad=True),
                torch.full((t[linear_name(layer, s)].shape[0],), LWC_INIT, dtype=dt,
                           requires_grad=True)) for s in SITES}
    opt = torch.optim.AdamW([{"params": list(raw.values()), "lr": lr_let},
                             {"params": [p for pair in clip.values() for p in pair],
                              "lr": lr_lwc}], weight_decay=0.0)

    def folded() -> dict[str, torch.Tensor]:
        s = {k: v.clamp(min=1e-5) for k, v in raw.items()}
        s["s_qkt"] = tie_rotary_pairs(s["s_qkt"], sh.kv_heads)
        return apply_let(t, layer, sh.heads, sh.kv_heads, **s)

    losses = []
    for _ in range(epochs):
        total = 0.0
        for xi, yi in zip(x_q, target):
            loss = torch.nn.functional.mse_loss(block_forward(xi, folded(), layer, sh, bits, clip),
                                                yi)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"layer {layer}: the calibration loss is not finite")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        losses.append(total / len(x_q))
    with torch.no_grad():
        return ({k: v.detach() for k, v in folded().items()},
                {s: (u.detach(), lo.detach()) for s, (u, lo) in clip.items()}, losses)


def calibrate(tensors: dict[str, torch.Tensor], shape, windows: list, bits: tuple[int, int],
              epochs: int, progress=None) -> tuple[dict[str, torch.Tensor], dict]:
    """OmniQuant over every decoder layer, first to last: each layer is trained on the
    quantized chain's inputs against the full-precision chain's outputs, then feeds its
    quantized outputs to the next (the released code's block-wise scheme).  ``windows``:
    token-id arrays.  Returns the tensors with every LET folded in (float64) and the LWC
    logits per (layer, site)."""
    t = {k: v.to(torch.float64) if v.is_floating_point() else v for k, v in tensors.items()}
    emb = t["model.embed_tokens.weight"]
    h_fp = [emb[torch.as_tensor(w)] for w in windows]
    h_q = [h.clone() for h in h_fp]
    clips = {}
    for L in range(shape.layers):
        with torch.no_grad():
            target = [block_forward(h, t, L, shape) for h in h_fp]
        t, clip, _ = calibrate_layer(t, L, shape, h_q, target, bits, epochs)
        with torch.no_grad():
            h_q = [block_forward(h, t, L, shape, bits, clip) for h in h_q]
        h_fp = target
        clips.update({(L, s): c for s, c in clip.items()})
        if progress is not None:
            progress(L + 1, shape.layers)
    return t, clips


def quantize_weight_clipped(w: torch.Tensor, up: torch.Tensor, low: torch.Tensor, bits: int
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`lwc_fake_quant`'s integer form: codes (out, in) uint8, scale (out,) float32,
    zero (out,) int16, with ``(codes - zero)·scale`` its fake-quantized weights."""
    levels = 2**bits - 1
    hi = torch.sigmoid(up) * w.amax(dim=1)
    lo = torch.sigmoid(low) * w.amin(dim=1)
    scale = ((hi - lo) / levels).clamp(1e-5, 1e4)
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(w / scale[:, None]) + zero[:, None], 0, levels)
    return q.to(torch.uint8), scale.to(torch.float32), zero.to(torch.int16)
