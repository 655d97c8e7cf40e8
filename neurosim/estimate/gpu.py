"""GPU roofline of the dense model, batch 1, per token at its position.

FLOPs = 2 x MACs + other scalar ops; bytes = weights read (all but the embedding table, plus
one embedding row) + KV cache read (``position`` positions) and written (one); time =
max(FLOPs / peak, bytes / bandwidth, dynamic energy / (TDP - idle power)), per device; energy
= FLOPs x J/FLOP + bits x J/bit + idle power x time.  ``devices: auto`` uses as many GPUs as
the weights and a full-context KV cache need.  Run as the profile itself, the model's gating
(LTE experts off, routers on) changes MACs, ops and bytes; as a baseline it is the dense model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurosim.estimate import PJ, Priced, register
from neurosim.hardware.schema import GpuProfile
from neurosim.replay.counters import Counters


def roofline(c: Counters, p: GpuProfile, gated: bool) -> dict[str, Any]:
    """(T,) flops, bytes, latency_s, energy components; ``devices``."""
    g, m = p.gpu, c.meta
    wb, kvb = int(g.weight_bits.value) / 8, int(g.kv_cache_bits.value) / 8
    kv_pos_bytes = m["dense_kv_values_per_position"] * kvb
    params, emb = m["parameters"], m["embedding_params"]
    devices = g.devices
    if devices == "auto":
        need = params * wb + m["context"] * kv_pos_bytes
        devices = max(1, math.ceil(need / (float(g.memory_capacity_gib) * 2**30)))
    pos = c["count_position"]
    macs, other = c["gpu_macs"].copy(), c["gpu_other"].copy()
    bytes_ = ((params - emb) * wb + kv_pos_bytes * pos + kv_pos_bytes
              + (m["embedding_row_bytes"] if emb else 0.0))
    if gated:
        d = c["gated_delta"]
        macs, other, bytes_ = macs + d[:, 0], other + d[:, 1], bytes_ + d[:, 2]
    flops = 2 * macs + other
    compute_j = flops * float(g.flop_energy_pj) * PJ
    memory_j = bytes_ * 8 * float(g.memory_energy_pj_per_bit) * PJ
    idle, tdp = float(g.idle_power_w), float(g.tdp_w)
    t = np.maximum.reduce([flops / (devices * float(g.peak_tflop_s) * 1e12),
                           bytes_ / (devices * float(g.memory_bandwidth_gb_s) * 1e9),
                           (compute_j + memory_j) / (devices * (tdp - idle))])
    static_j = devices * idle * t
    return {"flops": flops, "bytes": bytes_, "latency_s": t, "compute_j": compute_j,
            "memory_j": memory_j, "static_j": static_j, "devices": devices}


def baseline_rows(c: Counters, p: GpuProfile) -> list[dict[str, Any]]:
    r = roofline(c, p, gated=False)
    energy = r["compute_j"] + r["memory_j"] + r["static_j"]
    return [{"token": t, "profile": p.name, "baseline": p.name, "variant": "roofline",
             "kind": "gpu roofline (dense FP16)", "energy_j": float(e), "latency_s": float(s)}
            for t, (e, s) in enumerate(zip(energy, r["latency_s"]))]


def _columns(p: GpuProfile) -> list[str]:
    return ["energy_j", "latency_s", "memory_bytes:hbm", "energy_j:compute",
            "energy_j:memory:hbm", "energy_j:static"]


def _fields(p: GpuProfile) -> dict[str, list[str]]:
    return {"compute": ["gpu.flop_energy_pj"], "memory:hbm": ["gpu.memory_energy_pj_per_bit"],
            "static": ["gpu.idle_power_w"]}


@register("gpu", baseline=baseline_rows, columns=_columns, fields=_fields)
def price(c: Counters, p: GpuProfile) -> Priced:
    r = roofline(c, p, gated=True)
    cols = {"energy_j": r["compute_j"] + r["memory_j"] + r["static_j"],
            "latency_s": r["latency_s"], "memory_bytes:hbm": r["bytes"],
            "energy_j:compute": r["compute_j"], "energy_j:memory:hbm": r["memory_j"],
            "energy_j:static": r["static_j"]}
    return Priced(cols, np.zeros((c.tokens, len(c.meta["blocks"]))),
                  {"devices": r["devices"], "chips": r["devices"], "cores": None})
