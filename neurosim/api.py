"""``neurosim.run``: the one call behind the CLI, the notebooks and the sweeps."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import neurosim
from neurosim.backends import get_backend
from neurosim.backends.graph_net import SimulatedTraffic
from neurosim.cards import ModelCard, card_hash, load_card
from neurosim.cards.schema import DenseScheme, LlamaArchitecture
from neurosim.errors import BackendError, InputError, NotImplementedYet
from neurosim.estimate.costs import (
    NeuromorphicCosts,
    accounting_baseline,
    gated_delta,
    gpu_baseline,
)
from neurosim.graph.ir import EventGraph
from neurosim.graph.lower import lower, with_weights
from neurosim.hardware import Profile, load_profile, profile_hash
from neurosim.mapping import map_graph
from neurosim.replay.engine import Latencies, Replayer
from neurosim.replay.plan import build_plan
from neurosim.result import Result
from neurosim.traffic.fitted import FittedTraffic, load_fit
from neurosim.traffic.rates import RateTraffic, RecordedTraffic, layer_rates
from neurosim.traffic.synthetic import SyntheticTraffic
from neurosim.traffic.trace import RealTraffic

Progress = Callable[[str, int, int], None]

BASELINES = ("gpu-a100", "gpu-h100", "generic-45nm")


def dense_counterpart(card: ModelCard) -> ModelCard:
    """The same architecture without spiking (FP16): what a GPU baseline runs."""
    if card.spiking.scheme == "none":
        return card
    dense = DenseScheme(scheme="none", weight_bits=16, activation_bits=16,
                        source=f"dense FP16 counterpart of {card.name}")
    return card.model_copy(update={"spiking": dense})


def _embedding_params(card: ModelCard) -> int:
    a = card.architecture
    if isinstance(a, LlamaArchitecture) and a.tied_embeddings:
        return 0  # the tied table is read as lm_head
    return a.vocab * a.d_model


def _artifact(card: ModelCard, progress: Progress | None):
    """The card's converted artifact (cached), or None for a card without weights."""
    if card.weights.source == "none" or card.spiking.scheme != "spikellm":
        return None
    from neurosim.convert.cache import artifact_for

    return artifact_for(card, progress)


def compile_graph(card: ModelCard, progress: Progress | None = None, art=None) -> EventGraph:
    """The card's EventGraph; with the real per-column fan-out when the card has weights."""
    art = art or _artifact(card, progress)
    return lower(card) if art is None else with_weights(lower(card), art)


def _traffic(card: ModelCard, graph: EventGraph, art, seed: int, traffic: str | None,
             last_position: int, progress: Progress | None):
    kind = traffic or card.traffic.default
    s = card.spiking
    if kind == "real" and s.scheme == "lte":
        return _lte_real(card, last_position, progress)
    if kind == "real":
        if art is None:
            raise InputError(card.name, "weights.source", "real traffic needs real weights",
                             got=card.weights.source,
                             expected="a SpikeLLM card with weights, or --traffic synthetic")
        from neurosim.convert.cache import trace_for

        return RealTraffic(trace_for(card, art, last_position + 1, progress), graph)
    if kind == "recurrence":
        if s.scheme != "spikegpt":
            raise InputError(card.name, "traffic", "recurrence traffic runs SpikeGPT's RNN form",
                             got=s.scheme, expected="a spikegpt card, or --traffic synthetic")
        from neurosim.convert.cache import recurrence_for

        spikes, meta = recurrence_for(card, seed, last_position + 1)
        return RecordedTraffic(spikes, {
            "model": "SpikeGPT recurrence, seeded random RWKV-4 weights", "seed": seed,
            "text": meta["text"], "tokens_recorded": meta["tokens_recorded"],
            "spikes_sha256": meta["files"]["spikes.npy"]})
    if s.scheme == "spikellm":
        if card.traffic.fit:
            return FittedTraffic(graph, load_fit(card.traffic.fit), s.abits, seed)
        return SyntheticTraffic(graph, s.abits, s.addbit, s.kv_addbit, seed)
    if s.scheme == "spikegpt":
        per_layer = layer_rates(s.firing_rate, card.architecture.layers)
        return RateTraffic(graph, [per_layer[g.layer] for g in graph.groups], seed,
                           {"firing_rate": s.firing_rate, "rule": "LIF spikes per token"})
    if s.scheme == "spikelm":
        return RateTraffic(graph, [s.firing_rate] * len(graph.groups), seed,
                           {"firing_rate": s.firing_rate,
                            "rule": "+1 and -1 each at firing_rate/2 per step"})
    if s.scheme == "none":  # a dense model has no spiking sites: nothing to replay
        return RateTraffic(graph, [], seed, {"rule": "no spiking sites"})
    if s.scheme == "lte":
        if s.sparsity is None:
            raise InputError(card.name, "spiking.sparsity", "synthetic LTE traffic needs the "
                             "expert sparsity", expected="a fraction, or one per layer; or --traffic real")
        per_layer = layer_rates(s.sparsity, card.architecture.layers)
        return RateTraffic(graph, [1 - per_layer[g.layer] for g in graph.groups], seed,
                           {"sparsity": s.sparsity,
                            "rule": "each expert active with probability 1 - sparsity"})
    raise NotImplementedYet(f"{card.name}: synthetic traffic for scheme '{s.scheme}' is not "
                            "implemented yet")


