"""GPU decode of the dense model: a step of ``batch`` sequences, one token each, at the
counted position.

Bytes of a step = the weights, read once for the batch (all but the embedding table), plus
per sequence one embedding row and its KV cache (``position`` positions read, one written);
FLOPs = batch x (2 x MACs + other scalar ops).

Roofline: step time = max(FLOPs / peak, bytes / bandwidth, dynamic energy / (TDP - idle
power)), per device; energy = FLOPs x J/FLOP + bits x J/bit + idle power x time.

As served (a profile with a ``serving`` section): step time = max(FLOPs / (peak x achieved
fraction), bytes / (bandwidth x achieved fraction)) + the stack's step overhead; energy =
board power while serving x step time, of which the roofline's compute, HBM and idle
energies are components and the rest is ``serving`` (what the stack draws beyond them).

Per token: ``latency_s`` = the step time (between two tokens of one sequence); energy and
bytes = the step's / batch.  ``devices: auto`` uses as many GPUs as the weights and a
full-context KV cache per sequence need.  Run as the profile itself, the model's gating (LTE
experts off, routers on) changes MACs, ops and bytes, the same experts for every sequence of
a batch; as a baseline it is the dense model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurosim.errors import InputError
from neurosim.estimate import PJ, Priced, interpolate, register
from neurosim.hardware.schema import GpuProfile
from neurosim.replay.counters import Counters

GIB = 2**30


def memory_need_bytes(p: GpuProfile, parameters: int, kv_values_per_position: int,
                      context: int, batch: int) -> float:
    """Bytes the weights and ``batch`` KV caches of ``context`` positions take on ``p``."""
    g = p.gpu
    return (parameters * int(g.weight_bits.value) / 8
            + batch * context * kv_values_per_position * int(g.kv_cache_bits.value) / 8)


def device_count(p: GpuProfile, parameters: int, kv_values_per_position: int, context: int,
                 batch: int) -> int:
    """The GPUs a run uses: the profile's count, or (``auto``) as many as its memory needs.
    Raises :class:`InputError` when a fixed count cannot hold the weights and the batch's KV
    caches, naming the largest batch that fits."""
    g = p.gpu
    cap = float(g.memory_capacity_gib) * GIB
    need = memory_need_bytes(p, parameters, kv_values_per_position, context, batch)
    if g.devices == "auto":
        return max(1, math.ceil(need / cap))
    if need <= g.devices * cap:
        return g.devices
    weights = memory_need_bytes(p, parameters, kv_values_per_position, context, 0)
    per_seq = memory_need_bytes(p, 0, kv_values_per_position, context, 1)
    fits = int((g.devices * cap - weights) // per_seq) if per_seq else 0
    what = (f"at most batch {fits} fits at context {context}" if fits >= 1 else
            f"not even batch 1 fits at context {context} "
            f"(the weights alone take {weights / GIB:.1f} GiB)")
    raise InputError(p.name, "batch", f"batch {batch} needs {need / GIB:.1f} GiB, more than "
                     f"the {g.devices} x {float(g.memory_capacity_gib):g} GiB of memory",
                     got=batch, expected=what)


def _step(c: Counters, p: GpuProfile, gated: bool) -> dict[str, Any]:
    """(T,) FLOPs, bytes and dynamic energies of each token's decode step; batch, devices."""
    g, m = p.gpu, c.meta
    batch = int(m.get("batch", 1))
    wb, kvb = int(g.weight_bits.value) / 8, int(g.kv_cache_bits.value) / 8
    kv_pos_bytes = m["dense_kv_values_per_position"] * kvb
    params, emb = m["parameters"], m["embedding_params"]
    devices = device_count(p, params, m["dense_kv_values_per_position"], m["context"], batch)
    pos = c["count_position"]
    macs, other = c["gpu_macs"].copy(), c["gpu_other"].copy()
    weights = np.full(c.tokens, (params - emb) * wb)
    per_seq = kv_pos_bytes * (pos + 1) + (m["embedding_row_bytes"] if emb else 0.0)
    if gated:
        d = c["gated_delta"]
        macs, other, weights = macs + d[:, 0], other + d[:, 1], weights + d[:, 2]
    flops = batch * (2 * macs + other)
    bytes_ = weights + batch * per_seq
    return {"batch": batch, "devices": devices, "flops": flops, "bytes": bytes_,
            "weight_bytes": weights,
            "compute_j": flops * float(g.flop_energy_pj) * PJ,
            "memory_j": bytes_ * 8 * float(g.memory_energy_pj_per_bit) * PJ}


def roofline(c: Counters, p: GpuProfile, gated: bool) -> dict[str, Any]:
    """:func:`_step` with the roofline's (T,) step ``latency_s`` and ``static_j``."""
    g, s = p.gpu, _step(c, p, gated)
    n, idle, tdp = s["devices"], float(g.idle_power_w), float(g.tdp_w)
    t = np.maximum.reduce([s["flops"] / (n * float(g.peak_tflop_s) * 1e12),
                           s["bytes"] / (n * float(g.memory_bandwidth_gb_s) * 1e9),
                           (s["compute_j"] + s["memory_j"]) / (n * (tdp - idle))])
    return {**s, "latency_s": t, "static_j": n * idle * t}


