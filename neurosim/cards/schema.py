"""Model card schema (``models/*.yaml``): a spiking LLM's shape, scheme and sources.

A card fixes the architecture (family and dimensions), the spiking scheme with its
parameters, where the weights come from (none: synthetic traffic only), and the default
traffic source.  ``parameters`` is computed from the dimensions in closed form.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from neurosim._schema import Strict, _LocatedValueError

PositiveInt = Annotated[int, Field(gt=0, strict=True)]

# Bounds on a card's dimensions: every published LLM lies well inside them (LLaMA-3.1-405B:
# 126 layers, d_model 16,384, d_ffn 53,248, vocab 128,256), and beyond them the graph and
# the per-token code arrays would not fit a workstation's memory.
Layers = Annotated[int, Field(gt=0, le=1024, strict=True)]
Width = Annotated[int, Field(gt=0, le=65_536, strict=True)]
FfnWidth = Annotated[int, Field(gt=0, le=262_144, strict=True)]
Heads = Annotated[int, Field(gt=0, le=1024, strict=True)]
Vocab = Annotated[int, Field(gt=0, le=1 << 21, strict=True)]
Context = Annotated[int, Field(gt=0, le=1 << 21, strict=True)]
MAX_PARAMETERS = 2 * 10**12
"""Parameters a card may have (the product of bounded dimensions can still exceed it)."""
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


# --- spiking schemes ------------------------------------------------------------------


class SpikeLLMScheme(Strict):
    """SpikeLLM W4A4 (seed-methods §1): GIF codes, salient channels get 2^addbit steps."""

    scheme: Literal["spikellm"]
    neuron: Literal["gif"] = "gif"
    abits: Annotated[int, Field(ge=1, le=8)]
    addbit: Annotated[int, Field(ge=0, le=4)]
    salient_fraction: Fraction
    weight_bits: Annotated[int, Field(ge=1, le=16)]
    kv_addbit: Annotated[int, Field(ge=0, le=4)] = Field(
        1, description="extra bits of the K/V high quantizer (forced to 1 in the released code)"
    )
    calibration: Literal["omniquant", "minmax"] = Field(
        "omniquant", description="how real weights are converted: OmniQuant's learnable "
        "clipping and equivalent transformation (the paper's pipeline), or per-row min-max")
    calibration_epochs: Annotated[int, Field(ge=1, le=100, strict=True)] = Field(
        20, description="OmniQuant epochs per decoder layer (20 as released)")
    calibration_parameters: str | None = Field(
        None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="a shipped OmniQuant parameter set (models/calibration/NAME) that "
        "conversion applies instead of training when it was trained with the same settings")
    source: str = Field(min_length=1)

    @property
    def op_overhead(self) -> float:
        """Synops over dense-equivalent ops when every code is nonzero: (1-p) + p·2^a."""
        p = self.salient_fraction
        return (1 - p) + p * 2**self.addbit


class SpikeGPTScheme(Strict):
    """SpikeGPT (seed-methods §2): binary LIF after each RWKV sub-block, one step per token."""

    scheme: Literal["spikegpt"]
    neuron: Literal["lif"] = "lif"
    tau: Annotated[float, Field(gt=1.0)]
    threshold: Annotated[float, Field(gt=0.0)]
    reset: Literal["hard", "subtract"]
    firing_rate: Fraction | list[Fraction] = Field(
        description="mean LIF firing rate per token, or one rate per layer (synthetic traffic)")
    weight_bits: Annotated[int, Field(ge=1, le=32)]
    source: str = Field(min_length=1)


class SpikeLMScheme(Strict):
    """SpikeLM (seed-methods §3): elastic bi-spiking ternary neurons, T steps per token."""

    scheme: Literal["spikelm"]
    neuron: Literal["ternary"] = "ternary"
    steps: Annotated[int, Field(gt=0, le=256, strict=True)]
    firing_rate: Fraction
    weight_bits: Annotated[int, Field(ge=1, le=32)]
    source: str = Field(min_length=1)


class LTERouter(Strict):
    """How a router is built on real weights (neurosim.convert.lte): stage-1 loss weights."""

    eta: Annotated[float, Field(ge=0.0)] = Field(description="efficiency loss weight (sparsity knob)")
    separability: Annotated[float, Field(ge=0.0)] = 0.5
    steps: PositiveInt = 300
    calibration_tokens: PositiveInt = 1024
    evaluation_tokens: PositiveInt = 512


class LTEScheme(Strict):
    """LTE (seed-methods §4): FFN neurons in experts, a sigmoid router per layer.

    ``sparsity`` drives synthetic traffic (one number, or one per layer); ``router`` builds
    the experts and routers on the card's real weights (real traffic)."""

    scheme: Literal["lte"]
    expert_size: PositiveInt
    router_threshold: Annotated[float, Field(gt=0.0, lt=1.0)]
    sparsity: Fraction | list[Fraction] | None = None
    router: LTERouter | None = None
    weight_bits: Annotated[int, Field(ge=1, le=32)]
    source: str = Field(min_length=1)


