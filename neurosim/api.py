"""``neurosim.run``: the one call behind the CLI, the notebooks and the sweeps."""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from neurosim import estimate
from neurosim._read import numpy_problem
from neurosim._version import __version__
from neurosim.backends import get_backend
from neurosim.backends.graph_net import simulate_graph
from neurosim.cards import ModelCard, card_hash, load_card
from neurosim.cards.schema import DenseScheme, LlamaArchitecture
from neurosim.convert.fanout import with_weights
from neurosim.errors import BackendError, InputError
from neurosim.estimate.gpu import device_count
from neurosim.graph.ir import EventGraph
from neurosim.graph.lower import lower
from neurosim.hardware import Profile, load_profile, profile_hash, profile_to_yaml
from neurosim.mapping import map_graph
from neurosim.mapping.place import MappingError, mapping_inputs
from neurosim.replay.counters import Counters, count
from neurosim.replay.plan import build_plan
from neurosim.result import Result
from neurosim.schemes import Request, scheme_of, traffic_source
from neurosim.snn.network import SpikingNetwork
from neurosim.threads import max_threads, using
from neurosim.traffic import MAX_SEED
from neurosim.traffic.simulated import SimulatedTraffic

Progress = Callable[[str, int, int], None]

BASELINES = ("gpu-a100", "gpu-h100", "jetson-orin-nano", "generic-45nm")
DEFAULT_DT_S = 1e-4
"""The integration step of an imported network (snnTorch's NIR export assumes 1e-4 s)."""
DEFAULT_WEIGHT_BITS = 8
"""Bits of an imported network's weight on chip (assumed: Loihi's synapses hold up to 8)."""
MAX_STEPS = 1_000_000
"""The most time steps of one network run."""
MAX_POSITIONS = 100_000
"""Positions one run replays (the KV prefix, or an encoder's whole sequence, plus the
tokens) without an explicit ``yes``: beyond it a run takes many minutes."""


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
    if card.weights.source == "none" or not scheme_of(card).converts:
        return None
    from neurosim.convert.cache import artifact_for

    return artifact_for(card, progress)


def compile_graph(card: ModelCard, progress: Progress | None = None, art=None) -> EventGraph:
    """The card's EventGraph; with the real per-column fan-out when the card has weights."""
    art = art or _artifact(card, progress)
    return lower(card) if art is None else with_weights(lower(card), art)


