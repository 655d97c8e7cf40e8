"""LLaMA forward over plain tensors in three numeric modes (torch, CPU).

* ``fp``: the checkpoint in FP32.
* ``w4a4``: per-output-channel min-max 4-bit weights; every linear input, Q, K and V
  quantized per token (asymmetric, ``abits``); P stays full precision.
* ``w4a16`` and ``w16a4``: only the weights or only the activations quantized (to see
  which of the two costs the accuracy).
* ``spikellm``: as ``w4a4``, but salient channels (per-module masks) use the high quantizer
  (``abits + addbit`` bits) capped at what ``2^addbit`` GIF steps can carry,
  ``min(q, 2^addbit·(2^abits - 1))`` (seed-methods §1.2, §1.6).

Quantizer of one row ``x`` (last dim): ``s = clamp((max - min)/(2^b - 1), 1e-5, 1e4)``,
``z = round(-min/s)``, ``q = clamp(round(x/s) + z, 0, 2^b - 1)``, ``x̂ = (q - z)·s``
(``round``: half to even, ties within ``TIE_TOL`` as below).
K and V are quantized per token and KV head (causal); the released code's K quantizer
reduces over the whole sequence, which a decoder cannot do.

The forward can record every spiking site's integer codes and accumulate the first-order
saliency scores ``σ_c = Σ_t x_tc·(x_t WᵀW)_c`` of the linears, ``Kᵀ⊙(QᵀQKᵀ)`` of K and
``V⊙(PᵀPV)`` of V (seed-methods §1.3).

``dtype`` is the runner's float type (FP32 by default).  Every code is a rounding of a
float, and a code that moves by one level moves the next layers' inputs by a whole
quantization step, so one flipped code changes thousands of later ones (the KV cache
carries it to later tokens).  Two things make the codes depend on the machine:

* last-ulp differences between torch's CPU kernels (AVX2 vs AVX-512 vectorisation, BLAS and
  reduction orders).  In FP32 they flip codes: a 1,024-token SmolLM2 trace recorded under
  ``ATEN_CPU_CAPABILITY=avx512`` and ``=default`` differs in 39 % of its codes (from token
  50 on).  In FP64 they stay below 1e-13 of a code step: over 48 tokens (16.4 million
  rounding arguments) the largest difference is 9.2e-14 and the closest differing argument
  lies 6.4e-9 from a decision boundary.  Traces are therefore recorded in FP64
  (neurosim.convert.record).
* exact ties.  Where an input row lies on the grid of an earlier quantizer (at the first
  token attention returns V itself, so ``o_proj``'s input is a multiple of V's scale),
  ``x/s`` and ``-min/s`` can be half-integers in exact arithmetic (SmolLM2: ``-min/s`` =
  4.5, 5.5, 7.5 and 10.5 at token 0 in four layers).  Computed in floats they land on the
  tie or one ulp to either side, depending on the last bit of that earlier scale, so the
  rounding goes either way from machine to machine in any precision.  :func:`round_half_even`
  therefore takes a value within ``TIE_TOL`` (relative) of a half-integer as that
  half-integer: the exact-arithmetic result.  ``TIE_TOL`` is far above FP64 rounding noise
  (ties land within a few ulps, ~1e-15) and below FP32's resolution, so FP32 results are
  those of plain ``torch.round``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from neurosim.convert.artifact import Artifact, SpikingConfig
from neurosim.convert.checkpoint import LINEAR_SITES, Checkpoint, LlamaShape, linear_name

MODES = ("fp", "w4a4", "spikellm", "w4a16", "w16a4")
QUANT_WEIGHTS = ("w4a4", "spikellm", "w4a16")
QUANT_ACTS = ("w4a4", "spikellm", "w16a4")
CACHE_SITES = ("k_cache", "v_cache")


TIE_TOL = 1e-10


def round_half_even(v: torch.Tensor) -> torch.Tensor:
    """``torch.round`` (half to even), a value within ``TIE_TOL·max(1, |v|)`` of a
    half-integer rounded as that half-integer (see the module docstring)."""
    half = torch.floor(v) + 0.5
    tie = (v - half).abs() <= TIE_TOL * v.abs().clamp(min=1.0)
    return torch.where(tie, torch.round(half), torch.round(v))


def quantize(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric min-max quantization over the last dim: codes ``q`` (float), ``s``, ``z``."""
    lo = x.amin(-1, keepdim=True)
    hi = x.amax(-1, keepdim=True)
    top = 2**bits - 1
    s = ((hi - lo) / top).clamp(1e-5, 1e4)
    z = round_half_even(-lo / s)
    q = (round_half_even(x / s) + z).clamp(0, top)
    return q, s, z