class BitLinearScheme(Strict):
    """MatMul-free LM (Zhu et al. 2024): ternary BitLinear weights, each input quantized per
    token to signed ``activation_bits``-bit codes (absmax), sent as graded spikes."""

    scheme: Literal["bitlinear"]
    weight_bits: Annotated[int, Field(ge=2, le=32)]
    activation_bits: Annotated[int, Field(ge=2, le=32)]
    source: str = Field(min_length=1)


class DenseScheme(Strict):
    """No spiking: the dense ANN baseline."""

    scheme: Literal["none"]
    weight_bits: Annotated[int, Field(ge=1, le=32)]
    activation_bits: Annotated[int, Field(ge=1, le=32)]
    source: str = Field(min_length=1)


Scheme = Annotated[
    SpikeLLMScheme | SpikeGPTScheme | SpikeLMScheme | LTEScheme | BitLinearScheme | DenseScheme,
    Field(discriminator="scheme"),
]


# --- weights and traffic ----------------------------------------------------------------


class Weights(Strict):
    """Where the weights come from: ``none`` (shapes only), a local ``path``, or a ``package``."""

    source: Literal["none", "path", "package"]
    path: str | None = None
    package: str | None = None
    file: str | None = None
    format: Literal["gguf", "safetensors", "hf"] | None = None
    license: str | None = None

    @model_validator(mode="after")
    def _complete(self):
        need = {"none": (), "path": ("path",), "package": ("package", "file")}[self.source]
        for key in need:
            if not getattr(self, key):
                raise _LocatedValueError(("weights", key), None,
                                         f"weights.source '{self.source}' needs '{key}'",
                                         f"a non-empty '{key}'")
        return self


class Traffic(Strict):
    """Default traffic source for replay; ``fit`` names the code histograms that synthetic
    traffic samples (a file of ``models/traffic/`` or a path; none: the unfitted prior)."""

    default: Literal["synthetic", "real"]
    seed: Annotated[int, Field(ge=0)] = 0
    fit: str | None = None
    nonzero_scale: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] | None = Field(
        None, description="multiplies the fitted probability that a code is nonzero (capped "
        "at 1; the nonzero codes keep their relative frequencies). Unset: 1, the fit's "
        "width-scaling rule (histograms unchanged at any width), an assumption")


# --- architectures ------------------------------------------------------------------------


