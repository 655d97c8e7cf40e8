"""The SNN literature's theoretical energy: operation counts x per-operation energies.

``spiking``: synops x E_AC (graded synops too: the papers' accounting makes no difference)
plus every non-spiking scalar op at its class energy; ``dense_equivalent``: the dense
model's MACs x E_MAC plus its non-spiking ops; ``with_memory``: ``spiking`` plus the weight
bits read at the profile's first memory level.  With a firing rate R (SpikeGPT),
``paper``: SpikeGPT's accounting (v5 Table 1), which prices the block projections (dense
ops of kind ``linear``) at E_AC x R instead of E_MAC, everything else as in ``spiking``.
No time, network or static power.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.estimate import PJ, Priced, register
from neurosim.hardware.schema import AccountingProfile
from neurosim.replay.counters import Counters


def _class_pj(p: AccountingProfile) -> np.ndarray:
    o = p.ops
    return np.array([float(o.mac_energy_pj), float(o.add_energy_pj), float(o.mul_energy_pj),
                     float(o.special_energy_pj)])


def variants(c: Counters, p: AccountingProfile) -> dict[str, np.ndarray]:
    """(T,) joules of each accounting variant (``paper`` only with a firing rate)."""
    cls = _class_pj(p)
    ac, mac = float(p.ops.ac_energy_pj), float(p.ops.mac_energy_pj)
    synops = c["acc_synops"].sum(axis=1)
    spiking = synops * ac + c["nonspiking_ops"] @ cls
    full = c["dense_model_ops"]
    dense_eq = (c["dense_equivalent_macs"] - full[:, 0]) * mac + full @ cls
    mem = float(p.memory[0].read_energy_pj_per_bit) if p.memory else 0.0
    wbits = (c["acc_synops"] * c["block_weight_bits"]).sum(axis=1)
    out = {"spiking": spiking * PJ, "dense_equivalent": dense_eq * PJ,
           "with_memory": (spiking + wbits * mem) * PJ}
    rate = c["firing_rate"]
    if not np.isnan(rate).any():
        out["paper"] = (spiking - c["projection_macs"] * (mac - rate * ac)) * PJ
    return out


def baseline_rows(c: Counters, p: AccountingProfile) -> list[dict[str, Any]]:
    rows = []
    for name, j in variants(c, p).items():
        kind = (f"paper accounting (projections at E_AC x R, R = {float(c['firing_rate'].mean()):.3f})"
                if name == "paper" else f"literature accounting ({name.replace('_', ' ')})")
        rows += [{"token": t, "profile": f"{p.name}:{name}", "baseline": p.name, "variant": name,
                  "kind": kind, "energy_j": float(e), "latency_s": float("nan")}
                 for t, e in enumerate(j)]
    return rows


def _columns(p: AccountingProfile) -> list[str]:
    return ["energy_j", "latency_s", "energy_j:synapses", "energy_j:dense"]


def _fields(p: AccountingProfile) -> dict[str, list[str]]:
    return {"synapses": ["ops.ac_energy_pj"],
            "dense": [f"ops.{k}_energy_pj" for k in ("mac", "add", "mul", "special")]}


@register("accounting", baseline=baseline_rows, columns=_columns, fields=_fields)
def price(c: Counters, p: AccountingProfile) -> Priced:
    """The run itself priced as the literature does: ``spiking`` and its synapse share."""
    ac = float(p.ops.ac_energy_pj)
    spiking = variants(c, p)["spiking"]
    block = c["acc_synops"] * ac * PJ
    syn = block.sum(axis=1)
    return Priced({"energy_j": spiking, "latency_s": np.full(len(spiking), np.nan),
                   "energy_j:synapses": syn, "energy_j:dense": spiking - syn}, block)