def _lte_real(card: ModelCard, last_position: int, progress: Progress | None) -> RecordedTraffic:
    """The expert decisions of the card's router (built on its real weights) on real text."""
    if card.spiking.router is None or card.weights.source == "none":
        raise InputError(card.name, "spiking.router", "real LTE traffic needs a router built on "
                         "real weights", expected="an LTE card with weights and spiking.router, "
                         "or --traffic synthetic")
    from neurosim.convert.cache import router_for
    from neurosim.convert.lte import load_gates

    router = router_for(card, progress)
    gates = load_gates(router)
    if last_position >= len(gates):
        raise InputError(card.name, "spiking.router.evaluation_tokens",
                         "fewer expert decisions recorded than positions asked for",
                         got=len(gates), expected=f">= {last_position + 1} (or fewer --tokens)")
    ev, tr = router.meta["evaluation"], router.meta["training"]
    return RecordedTraffic(gates, {
        "model": "LTE routers on the card's real weights (model frozen)",
        "router_sha256": router.meta["files"]["router.safetensors"],
        "checkpoint_sha256": router.meta["checkpoint"]["sha256"],
        "text": {"name": ev["text"], "sha256": ev["sha256"]}, "tokens_recorded": len(gates),
        "eta": tr["eta"],
        "ppl_full": ev["ppl_full"], "ppl_routed": ev["ppl_routed"]}, kind="real")


