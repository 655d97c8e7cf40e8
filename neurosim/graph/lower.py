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
LayerNorm (d)      add 4d (sum, subtract mean, sum of squares, bias), mul 3d (square,
                   normalise, weight), special 1 (rsqrt)
token shift (d)    per mixed input: mul d, add 2d (x_prev + mu·(x - x_prev))
WKV (d)            RWKV-4 recurrence with state (a, b, p) per channel (SpikeGPT model_run.py):
                   add 12d (incl. 2 max), mul 6d, special 5d (4 exp, 1 divide)
sigmoid gate (d)   special d, mul d
squared ReLU (f)   add f (max with 0), mul f (square)
GELU (f)           special f (erf), mul 3f, add f
absmax quant (C)   add C (max of |x|), mul C (scale), special 1 (127 / max)
rescale (C)        mul C (activation scale x weight scale of a BitLinear output)
forget gate (d)    special d (sigmoid), mul d, add d (lower bound + (1 - lb) x f)
MLGRU input (d)    special d (sigmoid), mul 2d, add d (silu(i) x (1 - f))
recurrence (d)     mul d, add d (h = f x h_prev + i; d values of state per layer)
swish gate (d)     special d (sigmoid), mul 2d (RMSNorm(g) x h x sigmoid(h))
=================  ==========================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from neurosim.cards.schema import (
    BertCard,
    DenseScheme,
    LlamaCard,
    MMFreeCard,
    ModelCard,
    RwkvCard,
    SpikeLLMScheme,
)
from neurosim.errors import NotImplementedYet
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


def layernorm(name: str, layer: int, d: int) -> DenseOp:
    return DenseOp(name, layer, "norm", {"add": 4 * d, "mul": 3 * d, "special": 1},
                   param_bytes=2 * d * FP_BYTES)


def token_shift(name: str, layer: int, d: int, inputs: int) -> DenseOp:
    return DenseOp(name, layer, "token_shift", {"mul": inputs * d, "add": 2 * inputs * d},
                   param_bytes=inputs * d * FP_BYTES)


def wkv(name: str, layer: int, d: int) -> DenseOp:
    return DenseOp(name, layer, "wkv", {"add": 12 * d, "mul": 6 * d, "special": 5 * d},
                   param_bytes=2 * d * FP_BYTES)


def sigmoid_gate(name: str, layer: int, d: int) -> DenseOp:
    return DenseOp(name, layer, "gate", {"special": d, "mul": d})


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


def _llama_dense(card: LlamaCard, weight_bits: int, ffn: Callable[[_Builder, int], None]) -> EventGraph:
    """LLaMA on the dense units: attention as dense ops, the FFN built by ``ffn(b, layer)``."""
    a = card.architecture
    d, h, d_kv, V = a.d_model, a.heads, a.d_kv, a.vocab
    b = _Builder()
    b.stage(DenseOp("embedding", -1, "embedding", {}, param_bytes=d * FP_BYTES))
    for L in range(a.layers):
        b.stage(rmsnorm(f"L{L}.attn_norm", L, d))
        b.stage(dense_linear(f"L{L}.q_proj", L, d, d, weight_bits),
                dense_linear(f"L{L}.k_proj", L, d, d_kv, weight_bits),
                dense_linear(f"L{L}.v_proj", L, d, d_kv, weight_bits))
        b.stage(rope(f"L{L}.rope", L, d + d_kv))
        b.stage(DenseOp(f"L{L}.qk", L, "attention", {}, ops_per_position={"mac": d, "mul": h}))
        b.stage(softmax(f"L{L}.softmax", L, h))
        b.stage(DenseOp(f"L{L}.pv", L, "attention", {}, ops_per_position={"mac": d}))
        b.stage(dense_linear(f"L{L}.o_proj", L, d, d, weight_bits))
        b.stage(residual(f"L{L}.attn_residual", L, d), rmsnorm(f"L{L}.ffn_norm", L, d))
        ffn(b, L)
        b.stage(residual(f"L{L}.ffn_residual", L, d))
    b.stage(rmsnorm("final_norm", a.layers, d))
    b.stage(DenseOp("lm_head", a.layers, "lm_head", {"mac": d * V, "add": V},
                    param_bytes=(0 if a.tied_embeddings else d * V * FP_BYTES)))
    kv = KVCache(layers=a.layers, width=d_kv, code_bits=16, max_steps=1)
    return EventGraph(card.name, card.family, b.groups, b.blocks, b.dense, b.stages, b.edges,
                      kv_cache=kv)