def _baseline_profiles(prof: Profile, names: tuple[str, ...]) -> list[Profile]:
    """The baselines of a run: ``names`` loaded, the run's own profile left out; an
    accounting run is its own accounting baseline."""
    out = []
    for n in names:
        bp = load_profile(n)
        if bp.name == prof.name:
            continue
        if bp.kind == "accounting" and prof.kind == "accounting":
            continue
        out.append(bp)
    if prof.kind == "accounting":
        out.append(prof)
    return out


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
    baselines: tuple[str, ...] = BASELINES,
    threads: int | None = None,
    batch: int = 1,
    progress: Progress | None = None,
    yes: bool = False,
) -> Result:
    """Replay ``tokens`` tokens of ``model`` on ``profile``; return a :class:`Result`.

    Tokens occupy positions ``position .. position + tokens - 1``; the tokens before
    ``position`` are replayed first to fill the attention blocks' KV cache.  The KV cache is
    sized for ``context`` positions (default: the card's ``max_context``).  ``baselines``:
    the profiles the result is set beside (GPUs, literature accounting).  ``batch``:
    independent sequences decoded together (a GPU reads the weights once per step for all of
    them; a neuromorphic system with layer pipelining keeps up to ``batch`` tokens in
    flight); energy is per token, latency between two tokens of one sequence.
    ``threads``: the threads the replay kernels use (default: the cores available); any
    number gives the same result.  ``progress(stage, done, total)`` reports conversion,
    trace recording, the KV prefix (``"prefix"``) and the replay (``"replay"``).  A context
    beyond the card's ``max_context``, or more than :data:`MAX_POSITIONS` positions to
    replay, is refused unless ``yes``.
    """
    card = model if not isinstance(model, str) else load_card(model)
    prof = profile if not isinstance(profile, str) else load_profile(profile)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise InputError("run", "tokens", "must be an integer >= 1", got=tokens)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError("run", "seed", "must be an integer from 0 to 2^63 - 1", got=seed)
    check_threads(threads)
    check_batch(batch)
    if traffic not in (None, "synthetic", "real", "recurrence"):
        raise InputError("run", "traffic", "unknown traffic source", got=traffic,
                         expected="synthetic, real or recurrence")
    be = get_backend(backend)
    why = be.unavailable()
    if why:
        raise BackendError(why)
    ctx = fit_context(card, position, tokens, context, yes)
    if prof.kind == "gpu":  # refuse a batch the memory cannot hold before any work
        kv = lower(dense_counterpart(card)).kv_cache
        device_count(prof, card.parameters, 0 if kv is None else kv.layers * 2 * kv.width,
                     ctx, batch)
    base_profiles = _baseline_profiles(prof, baselines)
    with using(threads):
        try:
            counters = count_run(card, prof, tokens=tokens, seed=seed, position=position,
                                 context=ctx, backend=backend, traffic=traffic, batch=batch,
                                 progress=progress)
        except MappingError as err:
            if ctx <= card.architecture.max_context:
                raise
            raise InputError("run", "context", f"a KV cache of {ctx:,} positions does not "
                             f"fit {prof.name} ({err.problem})", got=ctx,
                             expected=f"at most the card's max_context "
                                      f"{card.architecture.max_context:,}") from None
    return assemble(counters, prof, base_profiles)


