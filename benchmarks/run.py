"""End-to-end run speed: what a user runs, beside the replay kernel and the memory limit.

    .venv/bin/python benchmarks/run.py [--tokens 16 256 1024] [--positions 0 1024]
                                       [--threads 1 2]

spikellm-7b on loihi2 (fitted synthetic traffic), for each thread count:

1. ``neurosim run --model spikellm-7b --profile loihi2 --tokens T --position P --threads N
   --json`` as a command from process start, for each (T, P): tokens/s = T / wall time.
2. In one process after JIT warm-up, ``neurosim.run`` for each (T, P), split by timing the
   same work piece by piece: traffic (counting the fitted codes' events per chunk for every
   position replayed, the KV prefix's attention chunks included), replay (the replay
   kernel on those events), estimate (``api.assemble`` of the run's counters), other (the
   rest: compiling, mapping, building the plan, the per-token dense counts).
3. The replay-only rate (replay time per token) and the ratio of the run's rate to it.
4. The memory-bandwidth limit: the bytes a token reads (the sampler's salient-channel mask
   and index, step limits and segment table; the plan's per-chunk and per-tile arrays the
   replay kernel reads) over the bandwidth of a NumPy copy measured here; the ratio of the
   run's rate to that limit.
5. The marginal rate of the command: 512 tokens over the difference of the wall times of
   ``--tokens 576`` and ``--tokens 64``.
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
from neurosim.replay.counters import BATCH_PER_THREAD
from neurosim.replay.engine import Replayer
from neurosim.replay.plan import build_plan
from neurosim.threads import in_use, using
from neurosim.traffic.fitted import FittedTraffic, load_fit

BIN = Path(sys.executable).with_name("neurosim")
REPLAY_READS = ("chunk_msgs", "chunk_hops", "chunk_cross", "chunk_exits", "chunk_path_hops",
                "chunk_path_cross", "chunk_kv", "tile_chunk", "tile_rows", "tile_fanout",
                "tile_source", "block_steps", "block_graded")
"""The plan's arrays the replay kernel reads once per token."""


def copy_bandwidth_gb_s(mib: int = 256) -> float:
    """Bytes read plus written per second by a NumPy copy of ``mib`` MiB, best of 3."""
    a = np.ones(mib * 2**20 // 8)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        a.copy()
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9


def command_seconds(tokens: int, position: int, threads: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN), "run", "--model", "spikellm-7b", "--profile", "loihi2", "--tokens",
                    str(tokens), "--position", str(position), "--threads", str(threads),
                    "--json"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def stages(card, prof, tokens: int, position: int, threads: int) -> dict[str, float]:
    """Seconds of one ``neurosim.run`` on ``threads`` threads and of its traffic, replay
    and estimate."""
    t0 = time.perf_counter()
    res = neurosim.run(card, prof, tokens=tokens, position=position, threads=threads)
    total = time.perf_counter() - t0

    graph = api.compile_graph(card)
    ctx = card.architecture.max_context
    plan = build_plan(graph, map_graph(graph, prof, ctx), int(prof.core.graded_payload_bits.value))
    source = FittedTraffic(graph, load_fit(card.traffic.fit), card.spiking.abits, 0)
    every = source.event_counter(plan.chunk_start, plan.chunk_unary)
    kv = source.event_counter(plan.chunk_start, plan.chunk_unary, plan.chunk_kv)
    batch = BATCH_PER_THREAD * in_use()
    t0 = time.perf_counter()
    prefix = [kv(range(lo, min(position, lo + batch))) for lo in range(0, position, batch)]
    events = [every(range(lo, min(position + tokens, lo + batch)))
              for lo in range(position, position + tokens, batch)]
    traffic = time.perf_counter() - t0
    replayer = Replayer(plan, prof.core.neuron_update == "time_driven")
    t0 = time.perf_counter()
    for ce in prefix:
        replayer.prefix_events(ce)
    for i, ce in enumerate(events):
        lo = position + i * batch
        replayer.tokens_events(ce, list(range(lo, lo + len(ce))))
    replay = time.perf_counter() - t0
    t0 = time.perf_counter()
    api.assemble(res.counters, prof, api._baseline_profiles(prof, api.BASELINES))
    estimate = time.perf_counter() - t0
    segments = len(np.union1d(plan.chunk_start, source._group_start)) - 1
    sampler = source._salient.nbytes + source._sal_idx.nbytes + source._limits.nbytes + (
        6 * 8 * segments)  # the segment table: 6 int64 rows
    per_token_bytes = sampler + sum(getattr(plan, f).nbytes for f in REPLAY_READS)
    return {"total": total, "traffic": traffic, "replay": replay, "estimate": estimate,
            "other": max(0.0, total - traffic - replay - estimate),
            "token_replay": replay / tokens, "bytes": per_token_bytes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[16, 256, 1024])
    ap.add_argument("--positions", type=int, nargs="+", default=[0, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    bw = copy_bandwidth_gb_s()
    card, prof = load_card("spikellm-7b"), load_profile("loihi2")
    print(f"NumPy copy bandwidth on this machine: {bw:.1f} GB/s (read + write), 1 thread")
    print("threads tokens position | command tok/s | run tok/s | traffic replay estimate other | "
          "replay-only tok/s  run/replay | bandwidth limit tok/s  run/limit")
    for threads in args.threads:
        with using(threads):
            neurosim.run(card, prof, tokens=2, threads=threads)  # the kernels' warm-up
            for position in args.positions:
                for tokens in args.tokens:
                    cmd = command_seconds(tokens, position, threads)
                    s = stages(card, prof, tokens, position, threads)
                    run_rate = tokens / s["total"]
                    replay_rate = 1 / s["token_replay"]
                    limit = bw * 1e9 / s["bytes"]
                    shares = " ".join(f"{100 * s[k] / s['total']:5.1f}%" for k in
                                      ("traffic", "replay", "estimate", "other"))
                    print(f"{threads:7d} {tokens:6d} {position:8d} | {tokens / cmd:13.1f} | "
                          f"{run_rate:9.1f} | {shares} | {replay_rate:17.1f}  "
                          f"{run_rate / replay_rate:10.3f} | {limit:21.0f}  "
                          f"{run_rate / limit:9.4f}")
            short, long_ = command_seconds(64, 0, threads), command_seconds(576, 0, threads)
            print(f"{threads} thread(s): marginal command rate between 64 and 576 tokens: "
                  f"{512 / (long_ - short):.0f} tokens/s ({short:.2f} s, {long_:.2f} s)")


if __name__ == "__main__":
    main()
