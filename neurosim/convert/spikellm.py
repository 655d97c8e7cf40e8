"""SpikeLLM W4A4 conversion of a LLaMA checkpoint (seed-methods §1.3-§1.5).

1. Calibration: ``samples`` windows of ``window`` tokens of the calibration text run in
   full precision; per linear module the first-order saliency
   ``σ_c = mean_t x_tc·(x_t WᵀW)_c``, per layer ``Kᵀ⊙(QᵀQKᵀ)`` for K and ``V⊙(PᵀPV)`` for
   V, averaged over tokens.
2. Masks: per site the ``round(salient_fraction·C)`` channels of highest (signed) score
   are salient and get ``2^addbit`` GIF steps (``2^kv_addbit`` for K and V).
3. Weights (``calibration``): OmniQuant's learnable clipping and equivalent transformation
   trained block-wise (:mod:`neurosim.convert.omniquant`), folded into the norms and
   weights, then per-output-channel ``weight_bits`` codes within the learned clipping; or
   (``minmax``) the codes of each row's min-max range.  Codes, scales and zero points.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from neurosim._version import __version__
from neurosim.cards.schema import ModelCard
from neurosim.convert import omniquant as oq
from neurosim.convert.artifact import (
    SPIKING_SITES,
    Artifact,
    SpikingConfig,
    load_artifact,
    mask_name,
    pack_codes,
    save_artifact,
)
from neurosim.convert.checkpoint import (
    LINEAR_SITES,
    check_card,
    checkpoint_path,
    linear_name,
    load_checkpoint,
)
from neurosim.convert.model import LlamaRunner, Saliency, quantize_weight
from neurosim.convert.text import load_text
from neurosim.errors import InputError

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage ``convert`` counts saliency windows, ``calibrate``
OmniQuant's layers."""


def spiking_config(card: ModelCard) -> SpikingConfig:
    s = card.spiking
    if s.scheme != "spikellm":
        raise InputError(card.name, "spiking.scheme", "conversion needs a SpikeLLM card",
                         got=s.scheme, expected="'spikellm'")
    cfg = SpikingConfig(s.abits, s.addbit, s.kv_addbit, s.salient_fraction, s.weight_bits)
    if not 1 <= cfg.weight_bits <= 8:
        raise InputError(card.name, "spiking.weight_bits", "conversion supports 1..8 weight bits",
                         got=cfg.weight_bits)
    for key in ("addbit", "kv_addbit"):
        top = 2 ** getattr(cfg, key) * (2**cfg.abits - 1)
        if cfg.abits > 7 or top > 255:
            raise InputError(card.name, f"spiking.{key}", "codes must fit 8 bits: "
                             f"2^{key} x (2^abits - 1) <= 255 and abits <= 7",
                             got=f"abits {cfg.abits}, {key} {getattr(cfg, key)} (top code {top})")
    return cfg


def tokenize(tokenizer, text: str) -> np.ndarray:
    """Token ids (n,) int64 of ``text``, without special tokens."""
    if tokenizer is None:
        raise InputError(None, "tokenizer", "the checkpoint has no tokenizer",
                         expected="tokenizer.json beside the weights")
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "get_vocab_size"):  # tokenizers.Tokenizer
        return np.asarray(tokenizer.encode(text, add_special_tokens=False).ids, np.int64)
    return np.asarray(tokenizer(text, add_special_tokens=False)["input_ids"], np.int64)


def windows(ids: np.ndarray, count: int, window: int, what: str, key: str) -> list[np.ndarray]:
    """``count`` consecutive non-overlapping windows of ``window`` tokens."""
    need = count * window
    if len(ids) < need:
        raise InputError(what, key, "text is shorter than the tokens asked for",
                         got=f"{len(ids)} tokens", expected=f">= {need} ({count} x {window})")
    return [ids[i * window:(i + 1) * window] for i in range(count)]


def select_masks(scores: dict[tuple[int, str], np.ndarray], cfg: SpikingConfig
                 ) -> dict[tuple[int, str], np.ndarray]:
    """Top ``round(p·C)`` channels by score per site (ties: lower index first)."""
    masks = {}
    for key, score in scores.items():
        m = np.zeros(score.shape[0], bool)
        m[np.argsort(-score, kind="stable")[: cfg.salient_count(score.shape[0])]] = True
        masks[key] = m
    return masks


CALIBRATIONS = ("minmax", "omniquant")


def _parameter_set(card: ModelCard, given: str | Path | None, key: dict, shape
                   ) -> tuple[dict[str, torch.Tensor], dict] | None:
    """The learned parameters to apply and their provenance, or None (train): ``given`` must
    match ``key``; the card's shipped set is used only when it does."""
    ref = given if given is not None else card.spiking.calibration_parameters
    if ref is None:
        return None
    path = oq.parameters_path(ref)
    found, params, sha = oq.load_parameters(path, shape)
    if found != key:
        if given is None:
            return None
        diff = sorted(k for k in key.keys() | found.keys() if key.get(k) != found.get(k))
        raise InputError(str(path / "parameters.json"), f"key.{diff[0]}",
                         "trained with other settings than this conversion",
                         got=found.get(diff[0]), expected=str(key.get(diff[0])))
    return params, {"parameters": str(ref), "parameters_sha256": sha}