def run_network(
    network: str | SpikingNetwork,
    profile: str | Profile,
    *,
    steps: int | None = None,
    rate: float | None = None,
    inputs: np.ndarray | str | None = None,
    seed: int = 0,
    dt_s: float = DEFAULT_DT_S,
    weight_bits: int = DEFAULT_WEIGHT_BITS,
    synaptic_delay: bool = False,
    baselines: tuple[str, ...] = ("generic-45nm",),
    threads: int | None = None,
    progress: Progress | None = None,
) -> Result:
    """Simulate a spiking network (a ``.nir`` file or a :class:`SpikingNetwork`) on an input
    and price its traffic on ``profile`` as :func:`run` prices a card's: one row of
    ``Result.tokens`` per time step (its ``spikes`` column: the spikes every population
    emitted), energy and latency per step; per inference is the sum over the steps.

    Input: ``inputs`` (steps, inputs) spike counts (an array or a ``.npy`` file), or
    Bernoulli spikes at ``rate`` for ``steps`` steps (seeded by ``seed``).  ``dt_s``: the
    step of the forward-Euler integration of NIR's ODEs; ``weight_bits``: the bits a
    weight takes on chip (``assumed``: NIR weights are real numbers); ``synaptic_delay``:
    every projection delivers the previous step's spikes (Loihi's and SANA-FE's timing;
    default NIR's, as snnTorch runs it); ``baselines``: the
    literature accounting by default (a GPU profile's serving overhead is an LLM's).
    """
    from neurosim.snn.graph import SimulatedSpikes, input_codes, to_graph
    from neurosim.snn.nir_io import read_nir
    from neurosim.snn.simulate import Simulator, bernoulli_input

    prof = profile if not isinstance(profile, str) else load_profile(profile)
    net = network if isinstance(network, SpikingNetwork) else read_nir(network)
    where = net.source.get("file", net.name)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError("run", "seed", "must be an integer from 0 to 2^63 - 1", got=seed)
    if isinstance(weight_bits, bool) or not isinstance(weight_bits, int) or not 1 <= weight_bits <= 32:
        raise InputError("run", "weight_bits", "must be an integer from 1 to 32", got=weight_bits)
    check_threads(threads)
    if inputs is not None:
        if rate is not None:
            raise InputError("run", "rate", "give input spikes or a rate, not both", got=rate)
        origin = {"kind": "file", "file": inputs} if isinstance(inputs, str) else {"kind": "array"}
        x = _load_input(inputs) if isinstance(inputs, str) else np.asarray(inputs)
        if steps is not None and x.ndim == 2 and x.shape[0] != steps:
            raise InputError(where, "steps", "differs from the input's rows", got=steps,
                             expected=str(x.shape[0]))
    elif rate is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise InputError("run", "steps", f"must be an integer from 1 to {MAX_STEPS}", got=steps)
        x = bernoulli_input(net.inputs, steps, rate, seed)
        origin = {"kind": "bernoulli", "rate": rate, "seed": seed, "generator": "numpy PCG64"}
    else:
        raise InputError("run", "input", "a network needs input spikes",
                         expected="--input spikes.npy, or --rate r with --steps T")
    if x.ndim != 2 or x.shape[1] != net.inputs or not 1 <= x.shape[0] <= MAX_STEPS:
        raise InputError(where, "input", "input spikes of the wrong shape", got=x.shape,
                         expected=f"(steps, {net.inputs}) with 1 to {MAX_STEPS} steps")
    codes, bits = input_codes(x, where)
    if progress is not None:
        progress("simulate", 0, 1)
    sim = Simulator(net).run(codes, dt_s, synaptic_delay=bool(synaptic_delay))
    if progress is not None:
        progress("simulate", 1, 1)
    graph = to_graph(net, weight_bits, bits)
    origin["sha256"] = hashlib.sha256(np.ascontiguousarray(codes).tobytes()).hexdigest()
    source = SimulatedSpikes(graph, net, sim, codes, {
        "kind": "simulated", "model": "time-stepped simulation of the network",
        "integrator": sim.integrator, "dt_s": sim.dt_s, "steps": sim.steps, "input": origin,
        "timing": "synaptic delay of one step per projection" if sim.synaptic_delay
        else "NIR: forward projections within the step, recurrent ones one step late"})
    base_profiles = _baseline_profiles(prof, baselines)
    with using(threads):
        counters = replay_graph(
            graph, prof, source, tokens=sim.steps, context=sim.steps, dense_graph=graph,
            meta={"parameters": net.parameters, "embedding_params": 0, "model": net.name,
                  "backend": "numba", "footprint_bytes": net.footprint_bytes,
                  "connection_sparsity": net.connection_sparsity,
                  "concurrent_stages": bool(synaptic_delay)},
            provenance={"model_card": None, "network": net.source, "seed": seed,
                        "weight_bits": f"{weight_bits} (assumed: NIR weights are real)",
                        "backend": "numba"},
            progress=progress)
    spikes = sum(s.sum(axis=1, dtype=np.int64) for s in sim.spikes.values())
    counters.arrays["spikes"] = spikes
    # NeuroBench's activations are the spiking populations' outputs, not the copies of them
    # the graph routes (its groups)
    counters.arrays["activations_nonzero"] = spikes
    counters.arrays["activations"] = np.full(sim.steps, sum(p.size for p in net.populations
                                                             if p.spiking), np.int64)
    return assemble(counters, prof, base_profiles)


def export_nir(model: str | ModelCard, path: str) -> list[str]:
    """Write the spiking part of a card's graph as a NIR file (its real integer weights when
    the card has converted ones); return what NIR cannot express, one string per kind
    (:func:`neurosim.snn.nir_io.to_nir`).  Written whole or not at all."""
    from pathlib import Path

    import nir

    from neurosim.snn.nir_io import to_nir

    card = model if not isinstance(model, str) else load_card(model)
    art = _artifact(card, None)
    graph = compile_graph(card, None, art)
    weights = None if art is None else (lambda b: art.weight_int(b.layer, b.site))
    out, left = to_nir(graph, weights)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        nir.write(tmp, out)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(path, None, f"cannot write NIR: {exc.strerror or exc}",
                         expected="a writable file path") from None
    return left


