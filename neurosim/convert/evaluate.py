"""Perplexity of the full-precision, plain W4A4 and SpikeLLM W4A4 models on the same tokens,
and of the two halves of W4A4 (weights only, activations only)."""

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
    """``ppl_fp``, ``ppl_w4a4``, ``ppl_spikellm`` (and ``ppl_w4a16``, ``ppl_w16a4``) over the
    first ``tokens`` tokens of the text, in non-overlapping windows of ``window`` tokens."""
    if tokens < 2 or window < 2:
        raise InputError("eval", "tokens", "tokens and window must be >= 2", got=(tokens, window))
    t0 = time.perf_counter()
    ids, text = text_ids(art, text_ref, tokens)
    ckpt = load_checkpoint(checkpoint_path(card))
    if ckpt.sha256 != art.meta["source"]["sha256"]:
        raise InputError(str(art.path), "source.sha256",
                         "artifact was converted from a different checkpoint than the card's",
                         expected=f"an artifact of {ckpt.source}")
    runners = {"fp": lambda: LlamaRunner.from_checkpoint(ckpt, "fp"),
               "w4a4": lambda: LlamaRunner.from_artifact(art, "w4a4"),
               "spikellm": lambda: LlamaRunner.from_artifact(art, "spikellm"),
               "w4a16": lambda: LlamaRunner.from_artifact(art, "w4a16"),
               "w16a4": lambda: LlamaRunner.from_checkpoint(ckpt, "w16a4")}
    out: dict = {"model": card.name, "text": text.name, "text_sha256": text.sha256,
                 "artifact_sha256": art.sha256, "window": window, "tokens": int(len(ids))}
    for i, (mode, make) in enumerate(runners.items()):
        total, count = nll_sum(make(), ids, window)
        out[f"ppl_{mode}"] = math.exp(total / count)
        out["predicted"] = count
        if progress is not None:
            progress(i + 1, len(runners))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out
