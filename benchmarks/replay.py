"""Replay benchmarks: throughput, speed-up over the reference, peak memory of a 70B run.

    .venv/bin/python benchmarks/replay.py [--tokens 64]

1. Replay throughput of spikellm-7b on loihi2 on one core after JIT warm-up: traffic is
   generated first, then only ``Replayer.token`` is timed.
2. Ratio to the slow reference of tests/test_engine_reference.py on the weight blocks of
   smollm2-135m-spikellm on loihi2 (one token).
3. Peak resident memory of ``neurosim.run('spikellm-70b', 'loihi2', tokens=2)`` in a fresh
   process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from neurosim.cards import load_card  # noqa: E402
from neurosim.graph.ir import EventGraph  # noqa: E402
from neurosim.graph.lower import lower  # noqa: E402
from neurosim.hardware import load_profile  # noqa: E402
from neurosim.mapping import map_graph  # noqa: E402
from neurosim.replay.engine import Replayer  # noqa: E402
from neurosim.replay.plan import build_plan  # noqa: E402
from neurosim.traffic.synthetic import SyntheticTraffic  # noqa: E402


def replayer(graph, profile, context):
    mapping = map_graph(graph, profile, context)
    plan = build_plan(graph, mapping, int(profile.core.graded_payload_bits.value))
    return mapping, Replayer(plan, profile.core.neuron_update == "time_driven")


def throughput(tokens: int) -> dict:
    card, profile = load_card("spikellm-7b"), load_profile("loihi2")
    graph = lower(card)
    s = card.spiking
    traffic = SyntheticTraffic(graph, s.abits, s.addbit, s.kv_addbit, seed=0)
    codes = [traffic.codes(i) for i in range(tokens + 2)]
    _, r = replayer(graph, profile, card.architecture.max_context)
    r.token(codes[0], 0)
    r.token(codes[1], 1)
    t0 = time.perf_counter()
    for i in range(tokens):
        r.token(codes[i + 2], i + 2)
    dt = time.perf_counter() - t0
    return {"model": "spikellm-7b", "profile": "loihi2", "tokens": tokens,
            "tokens_per_s": tokens / dt, "ms_per_token": 1e3 * dt / tokens,
            "channels_per_token": int(codes[0].shape[1])}


def reference_ratio() -> dict:
    from test_engine_reference import reference

    card, profile = load_card("smollm2-135m-spikellm"), load_profile("loihi2")
    full = lower(card)
    keep = [b for b in full.blocks if b.kind == "weights"]
    names = {b.source for b in keep}
    groups = [g for g in full.groups if g.name in names]
    graph = EventGraph(full.model, full.family, groups, keep, [],
                       [[g.name, b.name] for g, b in zip(groups, keep)], [])
    s = card.spiking
    codes = SyntheticTraffic(graph, s.abits, s.addbit, s.kv_addbit, seed=0).codes(0)
    mapping, r = replayer(graph, profile, 16)
    r.token(codes, 0)
    reps = 50
    t0 = time.perf_counter()
    for _ in range(reps):
        fast = r.token(codes, 0)
    t_fast = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    slow = reference(graph, mapping, profile, codes)
    t_slow = time.perf_counter() - t0
    assert [int(v) for v in fast.synops] == [row[1] for row in slow]
    return {"model": "smollm2-135m-spikellm (weight blocks)", "profile": "loihi2",
            "numba_ms": 1e3 * t_fast, "reference_ms": 1e3 * t_slow, "ratio": t_slow / t_fast}


def peak_memory_70b() -> dict:
    code = ("import neurosim, resource; r = neurosim.run('spikellm-70b', 'loihi2', tokens=2); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kib = int(out.stdout.strip().splitlines()[-1])
    return {"model": "spikellm-70b", "profile": "loihi2", "tokens": 2,
            "peak_rss_mib": kib / 1024, "wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    results = {"throughput": throughput(args.tokens), "reference": reference_ratio(),
               "memory": peak_memory_70b()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