def _load_input(path: str) -> np.ndarray:
    """A ``.npy`` input tensor, without pickles."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise InputError(path, None, "no such input file" if not p.exists() else "not a regular file",
                         expected="a .npy array of shape (steps, inputs)")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(path, None, f"not a readable .npy array: {numpy_problem(exc)}",
                         expected="a .npy array of shape (steps, inputs)") from None


def check_batch(batch: int) -> None:
    """Refuse a batch other than an integer >= 1."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError("run", "batch", "must be an integer >= 1 (independent sequences "
                         "decoded together)", got=batch)


def check_threads(threads: int | None) -> None:
    """Refuse a thread count other than None or 1 .. the most numba can run here."""
    if threads is None:
        return
    most = max_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= most:
        raise InputError("run", "threads", f"must be an integer from 1 to {most} (the cores "
                         "numba may use here, NUMBA_NUM_THREADS)", got=threads)


def fit_context(card: ModelCard, position: int, tokens: int, context: int | None,
                yes: bool = False) -> int:
    """The KV cache capacity of a run (default the card's ``max_context``); refuses tokens
    that do not fit it and, unless ``yes``, a context beyond the card's ``max_context`` or
    more than :data:`MAX_POSITIONS` positions to replay."""
    most = card.architecture.max_context
    ctx = context or most
    if position < 0 or position + tokens > ctx:
        raise InputError("run", "position", "tokens do not fit the context",
                         got=f"positions {position}..{position + tokens - 1}",
                         expected=f"positions within 0..{ctx - 1}")
    if yes:
        return ctx
    if ctx > most:
        raise InputError("run", "context", f"beyond {card.name}'s max_context, the positions "
                         "the model was built for", got=ctx,
                         expected=f"at most {most:,}, or --yes to run it anyway")
    replayed = (ctx if card.family == "bert" else position) + tokens
    if replayed > MAX_POSITIONS:
        raise InputError("run", "tokens", f"{replayed:,} positions to replay (KV prefix and "
                         "tokens) take many minutes", got=tokens,
                         expected=f"at most {MAX_POSITIONS:,} positions, or --yes to run them")
    return ctx


def count_run(card: ModelCard, prof: Profile, *, tokens: int, seed: int, position: int,
              context: int, backend: str = "numba", traffic: str | None = None,
              graph: EventGraph | None = None, mapping=None, batch: int = 1,
              progress: Progress | None = None) -> Counters:
    """The counters of :func:`run` (arguments already checked): what every price reuses.

    ``graph`` and ``mapping``: the card's compiled graph and its placement on ``prof`` when
    the caller has them already (sweeps cache them by content hash); ``batch``: the
    sequences decoded together (their KV caches placed; the counters are one sequence's).
    """
    be = get_backend(backend)
    art = _artifact(card, progress)
    graph = graph if graph is not None else compile_graph(card, progress, art)
    source = traffic_source(Request(card, graph, art, seed, position + tokens - 1, progress),
                            traffic)
    if backend != "numba":  # the backend simulates the neurons; numba replays the codes
        if progress is not None:
            progress("simulate", 0, 1)
        source = SimulatedTraffic(graph, source, position + tokens, be.name,
                                  lambda given: simulate_graph(graph, given, be))
        if progress is not None:
            progress("simulate", 1, 1)
    lif = sum(g.size for g in graph.groups) if scheme_of(card).rate_accounting else 0
    return replay_graph(
        graph, prof, source, tokens=tokens, position=position, context=context,
        encoder=graph.attention == "bidirectional", dense_graph=lower(dense_counterpart(card)),
        lif_neurons=lif, mapping=mapping, batch=batch, progress=progress,
        meta={"parameters": card.parameters, "embedding_params": _embedding_params(card),
              "model": card.name, "backend": backend},
        provenance={"model_card": card.name, "model_card_sha256": card_hash(card),
                    "backend": backend, "seed": seed})


