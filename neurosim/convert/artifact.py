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
from neurosim.convert.checkpoint import LINEAR_SITES, LlamaShape, linear_name, tensor_names
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
    sh = _check_manifest(path / "artifact.json", meta)
    verify_files(path, list(meta["files"].items()), verify, "convert again")
    tensors = read_safetensors(path / "tensors.safetensors")
    _check_tensors(path / "tensors.safetensors", tensors, sh, meta)
    return Artifact(path, meta, tensors)


def _int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e12


def _check_manifest(where: Path, meta: dict[str, Any]) -> LlamaShape:
    """The artifact's architecture, once ``artifact.json``'s claims (dimensions, spiking
    settings, linear shapes, file table) are checked to hold together; else the key."""
    def bad(key: str, problem: str, got: Any, expected: str) -> InputError:
        return InputError(str(where), key, problem, got=got, expected=expected)

    arch = meta.get("architecture")
    fields = ("layers", "d_model", "heads", "kv_heads", "d_ffn", "vocab")
    if not isinstance(arch, dict) or set(arch) != {*fields, "rms_eps", "rope_theta",
                                                  "tied_embeddings"}:
        raise bad("architecture", "not a LLaMA architecture", arch,
                  f"{', '.join(fields)}, rms_eps, rope_theta, tied_embeddings")
    for k in fields:
        if not _int(arch[k], 1, 1 << 24):
            raise bad(f"architecture.{k}", "not a dimension", arch[k], "an integer >= 1")
    for k in ("rms_eps", "rope_theta"):
        if not _positive(arch[k]):
            raise bad(f"architecture.{k}", "not a positive number", arch[k], "a number > 0")
    if not isinstance(arch["tied_embeddings"], bool):
        raise bad("architecture.tied_embeddings", "not a boolean", arch["tied_embeddings"],
                  "true or false")
    if arch["d_model"] % arch["heads"] or arch["heads"] % arch["kv_heads"]:
        raise bad("architecture.heads", "heads do not divide the model and KV widths",
                  (arch["d_model"], arch["heads"], arch["kv_heads"]),
                  "heads | d_model and kv_heads | heads")
    sh = LlamaShape(**arch)
    sp = meta.get("spiking")
    ranges = {"abits": (1, 8), "addbit": (0, 4), "kv_addbit": (0, 4), "weight_bits": (1, 8)}
    if not isinstance(sp, dict) or set(sp) != {*ranges, "salient_fraction"}:
        raise bad("spiking", "not the spiking settings", sp,
                  f"{', '.join(ranges)}, salient_fraction")
    for k, (lo, hi) in ranges.items():
        if not _int(sp[k], lo, hi):
            raise bad(f"spiking.{k}", "out of range", sp[k], f"an integer from {lo} to {hi}")
    f = sp["salient_fraction"]
    if not isinstance(f, (int, float)) or isinstance(f, bool) or not 0 <= f <= 1:
        raise bad("spiking.salient_fraction", "not a fraction", f, "a number from 0 to 1")
    want = {n: list(v) for n, v in tensor_names(sh).items() if n.endswith("_proj.weight")}
    if meta.get("shapes") != want:
        got = meta.get("shapes")
        wrong = next((n for n in want if not isinstance(got, dict) or got.get(n) != want[n]),
                     None) if isinstance(got, dict) and set(got) == set(want) else None
        raise bad(f"shapes.{wrong}" if wrong else "shapes",
                  "does not match the architecture's linears",
                  got.get(wrong) if wrong else got,
                  str(want[wrong]) if wrong else f"the {len(want)} linears of the architecture")
    files = meta.get("files")
    if not isinstance(files, dict) or "tensors.safetensors" not in files or \
            not set(files) <= {"tensors.safetensors", "tokenizer.json"} or \
            not all(isinstance(v, str) for v in files.values()):
        raise bad("files", "not the artifact's file table", files,
                  "tensors.safetensors (and tokenizer.json) with their SHA-256")
    for k in ("model", "neurosim_version"):
        if not isinstance(meta.get(k), str):
            raise bad(k, "missing or not text", meta.get(k), "a string")
    src = meta.get("source")
    if not isinstance(src, dict) or not isinstance(src.get("sha256"), str):
        raise bad("source", "not the source checkpoint", src, "{path, sha256}")
    return sh


def _check_tensors(where: Path, tensors: dict[str, np.ndarray], sh: LlamaShape,
                   meta: dict[str, Any]) -> None:
    """Refuse tensors that differ from what the manifest claims: every linear's codes
    (C_out, C_in) or nibble-packed (C_out, C_in/2) uint8, scale (C_out,) float32 and zero
    (C_out,) int16; every salient mask (C_in,) uint8; the full-precision tensors' shapes."""
    def need(name: str, shape: tuple[int, ...], dtypes: tuple) -> None:
        t = tensors.get(name)
        if t is None:
            raise InputError(str(where), name, "missing tensor", expected=f"shape {list(shape)}")
        if t.dtype not in dtypes:
            raise InputError(str(where), name, "tensor has the wrong dtype", got=str(t.dtype),
                             expected=" or ".join(str(np.dtype(d)) for d in dtypes))
        if t.shape != shape:
            raise InputError(str(where), name, "tensor has the wrong shape", got=t.shape,
                             expected=str(shape))

    bits = meta["spiking"]["weight_bits"]
    for name, want in tensor_names(sh).items():
        if name.endswith("_proj.weight"):
            c_out, c_in = want
            packed = bits <= 4 and c_in % 2 == 0
            need(f"{name}.codes", (c_out, c_in // 2 if packed else c_in), (np.uint8,))
            need(f"{name}.scale", (c_out,), (np.float32,))
            need(f"{name}.zero", (c_out,), (np.int16,))
        else:
            need(name, want, (np.float32,))
    widths = {"q_proj": sh.d_model, "k_proj": sh.d_model, "v_proj": sh.d_model,
              "o_proj": sh.d_model, "gate_proj": sh.d_model, "up_proj": sh.d_model,
              "down_proj": sh.d_ffn, "k_cache": sh.d_kv, "v_cache": sh.d_kv}
    for L in range(sh.layers):
        for site in SPIKING_SITES:
            need(mask_name(L, site), (widths[site],), (np.uint8,))