class LlamaArchitecture(Strict):
    """Decoder-only LLaMA family: RMSNorm, RoPE, SwiGLU FFN, optional GQA."""

    layers: Layers
    d_model: Width
    heads: Heads
    kv_heads: Heads
    d_ffn: FfnWidth
    vocab: Vocab
    max_context: Context
    tied_embeddings: bool
    source: str = Field(min_length=1)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def d_kv(self) -> int:
        """Width of K (and of V): kv_heads × head_dim."""
        return self.kv_heads * self.head_dim

    def parameters(self) -> int:
        d, f, v = self.d_model, self.d_ffn, self.vocab
        per_layer = 2 * d * d + 2 * d * self.d_kv + 3 * d * f + 2 * d  # q,o,k,v, FFN, 2 norms
        head = 0 if self.tied_embeddings else v * d
        return v * d + self.layers * per_layer + d + head

    def check(self) -> None:
        if self.d_model % self.heads:
            raise _LocatedValueError(("architecture", "heads"), self.heads,
                                     f"heads does not divide d_model={self.d_model}",
                                     f"a divisor of {self.d_model}")
        if self.heads % self.kv_heads:
            raise _LocatedValueError(("architecture", "kv_heads"), self.kv_heads,
                                     f"kv_heads does not divide heads={self.heads}",
                                     f"a divisor of {self.heads}")
        if self.head_dim % 2:
            raise _LocatedValueError(("architecture", "heads"), self.heads,
                                     f"head_dim={self.head_dim} is odd; RoPE rotates pairs",
                                     "heads giving an even head_dim")


class RwkvArchitecture(Strict):
    """RWKV (SpikeGPT): TimeMix and ChannelMix blocks, LayerNorm, no attention."""

    layers: Layers
    d_model: Width
    d_ffn: FfnWidth
    vocab: Vocab
    max_context: Context
    source: str = Field(min_length=1)

    def parameters(self) -> int:
        d, f, v = self.d_model, self.d_ffn, self.vocab
        time_mix = 4 * d * d + 5 * d  # k, v, r, out; decay, first, 3 mixes
        channel_mix = 2 * d * f + d * d + 2 * d  # key, value, receptance; 2 mixes
        norms = 2 * 2 * d
        return v * d + self.layers * (time_mix + channel_mix + norms) + 2 * d + 2 * d + v * d

    def check(self) -> None:
        """No cross-field constraints beyond positivity."""


class MMFreeArchitecture(Strict):
    """MatMul-free LM (HGRN-Bit): per layer an MLGRU token mixer (i, f, g, o BitLinears and
    an element-wise recurrence) and a GLU channel mixer (gate+up, down BitLinears); RMSNorm;
    a ternary head; no attention, no KV cache."""

    layers: Layers
    d_model: Width
    d_ffn: FfnWidth
    vocab: Vocab
    max_context: Context
    tied_embeddings: Literal[False] = False
    source: str = Field(min_length=1)

    def parameters(self) -> int:
        d, f, v = self.d_model, self.d_ffn, self.vocab
        bitlinear = 4 * d * d + 2 * d * f + f * d          # i, f, g, o; gate+up; down
        norms = 3 * d + (4 * d + d + f)                    # attn, mlp, g norms; BitLinear norms
        per_layer = bitlinear + norms + d                  # + the forget gate's lower bound
        return v * d + self.layers * per_layer + d + (v * d + d)  # final norm, head + its norm

    def check(self) -> None:
        """No cross-field constraints beyond positivity."""


class BertArchitecture(Strict):
    """BERT encoder (SpikeLM): post-LayerNorm blocks, GELU FFN, learned positions."""

    layers: Layers
    d_model: Width
    heads: Heads
    d_ffn: FfnWidth
    vocab: Vocab
    max_context: Context
    type_vocab: Heads
    source: str = Field(min_length=1)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def parameters(self) -> int:
        d, f = self.d_model, self.d_ffn
        embeddings = (self.vocab + self.max_context + self.type_vocab) * d + 2 * d
        per_layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d
        pooler = d * d + d
        return embeddings + self.layers * per_layer + pooler

    def check(self) -> None:
        if self.d_model % self.heads:
            raise _LocatedValueError(("architecture", "heads"), self.heads,
                                     f"heads does not divide d_model={self.d_model}",
                                     f"a divisor of {self.d_model}")


# --- cards ----------------------------------------------------------------------------------