def replay_graph(graph: EventGraph, prof: Profile, source, *, tokens: int, context: int,
                 position: int = 0, encoder: bool = False, dense_graph: EventGraph | None = None,
                 lif_neurons: int = 0, meta: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None, mapping=None, batch: int = 1,
                 progress: Progress | None = None) -> Counters:
    """Place ``graph`` on ``prof`` (neuromorphic kinds) and count ``tokens`` tokens of
    ``source`` from ``position``: the counters every estimator prices.

    ``dense_graph``: the dense counterpart a GPU runs (default ``graph``);
    ``lif_neurons``: neurons whose mean firing rate SpikeGPT's accounting uses (0: none);
    ``mapping``: the placement of ``graph`` on ``prof`` for ``context``, if already made;
    ``batch``: sequences decoded together (``meta["batch"]``; the mapping holds their KV
    caches).
    """
    dense_graph = dense_graph if dense_graph is not None else graph
    notes: list[str] = []
    info: dict[str, Any] = {"profile_kind": prof.kind, "profile": prof.name,
                            "model": graph.model, "backend": "numba",
                            "parameters": 0, "embedding_params": 0, "batch": batch}
    if prof.kind == "neuromorphic":
        mp = mapping if mapping is not None else map_graph(graph, prof, context, batch)
        payload = int(prof.core.graded_payload_bits.value)
        plan = build_plan(graph, mp, payload)
        if plan.chunk_unary.any():
            notes.append(f"{prof.name} has no graded spikes of {graph.groups[0].code_bits} bits "
                         f"(payload {payload} bits): each code q travels as q binary spikes")
        info["mapping"] = {**mp.summary(), "cores_per_chip": mp.cores_per_chip,
                           "kv_level": mp.kv_level, "dense_level": mp.dense_param_level}
        info["mapping_inputs"] = mapping_inputs(prof)
        time_driven = prof.core.neuron_update == "time_driven"
    else:
        plan = build_plan(graph, None, 32)
        info["mapping"], info["mapping_inputs"] = {}, {}
        time_driven = False
    # The literature accounting counts one graded synop per weight; the mapped replay's
    # equal them unless binary-only cores expanded codes into unary spikes or cores hold
    # weights in slices (tiles partition every target).
    physical = plan.chunk_unary.any() or (plan.mapping is not None and any(
        bp.weight_slices > 1 for bp in plan.mapping.blocks.values()))
    acc_plan = build_plan(graph, None, 32) if physical else None
    info.update(meta or {})
    info.update({
        "embedding_row_bytes": float(dense_graph.dense_ops[0].param_bytes
                                     if dense_graph.dense_ops else 0.0),
        "notes": notes, "traffic_kind": source.kind,
        "provenance": {
            "neurosim_version": __version__,
            "model_card": graph.model,
            "graph_weights": graph.weights,
            "traffic": source.provenance(),
            "positions": [position, position + tokens - 1],
            "context": context,
            "batch": batch,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "host": os.uname().nodename if hasattr(os, "uname") else None,
            **(provenance or {}),
        },
    })
    return count(graph, plan, source, tokens=tokens, position=position, context=context,
                 encoder=encoder, time_driven=time_driven, dense_graph=dense_graph,
                 acc_plan=acc_plan, lif_neurons=lif_neurons, meta=info, progress=progress)


