"""The SpikeLLM artifact: integer weights, scales, salient masks and spiking settings.

A directory holding

* ``artifact.json`` — format, model card, architecture, spiking settings, the source
  checkpoint and calibration text (with SHA-256), and the SHA-256 of every other file;
* ``tensors.safetensors`` — per linear ``<hf name>.codes`` (C_out, C_in) uint8 weight codes
  (two 4-bit codes per byte when ``weight_bits`` is 4: low nibble = even column),
  ``.scale`` (C_out,) f32 and ``.zero`` (C_out,) int16, so ``W = (codes - zero)·scale``;
  ``model.layers.<L>.<site>.salient`` (C_in,) uint8 masks for the 7 linears, ``k_cache``
  and ``v_cache`` (KV-head-major channels); the full-precision embedding, norms and head;
* ``tokenizer.json`` when the source had a tokenizer.

It loads with numpy and safetensors only (no torch); every file is checked against its
SHA-256 before use, so a truncated or corrupted artifact is refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim._files import read_manifest, read_safetensors, verify_files, write_dir
from neurosim.convert.checkpoint import LINEAR_SITES, LlamaShape, linear_name
from neurosim.errors import InputError

FORMAT, VERSION = "neurosim.SpikeLLMArtifact", 2
SPIKING_SITES = (*LINEAR_SITES, "k_cache", "v_cache")


@dataclass(frozen=True)
class SpikingConfig:
    """SpikeLLM settings (a card's ``spiking`` section)."""

    abits: int = 4
    addbit: int = 1
    kv_addbit: int = 1
    salient_fraction: float = 0.1
    weight_bits: int = 4

    def to_dict(self) -> dict:
        return asdict(self)

    def salient_count(self, channels: int) -> int:
        return round(self.salient_fraction * channels)


def mask_name(layer: int, site: str) -> str:
    return f"model.layers.{layer}.{site}.salient"


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """(C_out, C_in) uint8 codes -> stored form (nibble pairs when 4-bit and C_in even)."""
    if bits <= 4 and codes.shape[1] % 2 == 0:
        return (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    return codes.astype(np.uint8)


def unpack_codes(stored: np.ndarray, bits: int, c_in: int) -> np.ndarray:
    if stored.shape[1] == c_in:
        return stored
    out = np.empty((stored.shape[0], c_in), np.uint8)
    out[:, 0::2] = stored & 0x0F
    out[:, 1::2] = stored >> 4
    return out


@dataclass
class Artifact:
    """A loaded artifact: metadata and numpy tensors."""

    path: Path
    meta: dict[str, Any]
    tensors: dict[str, np.ndarray]

    @property
    def shape(self) -> LlamaShape:
        return LlamaShape(**self.meta["architecture"])

    @property
    def config(self) -> SpikingConfig:
        return SpikingConfig(**self.meta["spiking"])

    @property
    def sha256(self) -> str:
        """Identity of the artifact: the SHA-256 of its tensors file."""
        return self.meta["files"]["tensors.safetensors"]

    @property
    def tokenizer_file(self) -> Path | None:
        return self.path / "tokenizer.json" if "tokenizer.json" in self.meta["files"] else None

    def weight_codes(self, layer: int, site: str) -> np.ndarray:
        name = linear_name(layer, site)
        c_in = int(self.meta["shapes"][name][1])
        return unpack_codes(self.tensors[f"{name}.codes"], self.config.weight_bits, c_in)

    def weight_int(self, layer: int, site: str) -> np.ndarray:
        """Signed integer weights ``codes - zero``, (C_out, C_in) int16."""
        name = linear_name(layer, site)
        z = self.tensors[f"{name}.zero"].astype(np.int16)[:, None]
        return self.weight_codes(layer, site).astype(np.int16) - z

    def dequantized_weight(self, layer: int, site: str, dtype: type = np.float32) -> np.ndarray:
        """``(codes - zero)·scale`` in ``dtype`` (exact in float64, rounded in float32)."""
        name = linear_name(layer, site)
        q = self.weight_codes(layer, site).astype(dtype)
        z = self.tensors[f"{name}.zero"].astype(dtype)[:, None]
        return (q - z) * self.tensors[f"{name}.scale"].astype(dtype)[:, None]

    def masks(self) -> dict[tuple[int, str], np.ndarray]:
        """Salient masks by (layer, site), bool."""
        return {(L, s): self.tensors[mask_name(L, s)].astype(bool)
                for L in range(self.shape.layers) for s in SPIKING_SITES}

    def fp_tensors(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.tensors.items()
                if not k.endswith((".codes", ".scale", ".zero", ".salient"))}


def save_artifact(out: Path, meta: dict[str, Any], tensors: dict[str, np.ndarray],
                  tokenizer: Any = None) -> Path:
    """Write an artifact directory atomically (a temporary sibling renamed into place)."""
    from safetensors.numpy import save_file

    def write(tmp: Path) -> list[str]:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                  str(tmp / "tensors.safetensors"))
        if tokenizer is None:
            return ["tensors.safetensors"]
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        return ["tensors.safetensors", "tokenizer.json"]

    write_dir(Path(out), "artifact.json", {"format": FORMAT, "version": VERSION, **meta}, write,
              "neurosim artifact")
    return Path(out)


def load_artifact(path: str | Path, verify: bool = True) -> Artifact:
    """Read an artifact directory; ``verify`` checks every file's SHA-256 first."""
    path = Path(path)
    meta = read_manifest(path, "artifact.json", FORMAT, VERSION, "neurosim SpikeLLM artifact",
                         "neurosim convert")
    verify_files(path, list(meta.get("files", {}).items()), verify, "convert again")
    tensors = read_safetensors(path / "tensors.safetensors")
    art = Artifact(path, meta, tensors)
    sh = art.shape
    for L in range(sh.layers):
        for site in SPIKING_SITES:
            if mask_name(L, site) not in tensors:
                raise InputError(str(path / "tensors.safetensors"), mask_name(L, site),
                                 "missing tensor")
    return art