def run(
    model: str | ModelCard,
    profile: str | Profile,
    *,
    tokens: int = 16,
    seed: int = 0,
    position: int = 0,
    context: int | None = None,
    backend: str = "numba",
    traffic: str | None = None,
    progress: Progress | None = None,
) -> Result:
    """Replay ``tokens`` tokens of ``model`` on ``profile``; return a :class:`Result`.

    Tokens occupy positions ``position .. position + tokens - 1``; the tokens before
    ``position`` are replayed first to fill the attention blocks' KV cache.  The KV cache is
    sized for ``context`` positions (default: the card's ``max_context``).
    ``progress(stage, done, total)`` reports conversion, trace recording, the KV prefix
    (``"prefix"``) and the replay (``"replay"``).
    """
    card = model if not isinstance(model, str) else load_card(model)
    prof = profile if not isinstance(profile, str) else load_profile(profile)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise InputError("run", "tokens", "must be an integer >= 1", got=tokens)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError("run", "seed", "must be an integer >= 0", got=seed)
    if traffic not in (None, "synthetic", "real", "recurrence"):
        raise InputError("run", "traffic", "unknown traffic source", got=traffic,
                         expected="synthetic, real or recurrence")
    be = get_backend(backend)
    why = be.unavailable()
    if why:
        raise BackendError(why)
    ctx = context or card.architecture.max_context
    if position < 0 or position + tokens > ctx:
        raise InputError("run", "position", "tokens do not fit the context",
                         got=f"positions {position}..{position + tokens - 1}",
                         expected=f"positions within 0..{ctx - 1}")
    art = _artifact(card, progress)
    graph = compile_graph(card, progress, art)
    source = _traffic(card, graph, art, seed, traffic, position + tokens - 1, progress)
    if backend != "numba":  # the backend simulates the neurons; numba replays the codes
        if progress is not None:
            progress("simulate", 0, 1)
        source = SimulatedTraffic(graph, source, position + tokens, be)
        if progress is not None:
            progress("simulate", 1, 1)
    dense_card = dense_counterpart(card)
    dense_graph = lower(dense_card)

    notes: list[str] = []
    mapping: dict[str, Any] = {}
    if prof.kind == "neuromorphic":
        mp = map_graph(graph, prof, ctx)
        mapping = mp.summary()
        payload = int(prof.core.graded_payload_bits.value)
        plan = build_plan(graph, mp, payload)
        if plan.chunk_unary.any():
            notes.append(f"{prof.name} has no graded spikes of {graph.groups[0].code_bits} bits "
                         f"(payload {payload} bits): each code q travels as q binary spikes")
        missing = {g.model for g in graph.groups} - set(prof.core.neuron_models)
        if missing:
            notes.append(f"neuron models {sorted(missing)} are not native on {prof.name}; "
                         "their codes are injected as spikes into accumulating neurons")
        replayer = Replayer(plan, Latencies.of(prof), prof.core.neuron_update == "time_driven")
        costs = NeuromorphicCosts(plan, prof)
    else:
        plan = build_plan(graph, None, 32)
        replayer = Replayer(plan, Latencies(), time_driven=False)
        costs = None
    # The literature accounting needs graded synops; they equal the mapped replay's unless
    # binary-only cores expanded codes into unary spikes (tiles partition every target).
    if plan.chunk_unary.any():
        acc_plan = build_plan(graph, None, 32)
        acc_replayer = Replayer(acc_plan, Latencies(), False)
    else:
        acc_plan, acc_replayer = plan, replayer
    acc_profile = prof if prof.kind == "accounting" else load_profile("generic-45nm")
    gpus = {n: load_profile(n) for n in BASELINES if n.startswith("gpu")}
    if prof.kind == "gpu":
        gpus[prof.name] = prof

    # decoders attend the earlier positions; an encoder (bert) attends its whole sequence of
    # ``ctx`` positions, so every position is cached first and each token is counted at the
    # last position without growing the cache
    encoder = card.family == "bert"
    for pos in range(ctx if encoder else position):
        codes = source.codes(pos)
        replayer.prefix(codes)
        if acc_replayer is not replayer:
            acc_replayer.prefix(codes)
        if progress is not None:
            progress("prefix", pos + 1, ctx if encoder else position)
    rows, site_rows, base_rows = [], [], []
    # SpikeGPT's own accounting prices its projections at the measured LIF firing rate
    lif_neurons = (sum(g.size for g in graph.groups)
                   if card.spiking.scheme == "spikegpt" else 0)
    # LTE: each gate group's decisions (one identity block each) say which experts run
    gate_blocks = {b.source: bi for bi, b in enumerate(graph.blocks)
                   if graph[b.source].model == "gate"}
    block_meta = [(b.layer, b.site, b.name) for b in graph.blocks]
    params, emb = card.parameters, _embedding_params(card)
    for i in range(tokens):
        pos = ctx - 1 if encoder else position + i  # positions attended: pos + 1
        codes = source.codes(position + i)
        tc = replayer.token(codes, pos, grow=not encoder)
        acc_tc = tc if acc_replayer is replayer else acc_replayer.token(codes, pos, not encoder)
        active = {g: float(tc.events[bi]) / graph[g].size for g, bi in gate_blocks.items()}
        row: dict[str, Any] = {
            "token": i, "position": position + i,
            "events": int(tc.events.sum()), "synops": int(tc.synops.sum()),
            "synops_graded": int(tc.synops_graded.sum()),
            "dense_equivalent_macs": int(graph.dense_equivalent_macs(pos)),
            "dense_macs": sum(op.count(pos, active.get(op.gated_by, 1.0))["mac"]
                              for op in graph.dense_ops),
            "neuron_updates": int((tc.updates_active + tc.updates_inactive).sum()),
            "messages": int(tc.messages.sum()), "hops": int(tc.hops.sum()),
            "chip_crossings": int(tc.crossings.sum()),
        }
        weight_bits = float((acc_tc.synops * acc_plan.block_weight_bits).sum())
        rate = (float(acc_tc.events.sum()) / lif_neurons) if lif_neurons else None
        acc = accounting_baseline(graph, acc_tc.synops.sum(), acc_profile, pos, weight_bits, rate,
                                  active)
        block_energy = np.zeros(len(block_meta))
        if costs is not None:
            c = costs.token(tc, active)
            row["energy_j"] = float(sum(c["energy_j"].values()))
            row["latency_s"] = c["latency_s"]
            row["bottleneck_s"] = c["bottleneck_s"]
            for k in ("spiking", "dense", "transfer"):
                row[f"latency_s:{k}"] = c[f"{k}_s"]
            for k, v in c["memory_bytes"].items():
                row[f"memory_bytes:{k}"] = v
            for k, v in c["energy_j"].items():
                row[f"energy_j:{k}"] = v
            core = prof.core
            block_energy = (
                (tc.synops - tc.synops_graded) * float(core.synop_energy_pj)
                + tc.synops_graded * float(core.graded_synop_energy_pj)
                + tc.updates_active * float(core.neuron_update_energy_pj)
                + tc.updates_inactive * float(core.inactive_neuron_update_energy_pj)
                + tc.events * float(core.spike_out_energy_pj)
                + tc.messages * float(core.message_in_energy_pj)
                + tc.hops * float(prof.chip.hop_energy_pj)
            ) * 1e-12
        elif prof.kind == "accounting":
            row["energy_j"] = acc["spiking_j"]
            row["latency_s"] = float("nan")
            row["energy_j:synapses"] = float(acc_tc.synops.sum()) * float(prof.ops.ac_energy_pj) * 1e-12
            row["energy_j:dense"] = acc["spiking_j"] - row["energy_j:synapses"]
            block_energy = acc_tc.synops * float(prof.ops.ac_energy_pj) * 1e-12
        else:  # gpu: the dense model itself
            delta = gated_delta(graph, pos, active) if gate_blocks else None
            gb = gpu_baseline(dense_graph, params, emb, prof, pos, ctx, delta)
            row["energy_j"], row["latency_s"] = gb["energy_j"], gb["latency_s"]
            row["memory_bytes:hbm"] = gb["bytes"]
            row["energy_j:compute"] = gb["flops"] * float(prof.gpu.flop_energy_pj) * 1e-12
            row["energy_j:memory:hbm"] = gb["bytes"] * 8 * float(prof.gpu.memory_energy_pj_per_bit) * 1e-12
            row["energy_j:static"] = gb["energy_j"] - row["energy_j:compute"] - row["energy_j:memory:hbm"]
            mapping = {"devices": gb["devices"], "chips": gb["devices"], "cores": None}
        rows.append(row)
        for (layer, site, name), ev, syn, msg, ej in zip(block_meta, tc.events, tc.synops,
                                                        tc.messages, block_energy):
            site_rows.append({"token": i, "layer": layer, "site": site, "block": name,
                              "events": int(ev), "synops": int(syn), "messages": int(msg),
                              "energy_j": float(ej)})
        for name, gp in gpus.items():
            if name == prof.name:
                continue
            gb = gpu_baseline(dense_graph, params, emb, gp, pos, ctx)
            base_rows.append({"token": i, "profile": name, "kind": "gpu roofline (dense FP16)",
                              "energy_j": gb["energy_j"], "latency_s": gb["latency_s"]})
        for kind in ("spiking", "dense_equivalent", "with_memory"):
            base_rows.append({"token": i, "profile": f"{acc_profile.name}:{kind}",
                              "kind": f"literature accounting ({kind.replace('_', ' ')})",
                              "energy_j": acc[f"{kind}_j"], "latency_s": float("nan")})
        if "paper_j" in acc:
            base_rows.append({"token": i, "profile": f"{acc_profile.name}:paper",
                              "kind": f"paper accounting (projections at E_AC x R, R = {rate:.3f})",
                              "energy_j": acc["paper_j"], "latency_s": float("nan")})
        if progress is not None:
            progress("replay", i + 1, tokens)

    provenance = {
        "neurosim_version": neurosim.__version__,
        "model_card": card.name,
        "model_card_sha256": card_hash(card),
        "graph_weights": graph.weights,
        "profile": prof.name,
        "profile_sha256": profile_hash(prof),
        "traffic": source.provenance(),
        "backend": backend,
        "positions": [position, position + tokens - 1],
        "context": ctx,
        "layer_pipelining": bool(prof.kind == "neuromorphic" and prof.execution.layer_pipelining),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "host": os.uname().nodename if hasattr(os, "uname") else None,
    }
    if prof.kind == "neuromorphic" and prof.execution.layer_pipelining:
        notes.append("layer pipelining: tokens_per_s_pipelined = 1 / slowest stage time")
    return Result(card.name, prof.name, backend, source.kind, pd.DataFrame(rows),
                  pd.DataFrame(site_rows), pd.DataFrame(base_rows), mapping, provenance, notes)