def assemble(counters: Counters, prof: Profile, base_profiles: list[Profile]) -> Result:
    """A :class:`Result` from ``counters`` priced on ``prof``, beside ``base_profiles``."""
    m = counters.meta
    priced = estimate.price(counters, prof)
    c = counters
    tok = {
        "token": np.arange(c.tokens), "position": c["position"],
        **({"spikes": c["spikes"]} if "spikes" in c else {}),  # a simulated network's
        "events": c["events"].sum(axis=1), "synops": c["synops"].sum(axis=1),
        "synops_graded": c["synops_graded"].sum(axis=1),
        "dense_equivalent_macs": c["dense_equivalent_macs"].astype(np.int64),
        "dense_macs": c["dense_macs"].astype(np.int64),
        "neuron_updates": (c["updates_active"] + c["updates_inactive"]).sum(axis=1),
        "messages": c["messages"].sum(axis=1), "hops": c["hops"].sum(axis=1),
        "chip_crossings": c["crossings"].sum(axis=1),
    }
    if "activations" in c:  # NeuroBench's synaptic operations and activations
        graded = np.array([b.get("graded", False) for b in m["blocks"]], bool)
        tok["effective_acs"] = c["acc_synops"][:, ~graded].sum(axis=1)
        tok["effective_macs"] = (c["acc_synops"][:, graded].sum(axis=1)
                                 + c["dense_macs"].astype(np.int64))
        tok["activations"], tok["activations_nonzero"] = c["activations"], c["activations_nonzero"]
    for col, values in priced.tokens.items():  # a price that overflowed is no answer (NaN:
        v = np.asarray(values, dtype=float)       # a time the profile does not model)
        if np.isinf(v).any() or (col.startswith("energy_j") and np.isnan(v).any()):
            raise InputError(prof.name, col, "priced to a non-finite number",
                             got=float(v[~np.isfinite(v)][0]),
                             expected="a profile whose numbers keep every figure finite")
    tokens = pd.DataFrame({**{k: tok[k] for k in ("token", "position")}, **priced.tokens,
                           **{k: v for k, v in tok.items() if k not in ("token", "position")}})
    blocks = m["blocks"]
    n_t, n_b = c.tokens, len(blocks)
    sites = pd.DataFrame({
        "token": np.repeat(np.arange(n_t), n_b),
        "layer": np.tile([b["layer"] for b in blocks], n_t),
        "site": np.tile([b["site"] for b in blocks], n_t),
        "block": np.tile([b["name"] for b in blocks], n_t),
        "events": c["events"].ravel(), "synops": c["synops"].ravel(),
        "messages": c["messages"].ravel(), "energy_j": priced.block_energy_j.ravel(),
    })
    stages = None
    if priced.stage_latency_s is not None and "stage_layers" in m:
        n_g = priced.stage_latency_s.shape[1]
        stages = pd.DataFrame({"token": np.repeat(np.arange(n_t), n_g),
                               "stage": np.tile(np.arange(n_g), n_t),
                               "layer": np.tile(np.asarray(m["stage_layers"]), n_t),
                               "latency_s": priced.stage_latency_s.ravel()})
    base, base_notes = estimate.baselines_and_notes(counters, base_profiles)
    mapping = {k: v for k, v in m["mapping"].items()
               if k not in ("cores_per_chip", "kv_level", "dense_level")}
    mapping.update(priced.mapping)
    provenance = {**m["provenance"], "profile": prof.name, "profile_sha256": profile_hash(prof),
                  "baselines": [p.name for p in base_profiles],
                  "layer_pipelining": bool(prof.kind == "neuromorphic"
                                           and prof.execution.layer_pipelining)}
    return Result(m["model"], prof.name, m["backend"], m["traffic_kind"], tokens, sites, base,
                  mapping, provenance, [*m["notes"], *priced.notes, *base_notes],
                  counters=counters,
                  profile_yaml=profile_to_yaml(prof), stages=stages)


