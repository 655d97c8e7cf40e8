"""Perplexity of the full-precision model and of every quantized pipeline on the same tokens:
min-max and OmniQuant W4A4, SpikeLLM on each, and the halves of W4A4 (weights only,
activations only)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from neurosim.cards.schema import ModelCard
from neurosim.convert.artifact import Artifact
from neurosim.convert.checkpoint import checkpoint_path, load_checkpoint
from neurosim.convert.model import LlamaRunner
from neurosim.convert.record import text_ids
from neurosim.errors import InputError


def nll_sum(runner: LlamaRunner, ids: np.ndarray, window: int) -> tuple[float, int]:
    """Summed next-token NLL (nats) over non-overlapping windows, and tokens predicted."""
    total, count = 0.0, 0
    for start in range(0, len(ids), window):
        w = torch.from_numpy(ids[start:start + window])
        if len(w) < 2:
            break
        logits = runner.forward(w)
        total += float(torch.nn.functional.cross_entropy(logits[:-1], w[1:], reduction="sum"))
        count += len(w) - 1
    return total, count


def evaluate(card: ModelCard, art: Artifact, text_ref: str = "pydoc-eval", tokens: int = 2048,
             window: int = 512, progress: Callable[[int, int], None] | None = None) -> dict:
    """Perplexity of every pipeline over the first ``tokens`` tokens of the text, in
    non-overlapping windows of ``window`` tokens.

    From the checkpoint: ``ppl_fp``; min-max ``ppl_w4a4``, ``ppl_w4a16`` (weights only),
    ``ppl_w16a4`` (activations only) and ``ppl_spikellm_minmax`` (the artifact's salient
    channels, which both calibrations share).  From an OmniQuant artifact also
    ``ppl_omniquant_w4a4``, ``ppl_omniquant_w4a16`` and ``ppl_spikellm_omniquant``.
    ``ppl_spikellm`` is SpikeLLM with the artifact's calibration."""
    if tokens < 2 or window < 2:
        raise InputError("eval", "tokens", "tokens and window must be >= 2", got=(tokens, window))
    t0 = time.perf_counter()
    ids, text = text_ids(art, text_ref, tokens)
    ckpt = load_checkpoint(checkpoint_path(card))
    if ckpt.sha256 != art.meta["source"]["sha256"]:
        raise InputError(str(art.path), "source.sha256",
                         "artifact was converted from a different checkpoint than the card's",
                         expected=f"an artifact of {ckpt.source}")
    method = art.meta.get("calibration", {}).get("method", "minmax")
    masks = art.masks()
    runners = {"fp": lambda: LlamaRunner.from_checkpoint(ckpt, "fp"),
               "w4a4": lambda: LlamaRunner.from_checkpoint(ckpt, "w4a4", art.config),
               "spikellm_minmax": lambda: LlamaRunner.from_checkpoint(ckpt, "spikellm",
                                                                     art.config, masks),
               "w4a16": lambda: LlamaRunner.from_checkpoint(ckpt, "w4a16", art.config),
               "w16a4": lambda: LlamaRunner.from_checkpoint(ckpt, "w16a4", art.config)}
    if method == "omniquant":
        runners.update({"omniquant_w4a4": lambda: LlamaRunner.from_artifact(art, "w4a4"),
                        "spikellm_omniquant": lambda: LlamaRunner.from_artifact(art, "spikellm"),
                        "omniquant_w4a16": lambda: LlamaRunner.from_artifact(art, "w4a16")})
    out: dict = {"model": card.name, "text": text.name, "text_sha256": text.sha256,
                 "artifact_sha256": art.sha256, "calibration": method, "window": window,
                 "tokens": int(len(ids))}
    for i, (mode, make) in enumerate(runners.items()):
        total, count = nll_sum(make(), ids, window)
        out[f"ppl_{mode}"] = math.exp(total / count)
        out["predicted"] = count
        if progress is not None:
            progress(i + 1, len(runners))
    out["ppl_spikellm"] = out[f"ppl_spikellm_{method}"]
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out