def convert(card: ModelCard, out: str | Path, *, checkpoint: str | Path | None = None,
            calib_text: str = "pydoc-calib", calib_samples: int = 32, window: int = 512,
            calibration: str | None = None, epochs: int | None = None,
            parameters: str | Path | None = None, retrain: bool = False,
            save_parameters: str | Path | None = None,
            progress: Progress | None = None) -> Artifact:
    """Convert the card's checkpoint (or ``checkpoint``) and write the artifact to ``out``;
    ``calibration`` and ``epochs`` default to the card's ``spiking.calibration`` and
    ``calibration_epochs``.

    OmniQuant applies a learned parameter set instead of training when one was trained with
    the same settings (checkpoint, text, windows, epochs, bits, rates): ``parameters``, else
    the card's ``spiking.calibration_parameters``; a set trained otherwise is refused when
    given, ignored when the card's.  ``retrain`` always trains; ``save_parameters`` writes
    the parameters used (a directory, as :func:`neurosim.convert.omniquant.save_parameters`)."""
    cfg = spiking_config(card)
    calibration = calibration if calibration is not None else card.spiking.calibration
    epochs = epochs if epochs is not None else card.spiking.calibration_epochs
    if calibration not in CALIBRATIONS:
        raise InputError("convert", "calibration", "unknown calibration", got=calibration,
                         expected=" or ".join(CALIBRATIONS))
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InputError("convert", "epochs", "must be an integer >= 1", got=epochs)
    if calib_samples < 1 or window < 2:
        raise InputError("convert", "calib_samples", "must be >= 1 (and window >= 2)",
                         got=(calib_samples, window))
    t0 = time.perf_counter()
    src = Path(checkpoint) if checkpoint is not None else checkpoint_path(card)
    ckpt = load_checkpoint(src)
    check_card(card, ckpt.shape, str(src))
    text = load_text(calib_text)
    ids = tokenize(ckpt.tokenizer, text.body)
    wins = windows(ids, calib_samples, window, text.name, "calib_samples")
    t_load = time.perf_counter() - t0
    sh = ckpt.shape
    if calibration == "omniquant":  # a given parameter set is checked before any work
        key = {"source_sha256": ckpt.sha256, "text_sha256": text.sha256,
               "samples": calib_samples, "window": window, "epochs": epochs,
               "bits": [cfg.weight_bits, cfg.abits], "alpha": oq.LET_ALPHA,
               "lr": [oq.LR_LWC, oq.LR_LET]}
        found = None if retrain else _parameter_set(card, parameters, key, sh)
    elif parameters is not None or save_parameters is not None:
        raise InputError("convert", "parameters", "learned parameters are OmniQuant's",
                         expected="--calibration omniquant")

    runner = LlamaRunner.from_checkpoint(ckpt, "fp")
    sal = Saliency()
    for i, w in enumerate(wins):
        runner.forward(torch.from_numpy(w), saliency=sal)
        if progress is not None:
            progress("convert", i + 1, len(wins))
    masks = select_masks(sal.means(), cfg)

    src_tensors, clips = ckpt.tensors, {}
    state = Path(out).parent / f".{Path(out).name}.omniquant"
    learned: dict = {}
    if calibration == "omniquant":  # LET leaves the saliency scores, so the masks, unchanged
        if found is not None:
            params, learned = found
            src_tensors, clips = oq.apply_parameters(ckpt.tensors, sh, params)
        else:
            src_tensors, params = oq.calibrate(
                ckpt.tensors, sh, wins, (cfg.weight_bits, cfg.abits), epochs, resume=state,
                key={**key, "neurosim_version": __version__},
                progress=None if progress is None else lambda i, n: progress("calibrate", i, n))
            clips = oq.clips_of(params, sh.layers)
            learned = {"parameters": "trained"}
        if save_parameters is not None:
            oq.save_parameters(Path(save_parameters), key, params)
    tensors: dict[str, np.ndarray] = {}
    shapes = {}
    for L in range(sh.layers):
        for site in LINEAR_SITES:
            name = linear_name(L, site)
            if (L, site) in clips:
                q, s, z = oq.quantize_weight_clipped(src_tensors[name].double(),
                                                     *clips[(L, site)], cfg.weight_bits)
            else:
                q, s, z = quantize_weight(src_tensors[name], cfg.weight_bits)
            tensors[f"{name}.codes"] = pack_codes(q.numpy(), cfg.weight_bits)
            tensors[f"{name}.scale"] = s.numpy().astype(np.float32)
            tensors[f"{name}.zero"] = z.numpy()
            shapes[name] = list(q.shape)
        for site in SPIKING_SITES:
            tensors[mask_name(L, site)] = masks[(L, site)].astype(np.uint8)
    for name, t in src_tensors.items():
        if not name.endswith("_proj.weight"):
            tensors[name] = t.numpy().astype(np.float32)
    meta = {
        "model": card.name,
        "family": card.family,
        "architecture": sh.to_dict(),
        "spiking": cfg.to_dict(),
        "shapes": shapes,
        "source": {"path": ckpt.source, "sha256": ckpt.sha256},
        "calibration": {"text": text.name, "text_sha256": text.sha256, "samples": calib_samples,
                        "window_tokens": window, "saliency": "first order, mean over tokens",
                        "method": calibration,
                        **({"epochs": epochs} if calibration == "omniquant" else {}), **learned},
        "neurosim_version": __version__,
        "timing_s": {"load": round(t_load, 2), "convert": round(time.perf_counter() - t0, 2)},
    }
    path = save_artifact(Path(out), meta, tensors, ckpt.tokenizer)
    shutil.rmtree(state, ignore_errors=True)  # the calibration is in the artifact now
    return load_artifact(path)