def served(c: Counters, p: GpuProfile, gated: bool) -> dict[str, Any]:
    """:func:`_step` as the profile's ``serving`` stack runs it: (T,) step ``latency_s``,
    ``static_j`` and ``serving_j`` (board power x time beyond the compute, HBM and idle
    energies, >= 0); ``over_board``: whether those exceed the board energy somewhere."""
    g, s = p.gpu, _step(c, p, gated)
    sv, n, b = g.serving, s["devices"], s["batch"]
    t = np.maximum(
        s["flops"] / (n * float(g.peak_tflop_s) * 1e12 * interpolate(sv.flop_fraction.value, b)),
        s["bytes"] / (n * float(g.memory_bandwidth_gb_s) * 1e9
                      * interpolate(sv.bandwidth_fraction.value, b)),
    ) + float(sv.step_overhead_ms) * 1e-3
    board = n * interpolate(sv.power_w.value, b) * t
    static = n * float(g.idle_power_w) * t
    rest = board - s["compute_j"] - s["memory_j"] - static
    return {**s, "latency_s": t, "static_j": static, "serving_j": np.maximum(rest, 0.0),
            "over_board": bool((rest < 0).any())}


def baseline_rows(c: Counters, p: GpuProfile) -> list[dict[str, Any]]:
    """Per token: the as-served figures under the profile's name (when it has a serving
    section) and the roofline's, under ``<name>:roofline`` beside them."""
    rows = []
    variants = [("roofline", roofline(c, p, gated=False))]
    if p.gpu.serving is not None:
        variants.insert(0, ("served", served(c, p, gated=False)))
    for variant, r in variants:
        energy = (r["compute_j"] + r["memory_j"] + r["static_j"]
                  + r.get("serving_j", 0.0)) / r["batch"]
        name = p.name if variant == variants[0][0] else f"{p.name}:{variant}"
        kind = (f"gpu as served ({p.gpu.serving.stack}), batch {r['batch']}"
                if variant == "served" else f"gpu roofline (dense FP16), batch {r['batch']}")
        rows += [{"token": t, "profile": name, "baseline": p.name, "variant": variant,
                  "kind": kind, "energy_j": float(e), "latency_s": float(s)}
                 for t, (e, s) in enumerate(zip(energy, r["latency_s"]))]
    return rows


def _columns(p: GpuProfile) -> list[str]:
    cols = ["energy_j", "latency_s", "memory_bytes:hbm", "memory_bytes:hbm:weights",
            "energy_j:compute", "energy_j:memory:hbm", "energy_j:static"]
    if p.gpu.serving is not None:
        cols += ["energy_j:serving", "roofline_energy_j", "roofline_latency_s"]
    return cols


def _fields(p: GpuProfile) -> dict[str, list[str]]:
    out = {"compute": ["gpu.flop_energy_pj"], "memory:hbm": ["gpu.memory_energy_pj_per_bit"],
           "static": ["gpu.idle_power_w"]}
    if p.gpu.serving is not None:
        out["serving"] = ["gpu.serving.power_w"]
    return out


@register("gpu", baseline=baseline_rows, columns=_columns, fields=_fields)
def price(c: Counters, p: GpuProfile) -> Priced:
    roof = roofline(c, p, gated=True)
    r = roof if p.gpu.serving is None else served(c, p, gated=True)
    b = r["batch"]
    cols = {"latency_s": r["latency_s"], "memory_bytes:hbm": r["bytes"] / b,
            "memory_bytes:hbm:weights": r["weight_bytes"] / b,
            "energy_j:compute": r["compute_j"] / b, "energy_j:memory:hbm": r["memory_j"] / b,
            "energy_j:static": r["static_j"] / b}
    notes = []
    if p.gpu.serving is not None:
        cols["energy_j:serving"] = r["serving_j"] / b
        cols["roofline_energy_j"] = (roof["compute_j"] + roof["memory_j"] + roof["static_j"]) / b
        cols["roofline_latency_s"] = roof["latency_s"]
        notes.append(f"{p.name} as served ({p.gpu.serving.stack}); the roofline is beside it")
        if r["over_board"]:
            notes.append(f"the roofline's compute, HBM and idle energy exceed {p.name}'s "
                         "board power while serving: the energy is theirs")
    cols["energy_j"] = sum(v for k, v in cols.items() if k.startswith("energy_j:"))
    return Priced({"energy_j": cols.pop("energy_j"), **cols},
                  np.zeros((c.tokens, len(c.meta["blocks"]))),
                  {"devices": r["devices"], "chips": r["devices"], "cores": None}, notes)
