"""Lowering: model card (shapes only) -> EventGraph, one builder per (family, scheme).

Closed-form op counts of the non-spiking operations, per token (``C`` channels in, ``C_out``
out, ``h`` heads, ``p`` 0-based position, so ``p + 1`` attended positions):

=================  ==========================================================================
RMSNorm (d)        mul 3d (square, scale, weight), add d (sum), special 1 (rsqrt)
quantize (C)       add 3C (min, max, zero point), mul C (divide by scale), special 2 (scales)
dequantize (C_out) mul 3 C_out (zero-point bias, activation and weight scales), add C_out
RoPE (C)           mul C, add C/2 per rotated pair set (2 mul + 1 add per pair)
QKᵀ dequant        per position: mul 2h, add h (scale, zero point); scale 1/sqrt(d_h) in mul
softmax (h rows)   per position: special h (exp), add 2h (max, sum), mul h (normalise);
                   fixed: special h (reciprocal of the sum)
SiLU·gate (f)      special f (sigmoid), mul 2f
residual (d)       add d
lm_head            mac d·V (full precision), add V (argmax)
=================  ==========================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from neurosim.cards.schema import DenseScheme, LlamaCard, ModelCard, SpikeLLMScheme
from neurosim.convert.artifact import Artifact
from neurosim.errors import InputError, NotImplementedYet
from neurosim.graph.ir import DenseOp, EventGraph, KVCache, NeuronGroup, SynapseBlock

FP_BYTES = 2  # full-precision parameters and activations are FP16

Builder = Callable[[ModelCard], EventGraph]
_BUILDERS: dict[tuple[str, str], Builder] = {}


def register(family: str, scheme: str) -> Callable[[Builder], Builder]:
    """Register a lowering for one (family, scheme) pair."""

    def deco(fn: Builder) -> Builder:
        _BUILDERS[(family, scheme)] = fn
        return fn

    return deco


def lower(card: ModelCard) -> EventGraph:
    """EventGraph of ``card`` from its shapes (synthetic weights: dense fan-out)."""
    key = (card.family, card.spiking.scheme)
    if key not in _BUILDERS:
        done = ", ".join(f"{f}/{s}" for f, s in sorted(_BUILDERS))
        raise NotImplementedYet(
            f"{card.name}: lowering of family '{key[0]}' with scheme '{key[1]}' is not "
            f"implemented yet (available: {done})"
        )
    return _BUILDERS[key](card)


# --- closed-form dense op counts ---------------------------------------------------------


def rmsnorm(name: str, layer: int, d: int) -> DenseOp:
    return DenseOp(name, layer, "norm", {"mul": 3 * d, "add": d, "special": 1},
                   param_bytes=d * FP_BYTES)


def quantize(name: str, layer: int, c: int) -> DenseOp:
    return DenseOp(name, layer, "quantize", {"add": 3 * c, "mul": c, "special": 2})


def dequantize(name: str, layer: int, c_out: int) -> DenseOp:
    return DenseOp(name, layer, "dequantize", {"mul": 3 * c_out, "add": c_out},
                   param_bytes=2 * c_out * FP_BYTES)


def rope(name: str, layer: int, c: int) -> DenseOp:
    return DenseOp(name, layer, "rope", {"mul": 2 * c, "add": c})


def residual(name: str, layer: int, d: int) -> DenseOp:
    return DenseOp(name, layer, "residual", {"add": d})


def silu_gate(name: str, layer: int, f: int) -> DenseOp:
    return DenseOp(name, layer, "silu_gate", {"special": f, "mul": 2 * f})


def softmax(name: str, layer: int, heads: int) -> DenseOp:
    return DenseOp(name, layer, "softmax", {"special": heads},
                   ops_per_position={"special": heads, "add": 2 * heads, "mul": heads})


def dense_linear(name: str, layer: int, c_in: int, c_out: int, weight_bits: int) -> DenseOp:
    return DenseOp(name, layer, "linear", {"mac": c_in * c_out},
                   param_bytes=c_in * c_out * weight_bits / 8)


# --- llama ---------------------------------------------------------------------------------


class _Builder:
    """Accumulates nodes, stages and edges in execution order."""

    def __init__(self) -> None:
        self.groups: list[NeuronGroup] = []
        self.blocks: list[SynapseBlock] = []
        self.dense: list[DenseOp] = []
        self.stages: list[list[str]] = []
        self.edges: list[tuple[str, str]] = []
        self.last: list[str] = []

    def stage(self, *nodes: NeuronGroup | SynapseBlock | DenseOp) -> None:
        names = []
        for n in nodes:
            if isinstance(n, NeuronGroup):
                self.groups.append(n)
            elif isinstance(n, SynapseBlock):
                self.blocks.append(n)
            else:
                self.dense.append(n)
            names.append(n.name)
        self.stages.append(names)
        for prev in self.last:
            for cur in names:
                self.edges.append((prev, cur))
        self.last = names


def _gif_group(name: str, layer: int, site: str, size: int, s: SpikeLLMScheme,
               addbit: int) -> NeuronGroup:
    salient = round(s.salient_fraction * size)
    return NeuronGroup(name, layer, site, "gif", size, max_steps=2**addbit if salient else 1,
                       salient=salient, code_bits=s.abits)


@register("llama", "spikellm")
def lower_llama_spikellm(card: LlamaCard) -> EventGraph:
    """LLaMA with SpikeLLM: 7 spiking linears per layer, spiking K/V caches (§1.5)."""
    a, s = card.architecture, card.spiking
    d, f, h, d_kv, V = a.d_model, a.d_ffn, a.heads, a.d_kv, a.vocab
    group_size = a.heads // a.kv_heads
    b = _Builder()
    b.stage(DenseOp("embedding", -1, "embedding", {}, param_bytes=d * FP_BYTES))

    def linear_site(layer: int, site: str, c_in: int, c_out: int):
        g = _gif_group(f"L{layer}.{site}.in", layer, site, c_in, s, s.addbit)
        blk = SynapseBlock(f"L{layer}.{site}", layer, site, g.name, c_in, c_out, s.weight_bits)
        return g, blk

    for L in range(a.layers):
        b.stage(rmsnorm(f"L{L}.attn_norm", L, d), quantize(f"L{L}.qkv.quant", L, 3 * d))
        nodes = []
        for site, c_out in (("q_proj", d), ("k_proj", d_kv), ("v_proj", d_kv)):
            nodes += linear_site(L, site, d, c_out)
        b.stage(*nodes)
        b.stage(dequantize(f"L{L}.qkv.dequant", L, d + 2 * d_kv),
                rope(f"L{L}.rope", L, d + d_kv),
                quantize(f"L{L}.qkv_cache.quant", L, d + 2 * d_kv))
        kg = _gif_group(f"L{L}.k_cache", L, "k_cache", d_kv, s, s.kv_addbit)
        qk = SynapseBlock(f"L{L}.qk", L, "qk", kg.name, d_kv, h, s.abits, kind="kv",
                          fanout_per_event=group_size, kv_heads=a.kv_heads)
        b.stage(kg, qk)
        b.stage(DenseOp(f"L{L}.qk.dequant", L, "dequantize", {},
                        ops_per_position={"mul": 3 * h, "add": h}),
                softmax(f"L{L}.softmax", L, h))
        vg = _gif_group(f"L{L}.v_cache", L, "v_cache", d_kv, s, s.kv_addbit)
        pv = SynapseBlock(f"L{L}.pv", L, "pv", vg.name, d_kv, d, 8 * FP_BYTES, kind="kv",
                          fanout_per_event=group_size, kv_heads=a.kv_heads)
        b.stage(vg, pv)
        b.stage(dequantize(f"L{L}.pv.dequant", L, d), quantize(f"L{L}.o.quant", L, d))
        b.stage(*linear_site(L, "o_proj", d, d))
        b.stage(dequantize(f"L{L}.o.dequant", L, d), residual(f"L{L}.attn_residual", L, d),
                rmsnorm(f"L{L}.ffn_norm", L, d), quantize(f"L{L}.gate_up.quant", L, 2 * d))
        b.stage(*linear_site(L, "gate_proj", d, f), *linear_site(L, "up_proj", d, f))
        b.stage(dequantize(f"L{L}.gate_up.dequant", L, 2 * f), silu_gate(f"L{L}.silu_gate", L, f),
                quantize(f"L{L}.down.quant", L, f))
        b.stage(*linear_site(L, "down_proj", f, d))
        b.stage(dequantize(f"L{L}.down.dequant", L, d), residual(f"L{L}.ffn_residual", L, d))

    b.stage(rmsnorm("final_norm", a.layers, d))
    b.stage(DenseOp("lm_head", a.layers, "lm_head", {"mac": d * V, "add": V},
                    param_bytes=(0 if a.tied_embeddings else d * V * FP_BYTES)))
    kv = KVCache(layers=a.layers, width=d_kv, code_bits=s.abits, max_steps=2**s.kv_addbit)
    return EventGraph(card.name, card.family, b.groups, b.blocks, b.dense, b.stages, b.edges,
                      kv_cache=kv)


@register("llama", "none")
def lower_llama_dense(card: LlamaCard) -> EventGraph:
    """Dense LLaMA: every operation runs on the dense units; no spiking sites."""
    a = card.architecture
    s: DenseScheme = card.spiking  # type: ignore[assignment]
    d, f, h, d_kv, V = a.d_model, a.d_ffn, a.heads, a.d_kv, a.vocab
    wb = s.weight_bits
    b = _Builder()
    b.stage(DenseOp("embedding", -1, "embedding", {}, param_bytes=d * FP_BYTES))
    for L in range(a.layers):
        b.stage(rmsnorm(f"L{L}.attn_norm", L, d))
        b.stage(dense_linear(f"L{L}.q_proj", L, d, d, wb), dense_linear(f"L{L}.k_proj", L, d, d_kv, wb),
                dense_linear(f"L{L}.v_proj", L, d, d_kv, wb))
        b.stage(rope(f"L{L}.rope", L, d + d_kv))
        b.stage(DenseOp(f"L{L}.qk", L, "attention", {}, ops_per_position={"mac": d, "mul": h}))
        b.stage(softmax(f"L{L}.softmax", L, h))
        b.stage(DenseOp(f"L{L}.pv", L, "attention", {}, ops_per_position={"mac": d}))
        b.stage(dense_linear(f"L{L}.o_proj", L, d, d, wb))
        b.stage(residual(f"L{L}.attn_residual", L, d), rmsnorm(f"L{L}.ffn_norm", L, d))
        b.stage(dense_linear(f"L{L}.gate_proj", L, d, f, wb), dense_linear(f"L{L}.up_proj", L, d, f, wb))
        b.stage(silu_gate(f"L{L}.silu_gate", L, f))
        b.stage(dense_linear(f"L{L}.down_proj", L, f, d, wb))
        b.stage(residual(f"L{L}.ffn_residual", L, d))
    b.stage(rmsnorm("final_norm", a.layers, d))
    b.stage(DenseOp("lm_head", a.layers, "lm_head", {"mac": d * V, "add": V},
                    param_bytes=(0 if a.tied_embeddings else d * V * FP_BYTES)))
    kv = KVCache(layers=a.layers, width=d_kv, code_bits=s.activation_bits, max_steps=1)
    return EventGraph(card.name, card.family, b.groups, b.blocks, b.dense, b.stages, b.edges,
                      kv_cache=kv)


def with_weights(graph: EventGraph, art: Artifact) -> EventGraph:
    """``graph`` with each linear block's real per-column fan-out (nonzero integer weights)."""
    masks = art.masks()
    for g in graph.groups:
        got = int(masks[(g.layer, g.site)].sum())
        if got != g.salient or masks[(g.layer, g.site)].shape[0] != g.size:
            raise InputError(str(art.path), f"model.layers.{g.layer}.{g.site}.salient",
                             "salient mask does not match the card", got=got,
                             expected=f"{g.salient} of {g.size} channels")
    blocks = [dataclasses.replace(b, fanout=(art.weight_int(b.layer, b.site) != 0).sum(axis=0))
              if b.kind == "weights" else b for b in graph.blocks]
    return EventGraph(graph.model, graph.family, list(graph.groups), blocks,
                      list(graph.dense_ops), graph.stages, graph.edges, graph.kv_cache,
                      weights=f"artifact sha256:{art.sha256}")
