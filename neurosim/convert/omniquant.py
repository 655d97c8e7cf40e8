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
