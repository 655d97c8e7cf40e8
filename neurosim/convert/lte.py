"""LTE experts and routers built offline on a real LLaMA checkpoint (seed-methods §4.1-4.2).

* **Experts** (§4.1): each FFN neuron's feature vector is its row of ``gate_proj`` (the
  gate ``W`` of ``(Swish(xW) ⊗ xV) W₂``); balanced K-means splits a layer's ``d_ffn`` neurons
  into ``d_ffn / expert_size`` clusters of exactly ``expert_size``.
* **Router** (§4.2): one sigmoid per expert, ``G(x)_i = sigmoid(x · W_g,i)`` on the FFN
  input (no bias, no softmax); at inference expert ``i`` runs iff ``G(x)_i > tau``.
* **Training** (§4.3 stage 1, model frozen): the soft FFN ``Σ_i G_i E_i(x)`` against the
  layer's own FFN output on calibration text, ``mean_t ‖Σ G_i E_i − y‖² / ‖y‖²`` per token (the task
  loss of a frozen model, local to the layer) ``+ eta · mean G`` (efficiency) ``+ lambda · mean
  1/(G − tau)²`` (separability, added for the second half of the steps once the scores have
  left tau).  The model is not adapted to the hard routers (§4.3 stage 2 is a fine-tune of
  all weights, not done here), so quality at a given sparsity is a lower bound on LTE's.

A router directory holds ``router.safetensors`` (per layer the neuron order grouped by
expert and ``W_g``), ``gates.npy`` (tokens, layers·experts) uint8 expert decisions recorded
on the evaluation text, and ``router.json`` (settings, provenance, per-layer activity,
perplexity of the full and routed model on those tokens, SHA-256 of both files).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurosim._files import read_manifest, read_safetensors, verify_files, write_dir
from neurosim._version import __version__
from neurosim.cards.schema import LlamaCard
from neurosim.convert.checkpoint import Checkpoint, check_card
from neurosim.convert.evaluate import nll_sum
from neurosim.convert.model import LlamaRunner
from neurosim.convert.spikellm import tokenize
from neurosim.convert.text import load_text
from neurosim.errors import InputError
from neurosim.kernels.cluster import _assign_balanced

FORMAT, VERSION = "neurosim-lte-router", 1
Progress = Callable[[int, int], None]


def balanced_kmeans(features: np.ndarray, size: int, seed: int = 0, iters: int = 20) -> np.ndarray:
    """Cluster labels (n,) of ``features`` (n, dim) into ``n / size`` clusters of ``size`` each.

    Lloyd iterations whose assignment step fills clusters greedily in order of distance.
    """
    x = np.asarray(features, np.float64)
    n = x.shape[0]
    if size < 1 or n % size:
        raise ValueError(f"{n} points do not split into clusters of {size}")
    k = n // size
    rng = np.random.default_rng(seed)
    centers = x[rng.choice(n, k, replace=False)]
    labels = np.zeros(n, np.int64)
    for _ in range(iters):
        dist = (x * x).sum(1)[:, None] - 2 * x @ centers.T + (centers * centers).sum(1)[None, :]
        new = _assign_balanced(np.argsort(dist, axis=None, kind="stable"), k, size, n)
        if np.array_equal(new, labels):
            break
        labels = new
        centers = np.stack([x[labels == j].mean(0) for j in range(k)])
    return labels


@dataclass
class ExpertRouter:
    """Per layer: ``order`` (layers, d_ffn) neuron ids grouped by expert (expert ``e`` is
    ``order[l, e*size:(e+1)*size]``) and router weights ``weight`` (layers, d_model, experts)."""

    order: np.ndarray
    weight: np.ndarray
    size: int
    tau: float
    meta: dict[str, Any]
    path: Path | None = None

    def gates(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Expert decisions (T, experts) bool of FFN inputs ``x`` (T, d_model)."""
        return torch.sigmoid(x @ torch.from_numpy(self.weight[layer])) > self.tau


