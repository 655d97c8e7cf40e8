"""The conversion cache: one artifact per card and spike traces per artifact.

``$NEUROSIM_CACHE`` (default ``~/.cache/neurosim``) holds ``artifacts/<card>-<card sha>``,
``traces/<card>-<artifact sha>-<text>-<tokens>``, SpikeGPT recurrence traces
``traces/<card>-<card sha>-recurrence-seed<seed>-<tokens>`` and LTE routers
``routers/<card>-<card sha>``.  A missing entry is built (convert with the default
calibration, record on the evaluation text, train a router as in neurosim.convert.lte); an
existing one is checked against its checksums and refused, with its path, if damaged; an
artifact or trace of an older format version is built again.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neurosim._files import read_manifest, verify_files, write_dir
from neurosim.cards import ModelCard, card_hash
from neurosim.convert.artifact import VERSION, Artifact, load_artifact
from neurosim.errors import InputError
from neurosim.traffic.trace import VERSION as TRACE_VERSION
from neurosim.traffic.trace import SpikeTrace

TRACE_TEXT = "pydoc-eval"
MIN_TRACE_TOKENS = 256
Progress = Callable[[str, int, int], None]


def cache_dir() -> Path:
    return Path(os.environ.get("NEUROSIM_CACHE") or Path.home() / ".cache" / "neurosim")


def _version(meta_file: Path) -> object:
    try:
        return json.loads(meta_file.read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def _notice(text: str) -> None:
    """One line on stderr: the cache is rebuilding something the user did not ask for."""
    sys.stderr.write(f"neurosim: note: {text}\n")


def need_torch(what: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError(None, what, "needs torch, which is not installed",
                         expected="pip install -c constraints.txt -e '.[convert]' "
                                  "(make run and make test install it)") from None


def artifact_for(card: ModelCard, progress: Progress | None = None) -> Artifact:
    """The card's cached artifact, converting the checkpoint first if there is none."""
    path = cache_dir() / "artifacts" / f"{card.name}-{card_hash(card)[:12]}"
    if (path / "artifact.json").is_file():
        if _version(path / "artifact.json") == VERSION:
            try:
                return load_artifact(path)
            except InputError as err:  # damaged: said so, then converted again below
                _notice(f"the cached artifact is damaged ({err}); converting it again")
        else:  # an older format (or an unreadable manifest) is converted again below
            _notice(f"the cached artifact {path} is of another version; converting it again")
    need_torch("convert")
    from neurosim.convert.spikellm import convert

    return convert(card, path, progress=progress)


def trace_for(card: ModelCard, art: Artifact, tokens: int,
              progress: Progress | None = None) -> SpikeTrace:
    """A cached trace of at least ``tokens`` tokens, recording one if there is none."""
    root = cache_dir() / "traces"
    stem = f"{card.name}-{art.sha256[:12]}-{TRACE_TEXT}-"
    if root.is_dir():
        have = sorted((int(p.name[len(stem):]), p) for p in root.glob(stem + "*")
                      if p.name[len(stem):].isdigit() and (p / "trace.json").is_file()
                      and _version(p / "trace.json") == TRACE_VERSION)
        for n, p in have:
            if n >= tokens:
                try:
                    return SpikeTrace.open(p)
                except InputError as err:  # damaged: said so, then recorded again below
                    _notice(f"the cached trace is damaged ({err}); recording it again")
                    tokens = max(tokens, n)
                    break
    need_torch("trace")
    from neurosim.convert.record import record_trace

    n = max(tokens, MIN_TRACE_TOKENS)
    cb = None if progress is None else (lambda i, k: progress("trace", i, k))
    return record_trace(art, card, TRACE_TEXT, n, root / f"{stem}{n}", progress=cb)


def router_for(card: ModelCard, progress: Progress | None = None):
    """The card's cached LTE router (neurosim.convert.lte), building it if there is none."""
    path = cache_dir() / "routers" / f"{card.name}-{card_hash(card)[:12]}"
    if (path / "router.json").is_file():
        from neurosim.convert.lte import VERSION as ROUTER_VERSION
        from neurosim.convert.lte import load_router

        if _version(path / "router.json") == ROUTER_VERSION:
            try:
                return load_router(path)
            except InputError as err:  # damaged: said so, then built again below
                _notice(f"the cached LTE router is damaged ({err}); building it again")
    need_torch("lte-router")
    from neurosim.convert.checkpoint import checkpoint_path, load_checkpoint
    from neurosim.convert.lte import build_router

    r = card.spiking.router
    if r is None:
        raise InputError(card.name, "spiking.router", "the card has no router settings",
                         expected="spiking.router with eta (an LTE card with real weights)")
    ckpt = load_checkpoint(checkpoint_path(card))
    cb = None if progress is None else (lambda i, n: progress("router", i, n))
    return build_router(card, ckpt, path, eta=r.eta, separability=r.separability,
                        calib_tokens=r.calibration_tokens, eval_tokens=r.evaluation_tokens,
                        steps=r.steps, progress=cb)


RECURRENCE_FORMAT, RECURRENCE_VERSION = "neurosim-recurrence-trace", 1
MIN_RECURRENCE_TOKENS = 64


def recurrence_for(card: ModelCard, seed: int, tokens: int) -> tuple[np.ndarray, dict]:
    """Spikes (tokens, N) uint8 of SpikeGPT's recurrence on ``pydoc-eval`` (UTF-8 bytes as
    ids), memory-mapped from a cached, checksummed ``spikes.npy``; recorded if not cached."""
    from neurosim.convert.rwkv import SpikeGPTRecurrence
    from neurosim.convert.text import load_text

    root = cache_dir() / "traces"
    stem = f"{card.name}-{card_hash(card)[:12]}-recurrence-seed{seed}-"
    have = sorted((int(p.name[len(stem):]), p) for p in root.glob(stem + "*")
                  if p.name[len(stem):].isdigit()) if root.is_dir() else []
    for n, path in have:
        if n >= tokens:
            try:
                meta = read_manifest(path, "trace.json", RECURRENCE_FORMAT, RECURRENCE_VERSION,
                                     "neurosim recurrence trace",
                                     "neurosim run --traffic recurrence")
                verify_files(path, list(meta["files"].items()), True, "recorded again")
                return np.load(path / "spikes.npy", mmap_mode="r", allow_pickle=False), meta
            except (InputError, OSError, ValueError) as err:  # damaged: recorded again below
                _notice(f"the cached recurrence trace is damaged ({err}); recording it again")
                tokens = max(tokens, n)
                break
    n = max(tokens, MIN_RECURRENCE_TOKENS)
    text = load_text(TRACE_TEXT)
    ids = np.frombuffer(text.body.encode(), np.uint8)[:n]
    spikes = SpikeGPTRecurrence(card, seed).trace(ids)
    header = {"format": RECURRENCE_FORMAT, "version": RECURRENCE_VERSION,
              "model": card.name, "card_sha256": card_hash(card), "seed": seed,
              "text": {"name": text.name, "sha256": text.sha256, "ids": "UTF-8 bytes mod vocab"},
              "tokens_recorded": int(len(ids))}
    out = root / f"{stem}{n}"

    def write(tmp: Path) -> list[str]:
        np.save(tmp / "spikes.npy", spikes, allow_pickle=False)
        return ["spikes.npy"]

    meta = write_dir(out, "trace.json", header, write, "neurosim recurrence trace")
    return np.load(out / "spikes.npy", mmap_mode="r", allow_pickle=False), meta
