"""Record a SpikeTrace: real text through the SpikeLLM model, every site's codes per token.

The forward runs in FP64 from the artifact's integer weights (:data:`TRACE_DTYPE`, see
:mod:`neurosim.convert.model`): its codes do not depend on which vector ISA or BLAS path
torch's CPU kernels take (checked under ``ATEN_CPU_CAPABILITY=default``, ``avx2`` and
``avx512``, and with ``torch.backends.mkldnn`` on and off).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from neurosim._version import __version__
from neurosim.cards.schema import ModelCard
from neurosim.convert.artifact import Artifact
from neurosim.convert.model import LlamaRunner, Recorder
from neurosim.convert.spikellm import tokenize
from neurosim.convert.text import load_text
from neurosim.errors import InputError
from neurosim.graph.lower import lower
from neurosim.traffic.trace import SpikeTrace, TraceWriter, group_table

TRACE_DTYPE = torch.float64


def load_tokenizer(art: Artifact):
    if art.tokenizer_file is None:
        raise InputError(str(art.path), "tokenizer.json", "the artifact has no tokenizer",
                         expected="an artifact converted from a checkpoint with a tokenizer")
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(art.tokenizer_file))


def text_ids(art: Artifact, text_ref: str, tokens: int) -> tuple[np.ndarray, object]:
    """The first ``tokens`` token ids of a text, refusing a text that is too short."""
    text = load_text(text_ref)
    ids = tokenize(load_tokenizer(art), text.body)
    if len(ids) < tokens:
        raise InputError(text.name, None, "text is shorter than the tokens asked for",
                         got=f"{len(ids)} tokens", expected=f">= {tokens}")
    return ids[:tokens], text


def trace_runner(art: Artifact) -> LlamaRunner:
    """The SpikeLLM runner a trace is recorded with (FP64, the artifact's integer weights)."""
    return LlamaRunner.from_artifact(art, "spikellm", dtype=TRACE_DTYPE)


def record_trace(art: Artifact, card: ModelCard, text_ref: str, tokens: int, out: str | Path,
                 chunk_tokens: int = 64, progress: Callable[[int, int], None] | None = None
                 ) -> SpikeTrace:
    """Run ``tokens`` tokens of the text through the spiking model; write the trace to ``out``."""
    if tokens < 1:
        raise InputError("trace", "tokens", "must be >= 1", got=tokens)
    if art.meta["model"] != card.name:
        raise InputError(str(art.path), "model", "artifact was converted for another card",
                         got=art.meta["model"], expected=card.name)
    t0 = time.perf_counter()
    ids, text = text_ids(art, text_ref, tokens)
    graph = lower(card)
    masks = art.masks()
    salient = np.concatenate([masks[(g.layer, g.site)] for g in graph.groups])
    runner = trace_runner(art)
    header = {"model": card.name, "artifact_sha256": art.sha256,
              "forward_dtype": str(TRACE_DTYPE).removeprefix("torch."),
              "text": {"name": text.name, "sha256": text.sha256},
              "groups": group_table(graph),
              "spiking": {k: art.config.to_dict()[k] for k in ("abits", "addbit", "kv_addbit")},
              "neurosim_version": __version__}
    cache = runner.new_cache()
    with TraceWriter(out, header, salient, ids, chunk_tokens) as writer:
        for start in range(0, tokens, chunk_tokens):
            rec = Recorder()
            runner.forward(torch.from_numpy(ids[start:start + chunk_tokens]), cache, record=rec)
            codes = rec.take()
            writer.append(np.concatenate(
                [codes[(g.layer, g.site)] for g in graph.groups], axis=1))
            if progress is not None:
                progress(min(start + chunk_tokens, tokens), tokens)
        writer.header["timing_s"] = round(time.perf_counter() - t0, 2)
    return SpikeTrace.open(out)