@register("llama", "none")
def lower_llama_dense(card: LlamaCard) -> EventGraph:
    """Dense LLaMA: every operation runs on the dense units; no spiking sites."""
    s: DenseScheme = card.spiking  # type: ignore[assignment]
    d, f, wb = card.architecture.d_model, card.architecture.d_ffn, s.weight_bits

    def ffn(b: _Builder, L: int) -> None:
        b.stage(dense_linear(f"L{L}.gate_proj", L, d, f, wb), dense_linear(f"L{L}.up_proj", L, d, f, wb))
        b.stage(silu_gate(f"L{L}.silu_gate", L, f))
        b.stage(dense_linear(f"L{L}.down_proj", L, f, d, wb))

    graph = _llama_dense(card, wb, ffn)
    if s.activation_bits != 16 and graph.kv_cache is not None:
        graph.kv_cache = dataclasses.replace(graph.kv_cache, code_bits=s.activation_bits)
    return graph


@register("llama", "lte")
def lower_llama_lte(card: LlamaCard) -> EventGraph:
    """LTE (seed-methods §4): FFN neurons in experts of ``expert_size``; a sigmoid router per
    layer (``d x E`` MACs, E sigmoids, E threshold compares) picks the experts whose score
    exceeds the threshold.  The decisions are a binary ``gate`` group (one channel per
    expert, an identity block: a decision enables its expert); gate/up/down projections and
    the SiLU gate are gated by it, so inactive experts cost no MACs and no weight reads."""
    s = card.spiking
    d, f, wb = card.architecture.d_model, card.architecture.d_ffn, s.weight_bits
    experts = -(-f // s.expert_size)

    def ffn(b: _Builder, L: int) -> None:
        b.stage(dataclasses.replace(dense_linear(f"L{L}.router", L, d, experts, wb), kind="router"),
                DenseOp(f"L{L}.router.sigmoid", L, "router", {"special": experts, "add": experts}))
        g = NeuronGroup(f"L{L}.experts", L, "experts", "gate", experts, max_steps=1, salient=0,
                        code_bits=1)
        b.stage(g, SynapseBlock(f"L{L}.expert_enable", L, "experts", g.name, experts, experts, 1,
                                identity=True))
        gated = dict(gated_by=g.name)
        b.stage(dataclasses.replace(dense_linear(f"L{L}.gate_proj", L, d, f, wb), **gated),
                dataclasses.replace(dense_linear(f"L{L}.up_proj", L, d, f, wb), **gated))
        b.stage(dataclasses.replace(silu_gate(f"L{L}.silu_gate", L, f), **gated))
        b.stage(dataclasses.replace(dense_linear(f"L{L}.down_proj", L, f, d, wb), **gated))

    return _llama_dense(card, wb, ffn)


def with_fanout(graph: EventGraph, fanout: dict[str, np.ndarray], weights: str) -> EventGraph:
    """``graph`` with the per-column fan-out (nonzero weights) of the named linear blocks;
    ``weights`` says where the fan-out came from (provenance)."""
    blocks = [dataclasses.replace(b, fanout=fanout[b.name]) if b.name in fanout else b
              for b in graph.blocks]
    return dataclasses.replace(graph, blocks=blocks, weights=weights)


# --- rwkv (SpikeGPT) -------------------------------------------------------------------------


def _rwkv(card: RwkvCard, spiking: bool) -> EventGraph:
    """RWKV-4 blocks; with SpikeGPT's binary LIF after each sub-block (seed-methods §2.2).

    Every projection reads a continuous LayerNorm output, so all matmuls are dense MACs in
    both variants; the spikes are what each sub-block writes to the residual stream: one
    synapse per channel (an identity block) instead of a dense residual add.
    """
    a = card.architecture
    d, f, V = a.d_model, a.d_ffn, a.vocab
    wb = card.spiking.weight_bits
    b = _Builder()
    b.stage(DenseOp("embedding", -1, "embedding", {}, param_bytes=d * FP_BYTES),
            layernorm("ln0", -1, d))

    def write_back(L: int, site: str) -> None:
        if spiking:
            g = NeuronGroup(f"L{L}.{site}.lif", L, site, "lif", d, max_steps=1, salient=0,
                            code_bits=1)
            b.stage(g, SynapseBlock(f"L{L}.{site}.residual", L, site, g.name, d, d, 1,
                                    identity=True))
        else:
            b.stage(residual(f"L{L}.{site}.residual", L, d))

    for L in range(a.layers):
        b.stage(layernorm(f"L{L}.ln1", L, d), token_shift(f"L{L}.att.shift", L, d, 3))
        b.stage(*(dense_linear(f"L{L}.att.{p}", L, d, d, wb) for p in ("key", "value", "receptance")))
        b.stage(wkv(f"L{L}.att.wkv", L, d), sigmoid_gate(f"L{L}.att.gate", L, d))
        b.stage(dense_linear(f"L{L}.att.output", L, d, d, wb))
        write_back(L, "att")
        b.stage(layernorm(f"L{L}.ln2", L, d), token_shift(f"L{L}.ffn.shift", L, d, 2))
        b.stage(dense_linear(f"L{L}.ffn.key", L, d, f, wb),
                dense_linear(f"L{L}.ffn.receptance", L, d, d, wb))
        b.stage(DenseOp(f"L{L}.ffn.relu2", L, "activation", {"add": f, "mul": f}))
        b.stage(dense_linear(f"L{L}.ffn.value", L, f, d, wb))
        b.stage(sigmoid_gate(f"L{L}.ffn.gate", L, d))
        write_back(L, "ffn")
    b.stage(layernorm("ln_out", a.layers, d))
    b.stage(DenseOp("lm_head", a.layers, "lm_head", {"mac": d * V, "add": V},
                    param_bytes=d * V * FP_BYTES))
    return EventGraph(card.name, card.family, b.groups, b.blocks, b.dense, b.stages, b.edges)


@register("rwkv", "spikegpt")
def lower_rwkv_spikegpt(card: RwkvCard) -> EventGraph:
    """SpikeGPT: RWKV-4 with binary LIF spikes written to the residual stream."""
    return _rwkv(card, spiking=True)


@register("rwkv", "none")
def lower_rwkv_dense(card: RwkvCard) -> EventGraph:
    """Dense RWKV-4: the same operations with dense residual adds."""
    return _rwkv(card, spiking=False)


# --- mmfree (MatMul-free LM) -----------------------------------------------------------------


def _absmax_quant(name: str, layer: int, c: int) -> DenseOp:
    return DenseOp(name, layer, "quantize", {"add": c, "mul": c, "special": 1})


def _rescale(name: str, layer: int, c: int) -> DenseOp:
    return DenseOp(name, layer, "dequantize", {"mul": c})


def _mmfree(card: MMFreeCard, spiking: bool) -> EventGraph:
    """MatMul-free LM (HGRN-Bit, ridgerchu/matmulfreellm): per layer the MLGRU token mixer

        f = lb + (1 - lb) sigmoid(W_f x),  i = silu(W_i x) (1 - f),  h = f h_prev + i,
        o = W_o (RMSNorm(W_g x) h sigmoid(h))

    and the GLU channel mixer ``W_down (silu(gate) up)``, ``[gate, up] = W_gu x``; each W a
    BitLinear (RMSNorm, then per-token absmax quantization of its input, ternary weights).
    Spiking: each BitLinear's input is a group of graded signed codes (the activation bits)
    driving its ternary synapse block; i, f and g each quantize x after their own RMSNorm
    weights, so each has its own group.  The head is a ternary BitLinear too.  Dense: every
    projection a dense FP16 matrix-vector product.  The recurrent state (d values per
    layer) lives with the ``recurrence`` op."""
    a = card.architecture
    d, f, V = a.d_model, a.d_ffn, a.vocab
    s = card.spiking
    wb = s.weight_bits
    b = _Builder()
    b.stage(DenseOp("embedding", -1, "embedding", {}, param_bytes=d * FP_BYTES))

    def bitlinear(layer: int, site: str, c_in: int, outs: list[tuple[str, int]]) -> None:
        """The stage of the BitLinears reading one input: a spiking group and blocks, or
        dense matrix-vector products."""
        if not spiking:
            b.stage(*(dense_linear(f"L{layer}.{o}" if layer < a.layers else o, layer, c_in,
                                   c_out, wb) for o, c_out in outs))
            return
        prefix = f"L{layer}." if layer < a.layers else ""
        nodes: list[NeuronGroup | SynapseBlock] = []
        for o, c_out in outs:
            g = NeuronGroup(f"{prefix}{o}.in", layer, site, "gif", c_in, max_steps=1,
                            salient=0, code_bits=s.activation_bits, signed=True)
            nodes += [g, SynapseBlock(f"{prefix}{o}", layer, site, g.name, c_in, c_out, wb)]
        b.stage(*nodes)

    def into(layer: int, site: str, c: int) -> list[DenseOp]:
        """RMSNorm of a BitLinear input, and its absmax quantization when spiking."""
        prefix = f"L{layer}." if layer < a.layers else ""
        ops = [rmsnorm(f"{prefix}{site}.bitnorm", layer, c)]
        return ops + ([_absmax_quant(f"{prefix}{site}.quant", layer, c)] if spiking else [])

    def out(layer: int, name: str, c: int) -> list[DenseOp]:
        return [_rescale(name, layer, c)] if spiking else []

    for L in range(a.layers):
        b.stage(rmsnorm(f"L{L}.attn_norm", L, d), *into(L, "x", d))
        bitlinear(L, "x", d, [("i_proj", d), ("f_proj", d), ("g_proj", d)])
        b.stage(*out(L, f"L{L}.ifg.rescale", 3 * d),
                DenseOp(f"L{L}.forget_gate", L, "gate", {"special": d, "mul": d, "add": d}),
                DenseOp(f"L{L}.input_gate", L, "silu_gate", {"special": d, "mul": 2 * d, "add": d}),
                DenseOp(f"L{L}.recurrence", L, "recurrence", {"mul": d, "add": d}),
                rmsnorm(f"L{L}.g_norm", L, d),
                DenseOp(f"L{L}.output_gate", L, "silu_gate", {"special": d, "mul": 2 * d}),
                *into(L, "o", d))
        bitlinear(L, "o", d, [("o_proj", d)])
        b.stage(*out(L, f"L{L}.o.rescale", d), residual(f"L{L}.attn_residual", L, d),
                rmsnorm(f"L{L}.mlp_norm", L, d), *into(L, "mlp", d))
        bitlinear(L, "mlp", d, [("gate_proj", 2 * f)])
        b.stage(*out(L, f"L{L}.gate.rescale", 2 * f), silu_gate(f"L{L}.glu", L, f),
                *into(L, "down", f))
        bitlinear(L, "down", f, [("down_proj", d)])
        b.stage(*out(L, f"L{L}.down.rescale", d), residual(f"L{L}.mlp_residual", L, d))
    b.stage(rmsnorm("final_norm", a.layers, d), *into(a.layers, "head", d))
    if spiking:
        bitlinear(a.layers, "head", d, [("lm_head", V)])
        b.stage(DenseOp("lm_head.rescale", a.layers, "dequantize", {"mul": V, "add": V}))
    else:
        b.stage(DenseOp("lm_head", a.layers, "lm_head", {"mac": d * V, "add": V},
                        param_bytes=d * V * wb / 8))
    return EventGraph(card.name, card.family, b.groups, b.blocks, b.dense, b.stages, b.edges)


@register("mmfree", "bitlinear")
def lower_mmfree_bitlinear(card: MMFreeCard) -> EventGraph:
    """MatMul-free LM with graded spikes into ternary synapses (see :func:`_mmfree`)."""
    return _mmfree(card, spiking=True)


@register("mmfree", "none")
def lower_mmfree_dense(card: MMFreeCard) -> EventGraph:
    """The MatMul-free architecture as a dense FP16 model (a GPU baseline)."""
    return _mmfree(card, spiking=False)


# --- bert (SpikeLM) --------------------------------------------------------------------------


def _times(op: DenseOp, k: int) -> DenseOp:
    """``op`` run ``k`` times per token (SpikeLM runs every layer on each of its T steps)."""
    return dataclasses.replace(op, ops={c: v * k for c, v in op.ops.items()},
                               ops_per_position={c: v * k for c, v in op.ops_per_position.items()})


def _bert(card: BertCard, spiking: bool) -> EventGraph:
    """BERT-base encoder (post-LayerNorm).  With SpikeLM (seed-methods §3.1): every linear
    reads ternary bi-spikes over T steps (its own neuron and alpha; outputs scaled by alpha,
    one mul per output and step), K and V are re-spiked before Q·Kᵀ and P·V; Q, softmax,
    LayerNorm, GELU and residuals stay continuous and run on each of the T steps.  A token
    attends every position of its sequence (bidirectional); the task head runs once per
    sequence and is not counted per token."""
    a = card.architecture
    d, f, h = a.d_model, a.d_ffn, a.heads
    T = card.spiking.steps if spiking else 1
    wb = card.spiking.weight_bits
    b = _Builder()
    b.stage(DenseOp("embedding", -1, "embedding", {"add": 2 * d}, param_bytes=3 * d * FP_BYTES),
            layernorm("embedding.ln", -1, d))

    def linear(L: int, site: str, c_in: int, c_out: int) -> list:
        if not spiking:
            return [dense_linear(f"L{L}.{site}", L, c_in, c_out, wb)]
        g = NeuronGroup(f"L{L}.{site}.in", L, site, "ternary", c_in, max_steps=T, salient=0,
                        code_bits=2, signed=True)
        return [g, SynapseBlock(f"L{L}.{site}", L, site, g.name, c_in, c_out, wb),
                DenseOp(f"L{L}.{site}.scale", L, "dequantize", {"mul": c_out * T, "add": c_out * T},
                        param_bytes=c_out * FP_BYTES)]

    for L in range(a.layers):
        b.stage(*linear(L, "query", d, d), *linear(L, "key", d, d), *linear(L, "value", d, d))
        if spiking:
            kg = NeuronGroup(f"L{L}.k_spike", L, "k_spike", "ternary", d, max_steps=T, salient=0,
                             code_bits=2, signed=True)
            b.stage(kg, SynapseBlock(f"L{L}.qk", L, "qk", kg.name, d, h, 32, kind="kv",
                                     fanout_per_event=1, kv_heads=h))
            b.stage(_times(softmax(f"L{L}.softmax", L, h), T))
            vg = NeuronGroup(f"L{L}.v_spike", L, "v_spike", "ternary", d, max_steps=T, salient=0,
                             code_bits=2, signed=True)
            b.stage(vg, SynapseBlock(f"L{L}.pv", L, "pv", vg.name, d, d, 32, kind="kv",
                                     fanout_per_event=1, kv_heads=h))
        else:
            b.stage(DenseOp(f"L{L}.qk", L, "attention", {}, ops_per_position={"mac": d, "mul": h}))
            b.stage(softmax(f"L{L}.softmax", L, h))
            b.stage(DenseOp(f"L{L}.pv", L, "attention", {}, ops_per_position={"mac": d}))
        b.stage(*linear(L, "attn_out", d, d))
        b.stage(_times(residual(f"L{L}.attn_residual", L, d), T),
                _times(layernorm(f"L{L}.attn_ln", L, d), T))
        b.stage(*linear(L, "ffn_in", d, f))
        b.stage(_times(DenseOp(f"L{L}.gelu", L, "activation", {"special": f, "mul": 3 * f, "add": f}), T))
        b.stage(*linear(L, "ffn_out", f, d))
        b.stage(_times(residual(f"L{L}.ffn_residual", L, d), T),
                _times(layernorm(f"L{L}.ffn_ln", L, d), T))
    if spiking:
        b.stage(DenseOp("mean_over_steps", a.layers, "readout", {"add": d * (T - 1), "mul": d}))
    kv = KVCache(layers=a.layers, width=d, code_bits=2 if spiking else 16, max_steps=T)
    return EventGraph(card.name, card.family, b.groups, b.blocks, b.dense, b.stages, b.edges,
                      kv_cache=kv, attention="bidirectional")


@register("bert", "spikelm")
def lower_bert_spikelm(card: BertCard) -> EventGraph:
    """SpikeLM: BERT with elastic bi-spiking ternary inputs to every linear, T steps/token."""
    return _bert(card, spiking=True)


@register("bert", "none")
def lower_bert_dense(card: BertCard) -> EventGraph:
    """Dense BERT encoder."""
    return _bert(card, spiking=False)