def _expert_outputs(run: LlamaRunner, layer: int, order: np.ndarray, size: int,
                    x: torch.Tensor) -> torch.Tensor:
    """Each expert's FFN output (T, experts, d_model) for inputs ``x`` (T, d_model)."""
    w = run.weights
    idx = torch.from_numpy(order)
    gate, up, down = w[(layer, "gate_proj")][idx], w[(layer, "up_proj")][idx], w[(layer, "down_proj")][:, idx]
    a = torch.nn.functional.silu(x @ gate.T) * (x @ up.T)          # (T, f) in expert order
    T, f = a.shape
    return torch.einsum("tek,dek->ted", a.view(T, f // size, size), down.view(-1, f // size, size))


def routed_ffn(run: LlamaRunner, router: ExpertRouter, record: list | None = None
               ) -> Callable[[int, torch.Tensor], torch.Tensor]:
    """An ``ffn`` hook for ``run`` that runs only the experts the router selects; appends
    each layer's decisions (T, experts) to ``record`` when given."""
    w, size = run.weights, router.size

    def ffn(layer: int, x: torch.Tensor) -> torch.Tensor:
        on = router.gates(layer, x)
        if record is not None:
            record.append(on)
        mask = on.repeat_interleave(size, dim=1).float()
        idx = torch.from_numpy(router.order[layer])
        gate, up = w[(layer, "gate_proj")][idx], w[(layer, "up_proj")][idx]
        return (torch.nn.functional.silu(x @ gate.T) * (x @ up.T) * mask) @ w[(layer, "down_proj")][:, idx].T

    return ffn


def _train_router(x: torch.Tensor, outs: torch.Tensor, eta: float, lam: float, tau: float,
                  steps: int, seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """Router weights (d, experts) by the frozen-model stage-1 loss (module docstring)."""
    y = outs.sum(1)
    norm = (y * y).sum(1).clamp_min(1e-12)  # per token: a few huge outputs must not dominate
    gen = torch.Generator().manual_seed(seed)
    wg = torch.nn.Parameter(torch.randn(x.shape[1], outs.shape[1], generator=gen) * 1e-2)
    opt = torch.optim.Adam([wg], lr=1e-2)
    for step in range(steps):
        g = torch.sigmoid(x @ wg)
        rec = (((torch.einsum("te,ted->td", g, outs) - y) ** 2).sum(1) / norm).mean()
        loss = rec + eta * g.mean()
        if step >= steps // 2:
            loss = loss + lam * (1 / ((g - tau) ** 2).clamp_min(1e-4)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        on = (torch.sigmoid(x @ wg) > tau).float()
        hard = (((torch.einsum("te,ted->td", on, outs) - y) ** 2).sum(1) / norm).mean()
    return wg.detach().numpy().astype(np.float32), {
        "active": float(on.mean()), "soft_error": float(rec.detach()), "hard_error": float(hard)}


def _nll(run: LlamaRunner, ids: np.ndarray, window: int) -> float:
    """Mean next-token NLL (nats) over non-overlapping windows."""
    total, count = nll_sum(run, ids, window)
    return total / count


def build_router(card: LlamaCard, ckpt: Checkpoint, out: str | Path, *, eta: float,
                 separability: float = 0.5, calib_tokens: int = 1024, eval_tokens: int = 512,
                 steps: int = 300, window: int = 256, seed: int = 0,
                 progress: Progress | None = None) -> ExpertRouter:
    """Experts, routers and recorded expert decisions of ``card`` on ``ckpt``; written to ``out``.

    Calibrates on ``pydoc-calib``, records decisions and perplexities on ``pydoc-eval``.
    """
    s = card.spiking
    check_card(card, ckpt.shape, ckpt.source)
    sh, size, tau = ckpt.shape, s.expert_size, float(s.router_threshold)
    if sh.d_ffn % size:
        raise InputError(card.name, "spiking.expert_size", f"does not divide d_ffn {sh.d_ffn}",
                         got=size, expected=f"a divisor of {sh.d_ffn}")
    t0 = time.perf_counter()
    texts = {name: load_text(name) for name in ("pydoc-calib", "pydoc-eval")}
    ids = {name: tokenize(ckpt.tokenizer, t.body) for name, t in texts.items()}
    for name, need in (("pydoc-calib", calib_tokens), ("pydoc-eval", eval_tokens)):
        if len(ids[name]) < need:
            raise InputError(name, None, "text is shorter than the tokens asked for",
                             got=f"{len(ids[name])} tokens", expected=f">= {need}")
    run = LlamaRunner.from_checkpoint(ckpt, "fp")
    inputs: dict[int, list[torch.Tensor]] = {}
    w = run.weights

    def capture(layer: int, x: torch.Tensor) -> torch.Tensor:
        inputs.setdefault(layer, []).append(x.clone())
        g, u = w[(layer, "gate_proj")], w[(layer, "up_proj")]
        return (torch.nn.functional.silu(x @ g.T) * (x @ u.T)) @ w[(layer, "down_proj")].T

    run.ffn = capture
    calib = ids["pydoc-calib"][:calib_tokens]
    for start in range(0, calib_tokens, window):
        run.forward(torch.from_numpy(calib[start:start + window]))
    order = np.zeros((sh.layers, sh.d_ffn), np.int32)
    weight = np.zeros((sh.layers, sh.d_model, sh.d_ffn // size), np.float32)
    fit = []
    for layer in range(sh.layers):
        labels = balanced_kmeans(w[(layer, "gate_proj")].numpy(), size, seed)
        order[layer] = np.argsort(labels, kind="stable")
        x = torch.cat(inputs.pop(layer))
        outs = _expert_outputs(run, layer, order[layer], size, x)
        weight[layer], stats = _train_router(x, outs, eta, separability, tau, steps, seed + layer)
        fit.append(stats)
        if progress is not None:
            progress(layer + 1, sh.layers + 1)
    router = ExpertRouter(order, weight, size, tau, {})
    run.ffn = None
    ev = ids["pydoc-eval"][:eval_tokens]
    nll_full = _nll(run, ev, window)
    record: list[torch.Tensor] = []
    run.ffn = routed_ffn(run, router, record)
    nll_routed = _nll(run, ev, window)
    windows = [torch.cat(record[i:i + sh.layers], dim=1) for i in range(0, len(record), sh.layers)]
    gates = torch.cat(windows, dim=0).numpy().astype(np.uint8)   # (tokens, layers·experts)
    per_layer = gates.reshape(len(ev), sh.layers, -1).mean(axis=(0, 2))
    if progress is not None:
        progress(sh.layers + 1, sh.layers + 1)
    meta = {
        "model": card.name, "checkpoint": {"source": ckpt.source, "sha256": ckpt.sha256},
        "expert_size": size, "experts": sh.d_ffn // size, "tau": tau,
        "training": {"eta": eta, "separability": separability, "steps": steps, "seed": seed,
                     "calibration": {"text": "pydoc-calib", "sha256": texts["pydoc-calib"].sha256,
                                     "tokens": calib_tokens},
                     "loss": "relative FFN error + eta*mean G (+ lambda*mean 1/(G-tau)^2 "
                             "in the second half); model frozen (no stage 2)",
                     "per_layer": fit},
        "evaluation": {"text": "pydoc-eval", "sha256": texts["pydoc-eval"].sha256,
                       "tokens": int(len(ev)), "window": window,
                       "ppl_full": math.exp(nll_full), "ppl_routed": math.exp(nll_routed),
                       "active": float(gates.mean()), "active_per_layer": per_layer.tolist()},
        "neurosim_version": __version__,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return save_router(out, router, gates, meta)


def oracle_perplexity(ckpt: Checkpoint, size: int, keep: float, grouping: str = "kmeans",
                      tokens: int = 512, window: int = 256, seed: int = 0) -> float:
    """Perplexity on ``pydoc-eval`` when every token keeps, per layer, the ``keep`` share of
    experts with the largest output norms: the best any router of these experts can do
    without adapting the model.  ``grouping``: ``kmeans`` (§4.1) or ``random``."""
    if grouping not in ("kmeans", "random"):
        raise ValueError("grouping must be kmeans or random")
    run = LlamaRunner.from_checkpoint(ckpt, "fp")
    sh = ckpt.shape
    order = {}
    for layer in range(sh.layers):
        if grouping == "kmeans":
            labels = balanced_kmeans(run.weights[(layer, "gate_proj")].numpy(), size, seed)
            order[layer] = np.argsort(labels, kind="stable").astype(np.int32)
        else:
            order[layer] = np.random.default_rng([seed, layer]).permutation(sh.d_ffn).astype(np.int32)

    def ffn(layer: int, x: torch.Tensor) -> torch.Tensor:
        outs = _expert_outputs(run, layer, order[layer], size, x)
        norm = outs.norm(dim=2)
        top = norm.topk(max(1, round(keep * norm.shape[1])), dim=1).indices
        return torch.einsum("te,ted->td", torch.zeros_like(norm).scatter_(1, top, 1.0), outs)

    run.ffn = ffn
    ids = tokenize(ckpt.tokenizer, load_text("pydoc-eval").body)[:tokens]
    return math.exp(_nll(run, ids, window))


def save_router(out: str | Path, router: ExpertRouter, gates: np.ndarray, meta: dict) -> ExpertRouter:
    """Write a router directory atomically; returns the router read back from it."""
    from safetensors.numpy import save_file

    def write(tmp: Path) -> list[str]:
        save_file({"order": np.ascontiguousarray(router.order, np.int32),
                   "weight": np.ascontiguousarray(router.weight, np.float32)},
                  str(tmp / "router.safetensors"))
        np.save(tmp / "gates.npy", np.ascontiguousarray(gates, np.uint8), allow_pickle=False)
        return ["router.safetensors", "gates.npy"]

    write_dir(Path(out), "router.json", {"format": FORMAT, "version": VERSION, **meta}, write,
              "neurosim LTE router")
    return load_router(out)


def load_router(path: str | Path, verify: bool = True) -> ExpertRouter:
    """Read a router directory; ``verify`` checks both files' SHA-256 first."""
    path = Path(path)
    meta = read_manifest(path, "router.json", FORMAT, VERSION, "neurosim LTE router",
                         "neurosim lte-router")
    verify_files(path, list(meta.get("files", {}).items()), verify, "build the router again")
    t = read_safetensors(path / "router.safetensors")
    return ExpertRouter(t["order"], t["weight"], int(meta["expert_size"]), float(meta["tau"]),
                        meta, path)


def load_gates(router: ExpertRouter) -> np.ndarray:
    """The recorded expert decisions (tokens, layers·experts) uint8, memory-mapped."""
    if router.path is None:
        raise ValueError("router has no directory")
    return np.load(router.path / "gates.npy", mmap_mode="r", allow_pickle=False)
