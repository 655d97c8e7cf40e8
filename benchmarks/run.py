"""End-to-end run speed: what a user runs, beside the replay kernel and the memory limit.

    .venv/bin/python benchmarks/run.py [--tokens 16 256 1024] [--positions 0 1024]

spikellm-7b on loihi2 (fitted synthetic traffic), one thread (there is no threaded path):

1. ``neurosim run --model spikellm-7b --profile loihi2 --tokens T --position P --json`` as a
   command from process start, for each (T, P): tokens/s = T / wall time.
2. In one process after JIT warm-up, ``neurosim.run`` for each (T, P), split by timing the
   same work piece by piece: traffic (the fitted codes of every position replayed, the KV
   prefix included), replay (the replay loop on those codes, minus the traffic time),
   estimate (``api.assemble`` of the run's counters), other (the rest: compiling, mapping,
   building the plan).
3. The replay-only rate (replay time per token) and the ratio of the run's rate to it.
4. The memory-bandwidth limit: the bytes a token touches (its codes, and the plan's per-chunk
   and per-tile arrays the replay reads once per token) over the bandwidth of a NumPy copy
   measured here; the ratio of the run's rate to that limit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import neurosim
from neurosim import api
from neurosim.cards import load_card
from neurosim.hardware import load_profile
from neurosim.mapping import map_graph
from neurosim.replay.engine import Replayer
from neurosim.replay.plan import build_plan
from neurosim.traffic.fitted import FittedTraffic, load_fit

BIN = Path(sys.executable).with_name("neurosim")


def copy_bandwidth_gb_s(mib: int = 256) -> float:
    """Bytes read plus written per second by a NumPy copy of ``mib`` MiB, best of 3."""
    a = np.ones(mib * 2**20 // 8)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        a.copy()
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9


def command_seconds(tokens: int, position: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN), "run", "--model", "spikellm-7b", "--profile", "loihi2", "--tokens",
                    str(tokens), "--position", str(position), "--json"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def stages(card, prof, tokens: int, position: int) -> dict[str, float]:
    """Seconds of one ``neurosim.run`` and of its traffic, replay and estimate."""
    t0 = time.perf_counter()
    res = neurosim.run(card, prof, tokens=tokens, position=position)
    total = time.perf_counter() - t0

    graph = api.compile_graph(card)
    ctx = card.architecture.max_context
    plan = build_plan(graph, map_graph(graph, prof, ctx), int(prof.core.graded_payload_bits.value))
    source = FittedTraffic(graph, load_fit(card.traffic.fit), card.spiking.abits, 0)
    t0 = time.perf_counter()
    for pos in range(position + tokens):
        source.codes(pos)
    traffic = time.perf_counter() - t0
    replayer = Replayer(plan, prof.core.neuron_update == "time_driven")
    t0 = time.perf_counter()
    for pos in range(position):
        replayer.prefix(source.codes(pos))
    for pos in range(position, position + tokens):
        replayer.token(source.codes(pos), pos)
    replay = time.perf_counter() - t0 - traffic
    t0 = time.perf_counter()
    api.assemble(res.counters, prof, api._baseline_profiles(prof, api.BASELINES))
    estimate = time.perf_counter() - t0
    per_token_bytes = source.codes(0).nbytes + sum(
        v.nbytes for v in vars(plan).values() if isinstance(v, np.ndarray))
    return {"total": total, "traffic": traffic, "replay": replay, "estimate": estimate,
            "other": max(0.0, total - traffic - replay - estimate),
            "token_replay": replay / (position + tokens), "bytes": per_token_bytes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[16, 256, 1024])
    ap.add_argument("--positions", type=int, nargs="+", default=[0, 1024])
    args = ap.parse_args()
    bw = copy_bandwidth_gb_s()
    card, prof = load_card("spikellm-7b"), load_profile("loihi2")
    neurosim.run(card, prof, tokens=2)  # JIT warm-up
    print(f"NumPy copy bandwidth on this machine: {bw:.1f} GB/s (read + write), 1 thread")
    print("tokens position | command tok/s | run tok/s | traffic replay estimate other | "
          "replay-only tok/s  run/replay | bandwidth limit tok/s  run/limit")
    for position in args.positions:
        for tokens in args.tokens:
            cmd = command_seconds(tokens, position)
            s = stages(card, prof, tokens, position)
            run_rate = tokens / s["total"]
            replay_rate = 1 / s["token_replay"]
            limit = bw * 1e9 / s["bytes"]
            shares = " ".join(f"{100 * s[k] / s['total']:5.1f}%" for k in
                              ("traffic", "replay", "estimate", "other"))
            print(f"{tokens:6d} {position:8d} | {tokens / cmd:13.1f} | {run_rate:9.1f} | {shares} | "
                  f"{replay_rate:17.1f}  {run_rate / replay_rate:10.3f} | {limit:21.0f}  "
                  f"{run_rate / limit:9.4f}")


if __name__ == "__main__":
    main()