def reprice(result: Result, profile: str | Profile,
            baselines: tuple[str, ...] | None = None) -> Result:
    """``result``'s saved counters priced on ``profile``, without replaying anything.

    Allowed when ``profile`` is of the same kind and maps the graph identically (the same
    values of every field :data:`~neurosim.mapping.place.MAPPING_FIELDS` names and the same
    memory levels); otherwise :class:`InputError` names the first field that differs.
    ``baselines``: default those of the original run.
    """
    prof = profile if not isinstance(profile, str) else load_profile(profile)
    c = result.counters
    if c is None:
        raise InputError(result.profile, None, "this result has no counters to re-price",
                         expected="a result of neurosim.run, or a directory saved with --out")
    estimate.check_kind(c, prof, prof.name)
    if prof.kind == "neuromorphic":
        old, new = c.meta["mapping_inputs"], mapping_inputs(prof)
        for key in sorted(set(old) | set(new), key=lambda k: (k.startswith("memory"), k)):
            if old.get(key) != new.get(key):
                field = key if not key.startswith("memory.") else "memory"
                raise InputError(prof.name, field, "changes the mapping, so the counters do "
                                 "not hold on this profile (only prices may change)",
                                 got=f"{key} = {new.get(key)} (the run had {old.get(key)})",
                                 expected="neurosim run on this profile")
    names = tuple(baselines if baselines is not None else
                  result.provenance.get("baselines", BASELINES))
    out = assemble(c, prof, _baseline_profiles(prof, names))
    out.provenance["repriced_from"] = {
        "profile": result.provenance.get("profile"),
        "profile_sha256": result.provenance.get("profile_sha256"),
        **({"repriced_from": result.provenance["repriced_from"]}
           if "repriced_from" in result.provenance else {})}
    return out


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
            progress: Progress | None = None, yes: bool = False) -> pd.DataFrame:
    """The families side by side on one profile, a row per model (means per token).

    ``energy_j``, ``tokens_per_s`` (1 / latency), ``synops``, ``dense_equivalent_macs`` and
    their ratio, ``dense_macs`` (what the dense units run), ``outside_synapses`` (share of the
    energy not spent on synaptic operations), and ``paper_j``: the paper-style accounting of the
    same traffic by the run's accounting baseline (generic-45nm, or the profile itself when it
    is an accounting profile), named in ``paper_accounting`` (``<profile>:paper`` for SpikeGPT,
    projections at E_AC x firing rate; ``<profile>:spiking`` for the others, synops x E_AC
    plus non-spiking ops at their class energies), with ``paper_share`` = paper_j / energy_j,
    the part of this estimate such an accounting covers; ``share:<c>`` each energy
    component's share (synapses, neurons, memory levels, NoC, dense, static ...).
    """
    prof = profile if not isinstance(profile, str) else load_profile(profile)
    rows = []
    for k, model in enumerate(models):
        card = model if not isinstance(model, str) else load_card(model)
        res = run(card, prof, tokens=tokens, seed=seed, context=context, yes=yes)
        t, s = res.tokens, res.summary()["per_token"]
        acc = res.baselines[res.baselines["variant"].isin(["paper", "spiking"])]
        acc = acc[acc["baseline"] == acc["baseline"].iloc[0]] if len(acc) else acc
        variant = "paper" if (acc["variant"] == "paper").any() else "spiking"
        paper = float(acc[acc["variant"] == variant]["energy_j"].mean()) if len(acc) else None
        syn = float(t["energy_j:synapses"].mean()) if "energy_j:synapses" in t else 0.0
        lat = s["latency_s"]
        rows.append({
            "model": card.name, "family": card.family, "scheme": card.spiking.scheme,
            "energy_j": s["energy_j"], "tokens_per_s": (1 / lat) if lat else None,
            "synops": s["synops"], "dense_equivalent_macs": s["dense_equivalent_macs"],
            "synops_per_dense_mac": s["synops"] / s["dense_equivalent_macs"],
            "dense_macs": s["dense_macs"],
            "outside_synapses": 1 - syn / s["energy_j"] if s["energy_j"] else None,
            "paper_j": paper, "paper_accounting": f"{acc['baseline'].iloc[0]}:{variant}"
            if paper is not None else None,
            "paper_share": float(paper) / s["energy_j"] if paper is not None and s["energy_j"] else None,
            "traffic": res.traffic,
            **{f"share:{c.split(':', 1)[1]}": float(t[c].mean()) / s["energy_j"]
               for c in t if c.startswith("energy_j:") and s["energy_j"]},
        })
        if progress is not None:
            progress("compare", k + 1, len(models))
    return pd.DataFrame(rows)