def traffic_agreement(model: str | ModelCard, profile: str | Profile, *, tokens: int = 64,
                      seed: int = 0, context: int | None = None) -> pd.DataFrame:
    """Per-site counters per token from real traffic and from the card's fitted synthetic
    traffic, side by side, on the same graph and profile; ``*_diff`` is synthetic/real - 1."""
    card = model if not isinstance(model, str) else load_card(model)
    per = {}
    for kind in ("real", "synthetic"):
        res = run(card, profile, tokens=tokens, seed=seed, traffic=kind, context=context)
        per[kind] = res.sites.groupby("site")[["events", "synops", "messages", "energy_j"]].sum() / tokens
    out = pd.concat({k: v for k, v in per.items()}, axis=1)
    out.columns = [f"{col}_{kind}" for kind, col in out.columns]
    total = out.sum().to_frame("all").T
    out = pd.concat([out, total])
    for col in ("events", "synops", "messages", "energy_j"):
        out[f"{col}_diff"] = out[f"{col}_synthetic"] / out[f"{col}_real"] - 1
    return out.rename_axis("site").reset_index()


def compare(models: list[str | ModelCard], profile: str | Profile, *, tokens: int = 4,
            seed: int = 0, context: int | None = None,
            progress: Progress | None = None) -> pd.DataFrame:
    """The families side by side on one profile, a row per model (means per token).

    ``energy_j``, ``tokens_per_s`` (1 / latency), ``synops``, ``dense_equivalent_macs`` and
    their ratio, ``dense_macs`` (what the dense units run), ``outside_synapses`` (share of the
    energy not spent on synaptic operations), and ``paper_j``: the paper-style accounting of the
    same traffic on generic-45nm (SpikeGPT: projections at E_AC x firing rate; the others:
    synops x E_AC plus non-spiking ops at their class energies), with ``paper_share`` =
    paper_j / energy_j, the part of this estimate such an accounting covers; ``share:<c>``
    each energy component's share (synapses, neurons, memory levels, NoC, dense, static ...).
    """
    prof = profile if not isinstance(profile, str) else load_profile(profile)
    rows = []
    for k, model in enumerate(models):
        card = model if not isinstance(model, str) else load_card(model)
        res = run(card, prof, tokens=tokens, seed=seed, context=context)
        t, s = res.tokens, res.summary()["per_token"]
        base = res.baselines.groupby("profile")["energy_j"].mean()
        paper = base.get("generic-45nm:paper", base.get("generic-45nm:spiking"))
        if prof.kind == "accounting":  # the run is the accounting itself
            paper = s["energy_j"] if paper is None else paper
        syn = float(t["energy_j:synapses"].mean()) if "energy_j:synapses" in t else 0.0
        lat = s["latency_s"]
        rows.append({
            "model": card.name, "family": card.family, "scheme": card.spiking.scheme,
            "energy_j": s["energy_j"], "tokens_per_s": (1 / lat) if lat else None,
            "synops": s["synops"], "dense_equivalent_macs": s["dense_equivalent_macs"],
            "synops_per_dense_mac": s["synops"] / s["dense_equivalent_macs"],
            "dense_macs": s["dense_macs"],
            "outside_synapses": 1 - syn / s["energy_j"] if s["energy_j"] else None,
            "paper_j": float(paper) if paper is not None else None,
            "paper_share": float(paper) / s["energy_j"] if paper is not None and s["energy_j"] else None,
            "traffic": res.traffic,
            **{f"share:{c.split(':', 1)[1]}": float(t[c].mean()) / s["energy_j"]
               for c in t if c.startswith("energy_j:") and s["energy_j"]},
        })
        if progress is not None:
            progress("compare", k + 1, len(models))
    return pd.DataFrame(rows)
