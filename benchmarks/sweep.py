"""Sweep speed: re-priced points against replayed ones, and a mapping sweep.

    .venv/bin/python benchmarks/sweep.py [--workers 2] [--no-reuse-sample 40 | --no-reuse-all]

1. A 1,000-point energy-only sweep of spikellm-7b on loihi2, 4 tokens (synop energy x
   static power x hop energy, 10 values each), as the command ``neurosim sweep SPEC --out D
   --workers N`` from process start: LocalCluster start, JIT in each worker, one replay,
   1,000 prices, the Parquet parts.
2. The same points without reuse, on a LocalCluster of as many workers, warmed up (its start
   and JIT timed apart): every point replayed on its own with the workers' graph and mapping
   caches, and every point a whole ``neurosim.run``; a sample of them (default 40, spread
   over the spec) timed per point and scaled to 1,000 plus the cluster start, or all of them
   with ``--no-reuse-all``; the ratio to (1).
3. A 100-point mapping sweep (core memory x neurons per core, 10 values each), as the
   command from process start: every point is a replay; points per second.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

import neurosim
from neurosim.sweeps import engine, load_spec
from neurosim.sweeps.points import build, enumerate_points

BIN = Path(sys.executable).with_name("neurosim")

ENERGY = {"schema_version": 1, "models": ["spikellm-7b"], "profiles": ["loihi2"], "tokens": 4,
          "axes": {"profile.core.synop_energy_pj": {"log": [0.5, 8], "points": 10},
                   "profile.chip.static_power_mw": {"log": [10, 1000], "points": 10},
                   "profile.chip.hop_energy_pj": {"log": [0.1, 4], "points": 10}}}
MAPPING = {"schema_version": 1, "models": ["spikellm-7b"], "profiles": ["loihi2"], "tokens": 4,
           "axes": {"profile.memory.core_sram.capacity_kib": {"log": [96, 768], "points": 10},
                    "profile.core.neurons": [1024, 1536, 2048, 3072, 4096, 5120, 6144, 7168,
                                             8192, 12288]}}


def command(spec: dict, tmp: Path, name: str, workers: int) -> tuple[float, int]:
    """Seconds of ``neurosim sweep`` from process start, and the points it wrote."""
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp / name
    t0 = time.perf_counter()
    subprocess.run([str(BIN), "sweep", str(path), "--out", str(out), "--workers", str(workers),
                    "--json"], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    import pandas as pd

    frame = pd.read_parquet(out)
    return seconds, int((frame["status"] == "ok").sum())


def _fresh_run(point, card, prof, baselines) -> float:
    """Energy per token of a point as one neurosim.run, nothing shared."""
    return neurosim.run(card, prof, tokens=4, baselines=("gpu-a100", "gpu-h100")).per_token()["energy_j"]


def _cached_replay(point, card, prof, baselines) -> float:
    """Energy per token of a point replayed on its own, sharing only graph and mapping."""
    counters = engine.replay(card, prof, point.position, 4, 0, None)
    row = engine.price(counters, [(point, prof, "")], baselines)[0]
    if row["status"] != "ok":
        raise RuntimeError(row["error"])
    return row["energy_j"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-reuse-sample", type=int, default=40)
    ap.add_argument("--no-reuse-all", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        s_reuse, ok = command(ENERGY, tmp, "energy", args.workers)
        print(f"1. energy-only sweep, 1,000 points, reuse, command from process start: "
              f"{s_reuse:.1f} s ({ok} ok, {ok / s_reuse:.0f} points/s)")

        sw = load_spec(ENERGY)
        points = enumerate_points(sw)
        if not args.no_reuse_all:
            step = max(1, len(points) // args.no_reuse_sample)
            points = points[::step][: args.no_reuse_sample]
        t0 = time.perf_counter()
        client = engine.connect(None, args.workers)
        card = sw.cards["spikellm-7b"]
        client.gather([client.submit(_fresh_run, None, card, sw.profiles["loihi2"], sw.baselines,
                                     pure=False)
                       for _ in range(2 * args.workers)])  # imports and JIT in every worker
        s_start = time.perf_counter() - t0
        runs = [(p, *build(card, sw.profiles["loihi2"], p.overrides), sw.baselines) for p in points]
        for label, fn in (("replayed with the workers' graph and mapping caches", _cached_replay),
                          ("each a whole neurosim.run (compile, map, replay, price)", _fresh_run)):
            t0 = time.perf_counter()
            client.gather([client.submit(fn, *run, pure=False) for run in runs])
            per_point = (time.perf_counter() - t0) / len(runs)
            s_all = s_start + 1000 * per_point
            print(f"2. the same points without reuse, {label}: {len(runs)} timed on {args.workers} "
                  f"warm workers, {per_point * 1e3:.0f} ms/point; with the cluster start "
                  f"({s_start:.1f} s) {s_all:.0f} s for 1,000; reuse is {s_all / s_reuse:.0f}x faster")
        engine.close(client)

        s_map, ok = command(MAPPING, tmp, "mapping", args.workers)
        print(f"3. mapping sweep, 100 points (core memory x neurons per core), command from "
              f"process start: {s_map:.1f} s, {100 / s_map:.2f} points/s ({ok} ok)")


if __name__ == "__main__":
    main()