def quantize_weight(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-output-channel codes (C_out, C_in) uint8, scale (C_out,) f32, zero (C_out,) int16.

    The zero point lies outside ``0..2^bits - 1`` for a row that does not straddle 0.
    """
    if not 1 <= bits <= 8:
        raise ValueError("weight bits must be 1..8")
    q, s, z = quantize(w, bits)
    return q.to(torch.uint8), s[:, 0], z[:, 0].to(torch.int16)


def quantize_act(x: torch.Tensor, mask: torch.Tensor | None, abits: int, addbit: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer codes and fake-quantized values of activations ``x`` (..., C).

    ``mask`` (C,) or broadcastable bool marks salient channels (None: none).  Salient codes
    are high-quantizer codes capped at ``2^addbit·(2^abits - 1)``.
    """
    q, s, z = quantize(x, abits)
    if mask is None or addbit == 0 or not bool(mask.any()):
        return q, (q - z) * s
    qh, sh, zh = quantize(x, abits + addbit)
    qh = qh.clamp(max=(2**addbit) * (2**abits - 1))
    return torch.where(mask, qh, q), torch.where(mask, (qh - zh) * sh, (q - z) * s)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


@dataclass
class Recorder:
    """Integer codes of every spiking site, per (layer, site): lists of (T, C) uint8 arrays."""

    codes: dict[tuple[int, str], list[np.ndarray]] = field(default_factory=dict)

    def add(self, layer: int, site: str, q: torch.Tensor) -> None:
        self.codes.setdefault((layer, site), []).append(q.to(torch.uint8).numpy())

    def take(self) -> dict[tuple[int, str], np.ndarray]:
        out = {k: np.concatenate(v, axis=0) for k, v in self.codes.items()}
        self.codes.clear()
        return out


@dataclass
class Saliency:
    """Sums of first-order saliency scores per (layer, site) and the tokens seen."""

    sums: dict[tuple[int, str], torch.Tensor] = field(default_factory=dict)
    tokens: int = 0

    def add(self, layer: int, site: str, score: torch.Tensor) -> None:
        key = (layer, site)
        self.sums[key] = self.sums.get(key, 0) + score.double()

    def means(self) -> dict[tuple[int, str], np.ndarray]:
        return {k: (v / max(self.tokens, 1)).numpy() for k, v in self.sums.items()}


class LlamaRunner:
    """A LLaMA decoder in one numeric mode, run over token chunks with a KV cache."""

    def __init__(self, shape: LlamaShape, tensors: dict[str, torch.Tensor], mode: str,
                 config: SpikingConfig | None = None,
                 masks: dict[tuple[int, str], np.ndarray] | None = None,
                 weights: dict[tuple[int, str], torch.Tensor] | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError("dtype must be torch.float32 or torch.float64")
        self.shape, self.mode, self.dtype = shape, mode, dtype
        self.cfg = config or SpikingConfig()
        self.t = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        self.masks: dict[tuple[int, str], torch.Tensor] = {}
        if mode == "spikellm":
            if masks is None:
                raise ValueError("spikellm mode needs the salient masks")
            self.masks = {k: torch.as_tensor(np.asarray(v, bool)) for k, v in masks.items()}
        hd = shape.head_dim
        self.inv_freq = 1.0 / (shape.rope_theta ** (torch.arange(0, hd, 2, dtype=dtype) / hd))
        self.weights = {k: v.to(dtype) for k, v in (weights or {}).items()}
        # ``ffn(layer, x)`` replaces a layer's FFN output (x: (T, d) normed input), e.g. LTE's
        # routed experts; None runs the model's own FFN
        self.ffn: Callable[[int, torch.Tensor], torch.Tensor] | None = None
        for L in range(shape.layers if weights is None else 0):
            for site in LINEAR_SITES:
                w = tensors[linear_name(L, site)]
                if mode in QUANT_WEIGHTS:
                    q, s, z = quantize_weight(w, self.cfg.weight_bits)
                    w = (q.to(dtype) - z.to(dtype)[:, None]) * s.to(dtype)[:, None]
                self.weights[(L, site)] = w.to(dtype)

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint, mode: str, config: SpikingConfig | None = None,
                        masks: dict | None = None, dtype: torch.dtype = torch.float32
                        ) -> LlamaRunner:
        return cls(ckpt.shape, ckpt.tensors, mode, config, masks, dtype=dtype)

    @classmethod
    def from_artifact(cls, art: Artifact, mode: str, dtype: torch.dtype = torch.float32
                      ) -> LlamaRunner:
        """``w4a4`` or ``spikellm`` runner of a converted artifact (its integer weights).

        In FP64 the weights ``(codes - zero)·scale`` are exact (an int16 times an FP32 scale).
        """
        if mode not in QUANT_WEIGHTS:
            raise ValueError("an artifact holds quantized weights only")
        sh = art.shape
        npd = np.float64 if dtype == torch.float64 else np.float32
        weights = {(L, s): torch.from_numpy(art.dequantized_weight(L, s, npd))
                   for L in range(sh.layers) for s in LINEAR_SITES}
        tensors = {k: torch.from_numpy(np.array(v, np.float32)) for k, v in art.fp_tensors().items()}
        return cls(sh, tensors, mode, art.config, art.masks() if mode == "spikellm" else None, weights,
                   dtype=dtype)

    # --- pieces ------------------------------------------------------------------------

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.shape.rms_eps) * self.t[name]

    def _act(self, x: torch.Tensor, layer: int, site: str, addbit: int,
             record: Recorder | None) -> torch.Tensor:
        if self.mode not in QUANT_ACTS:
            return x
        mask = self.masks.get((layer, site)) if self.mode == "spikellm" else None
        if mask is not None and x.ndim == 3:  # (kv heads, T, head_dim): per (head, channel)
            mask = mask.view(x.shape[0], 1, x.shape[2])
        q, xh = quantize_act(x, mask, self.cfg.abits, addbit)
        if record is not None:
            record.add(layer, site, q.reshape(q.shape[0], -1) if q.ndim == 2 else
                       q.permute(1, 0, 2).reshape(q.shape[1], -1))
        return xh

    def _linear(self, x: torch.Tensor, layer: int, site: str, record: Recorder | None,
                saliency: Saliency | None) -> torch.Tensor:
        w = self.weights[(layer, site)]
        xq = self._act(x, layer, site, self.cfg.addbit, record)
        y = xq @ w.T
        if saliency is not None:
            saliency.add(layer, site, (x * ((x @ w.T) @ w)).sum(0))
        return y

    def _rope(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        freqs = pos[:, None].to(self.dtype) * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return x * emb.cos() + _rotate_half(x) * emb.sin()

    def new_cache(self) -> list[list[torch.Tensor]]:
        hd, kvh = self.shape.head_dim, self.shape.kv_heads
        return [[torch.zeros(kvh, 0, hd, dtype=self.dtype), torch.zeros(kvh, 0, hd, dtype=self.dtype)]
                for _ in range(self.shape.layers)]

    # --- forward -----------------------------------------------------------------------

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, cache: list[list[torch.Tensor]] | None = None,
                record: Recorder | None = None, saliency: Saliency | None = None) -> torch.Tensor:
        """Logits (T, vocab) of ``ids`` (T,) following the ``cache`` (updated in place)."""
        sh, cfg = self.shape, self.cfg
        T, hd, H, KVH = ids.shape[0], sh.head_dim, sh.heads, sh.kv_heads
        group = H // KVH
        cache = cache if cache is not None else self.new_cache()
        past = cache[0][0].shape[1]
        pos = torch.arange(past, past + T)
        causal = torch.ones(T, past + T, dtype=torch.bool).tril(past)
        h = self.t["model.embed_tokens.weight"][ids]
        if saliency is not None:
            saliency.tokens += T
        for L in range(sh.layers):
            x = self._norm(h, f"model.layers.{L}.input_layernorm.weight")
            q = self._linear(x, L, "q_proj", record, saliency).view(T, H, hd).transpose(0, 1)
            k = self._linear(x, L, "k_proj", record, saliency).view(T, KVH, hd).transpose(0, 1)
            v = self._linear(x, L, "v_proj", record, saliency).view(T, KVH, hd).transpose(0, 1)
            q, k = self._rope(q, pos), self._rope(k, pos)
            if saliency is not None:
                qtq = torch.einsum("gjtc,gjtd->gcd", q.view(KVH, group, T, hd), q.view(KVH, group, T, hd))
                saliency.add(L, "k_cache", (k * (k @ qtq)).sum(1).reshape(-1))
            if self.mode in QUANT_ACTS:
                q = quantize_act(q, None, cfg.abits, 0)[1]
                k = self._act(k, L, "k_cache", cfg.kv_addbit, record)
                v = self._act(v, L, "v_cache", cfg.kv_addbit, record)
            kc = torch.cat([cache[L][0], k], dim=1)
            vc = torch.cat([cache[L][1], v], dim=1)
            cache[L][0], cache[L][1] = kc, vc
            kx = kc.repeat_interleave(group, dim=0)
            vx = vc.repeat_interleave(group, dim=0)
            scores = (q @ kx.transpose(1, 2)) / math.sqrt(hd)
            p = scores.masked_fill(~causal, float("-inf")).softmax(-1)
            if saliency is not None:
                ptp = torch.einsum("gjts,gjtu->gsu", p.view(KVH, group, T, -1), p.view(KVH, group, T, -1))
                saliency.add(L, "v_cache", (vc * (ptp @ vc)).sum(1).reshape(-1))
            att = (p @ vx).transpose(0, 1).reshape(T, H * hd)
            h = h + self._linear(att, L, "o_proj", record, saliency)
            x = self._norm(h, f"model.layers.{L}.post_attention_layernorm.weight")
            if self.ffn is not None:
                h = h + self.ffn(L, x)
                continue
            g = self._linear(x, L, "gate_proj", record, saliency)
            u = self._linear(x, L, "up_proj", record, saliency)
            h = h + self._linear(torch.nn.functional.silu(g) * u, L, "down_proj", record, saliency)
        h = self._norm(h, "model.norm.weight")
        head = self.t["model.embed_tokens.weight" if sh.tied_embeddings else "lm_head.weight"]
        return h @ head.T