class _CardBase(Strict):
    schema_version: Literal[1]
    name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    spiking: Scheme
    weights: Weights
    traffic: Traffic


    @model_validator(mode="after")
    def _check(self):
        self.architecture.check()  # type: ignore[attr-defined]
        if self.parameters > MAX_PARAMETERS:
            raise _LocatedValueError(("architecture",), f"{self.parameters:.3g} parameters",
                                     "too large a model to estimate here",
                                     f"at most {MAX_PARAMETERS:.0e} parameters")
        allowed = self._allowed_schemes()
        if self.spiking.scheme not in allowed:
            raise _LocatedValueError(("spiking", "scheme"), self.spiking.scheme,
                                     f"scheme not available for family '{self.family}'",  # type: ignore[attr-defined]
                                     f"one of {', '.join(allowed)}")
        if self.traffic.default == "real" and self.weights.source == "none":
            raise _LocatedValueError(("traffic", "default"), "real",
                                     "real traffic needs weights", "synthetic, or give weights")
        if self.traffic.nonzero_scale is not None and not self.traffic.fit:
            raise _LocatedValueError(("traffic", "nonzero_scale"), self.traffic.nonzero_scale,
                                     "scales fitted traffic, and the card names no fit",
                                     "traffic.fit, or no nonzero_scale")
        return self

    @classmethod
    def _allowed_schemes(cls) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def parameters(self) -> int:
        """Parameter count from the dimensions (closed form)."""
        return self.architecture.parameters()  # type: ignore[attr-defined]


class LlamaCard(_CardBase):
    family: Literal["llama"]
    architecture: LlamaArchitecture

    @model_validator(mode="after")
    def _lte(self):
        s = self.spiking
        if s.scheme != "lte":
            return self
        if isinstance(s.sparsity, list) and len(s.sparsity) != self.architecture.layers:
            raise _LocatedValueError(("spiking", "sparsity"), len(s.sparsity),
                                     "one expert sparsity per layer",
                                     f"{self.architecture.layers} values, or one number")
        if self.traffic.default == "synthetic" and s.sparsity is None:
            raise _LocatedValueError(("spiking", "sparsity"), None,
                                     "synthetic traffic needs the expert sparsity",
                                     "a fraction, or one per layer")
        if self.traffic.default == "real" and (s.router is None or self.weights.source == "none"):
            raise _LocatedValueError(("spiking", "router"), None,
                                     "real LTE traffic needs a router built on real weights",
                                     "spiking.router settings and weights.source path or package")
        return self

    @classmethod
    def _allowed_schemes(cls) -> tuple[str, ...]:
        return ("spikellm", "lte", "none")


class RwkvCard(_CardBase):
    family: Literal["rwkv"]
    architecture: RwkvArchitecture

    @model_validator(mode="after")
    def _rates(self):
        rate = getattr(self.spiking, "firing_rate", None)
        if isinstance(rate, list) and len(rate) != self.architecture.layers:
            raise _LocatedValueError(("spiking", "firing_rate"), len(rate),
                                     "one firing rate per layer",
                                     f"{self.architecture.layers} rates, or one number")
        return self

    @classmethod
    def _allowed_schemes(cls) -> tuple[str, ...]:
        return ("spikegpt", "none")


class BertCard(_CardBase):
    family: Literal["bert"]
    architecture: BertArchitecture

    @classmethod
    def _allowed_schemes(cls) -> tuple[str, ...]:
        return ("spikelm", "none")


class MMFreeCard(_CardBase):
    family: Literal["mmfree"]
    architecture: MMFreeArchitecture

    @classmethod
    def _allowed_schemes(cls) -> tuple[str, ...]:
        return ("bitlinear", "none")


ModelCard = LlamaCard | RwkvCard | BertCard | MMFreeCard
CARD_FAMILIES: dict[str, type[_CardBase]] = {
    "llama": LlamaCard,
    "rwkv": RwkvCard,
    "bert": BertCard,
    "mmfree": MMFreeCard,
}
