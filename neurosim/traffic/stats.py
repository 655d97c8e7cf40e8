"""Firing statistics of a spike trace, by site type (summed over layers).

Per site, per token: ``channels``; ``events`` (nonzero graded spikes over all steps);
``nonzero`` (fraction of channels with a nonzero code); ``mean_code`` (mean integer code);
``salient`` (fraction of channels with several steps); ``second_step`` (fraction of salient
channels whose code needs a second step, i.e. exceeds ``2^abits - 1``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurosim.traffic.trace import SpikeTrace


def site_of(group_name: str) -> str:
    """``L3.q_proj.in`` -> ``q_proj``; ``L3.k_cache`` -> ``k_cache``."""
    return group_name.split(".")[1]


def group_codes(trace: SpikeTrace) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(group entry, codes (T, C) uint8, salient (C,) bool) for every group of the trace."""
    rows = trace.rows()
    out, lo = [], 0
    for g in trace.meta["groups"]:
        hi = lo + g["size"]
        out.append((g, rows[:, lo:hi], trace.salient[lo:hi]))
        lo = hi
    return out


def trace_statistics(trace: SpikeTrace) -> pd.DataFrame:
    m = (1 << trace.meta["spiking"]["abits"]) - 1
    acc: dict[str, dict[str, float]] = {}
    T = trace.tokens
    for g, codes, sal in group_codes(trace):
        a = acc.setdefault(site_of(g["name"]), dict.fromkeys(
            ("channels", "events", "nonzero", "code_sum", "salient", "second_step"), 0.0))
        steps = np.zeros(codes.shape, np.int64)
        for k in range(g["max_steps"]):
            steps += codes > k * m
        a["channels"] += codes.shape[1]
        a["events"] += steps.sum() / T
        a["nonzero"] += (codes > 0).sum() / T
        a["code_sum"] += codes.sum(dtype=np.int64) / T
        a["salient"] += sal.sum()
        a["second_step"] += (codes[:, sal] > m).sum() / T
    rows = []
    for site, a in acc.items():
        rows.append({"site": site, "channels": int(a["channels"]),
                     "events": a["events"], "nonzero": a["nonzero"] / a["channels"],
                     "mean_code": a["code_sum"] / a["channels"],
                     "salient": a["salient"] / a["channels"],
                     "second_step": a["second_step"] / max(a["salient"], 1)})
    df = pd.DataFrame(rows)
    total = {"site": "all", "channels": int(df.channels.sum()), "events": df.events.sum(),
             "nonzero": float((df.nonzero * df.channels).sum() / df.channels.sum()),
             "mean_code": float((df.mean_code * df.channels).sum() / df.channels.sum()),
             "salient": float((df.salient * df.channels).sum() / df.channels.sum()),
             "second_step": float((df.second_step * df.salient * df.channels).sum()
                                  / max((df.salient * df.channels).sum(), 1))}
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)
