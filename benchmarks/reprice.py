"""Re-pricing against replaying: what a design that changes only prices costs.

    .venv/bin/python benchmarks/reprice.py [--tokens 8]

In one process, after JIT warm-up: ``neurosim.run('spikellm-7b', 'loihi2')`` end to end,
then ``neurosim.reprice`` of its result on loihi2 with the synop energy x2, static power
x0.5 and DRAM energy per bit x3, both from the Python API; then the same two as commands
from process start (``neurosim run --out D``, ``neurosim reprice D``), each the best of 3.
Prints the wall times and the ratio reprice / run.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

import neurosim
from neurosim.hardware import load_profile
from neurosim.result import Result

BIN = Path(sys.executable).with_name("neurosim")


def p2_profile():
    d = copy.deepcopy(load_profile("loihi2").model_dump(exclude_none=True))
    d["name"] = "loihi2-p2"
    d["core"]["synop_energy_pj"]["value"] *= 2
    d["chip"]["static_power_mw"]["value"] *= 0.5
    for lv in d["memory"]:
        if "dram" in lv["name"]:
            lv["read_energy_pj_per_bit"]["value"] *= 3
            lv["write_energy_pj_per_bit"]["value"] *= 3
    return d


def best(fn, reps: int = 3) -> float:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=8)
    args = ap.parse_args()
    p2 = type(load_profile("loihi2")).model_validate(p2_profile())
    neurosim.run("spikellm-7b", "loihi2", tokens=1)  # JIT warm-up
    holder = {}

    def run():
        holder["r"] = neurosim.run("spikellm-7b", "loihi2", tokens=args.tokens)

    t_run = best(run)
    t_rep = best(lambda: neurosim.reprice(holder["r"], p2))
    with tempfile.TemporaryDirectory() as tmp:
        d, f = Path(tmp) / "D", Path(tmp) / "p2.yaml"
        f.write_text(yaml.safe_dump(p2_profile()))
        cmd_run = [str(BIN), "run", "--model", "spikellm-7b", "--profile", "loihi2",
                   "--tokens", str(args.tokens), "--out", str(d), "--json"]
        cmd_rep = [str(BIN), "reprice", str(d), "--profile", str(f), "--json"]
        c_run = best(lambda: subprocess.run(cmd_run, check=True, capture_output=True))
        c_rep = best(lambda: subprocess.run(cmd_rep, check=True, capture_output=True))
        t_load = best(lambda: Result.load(d))
    print(json.dumps({
        "model": "spikellm-7b", "profile": "loihi2 -> loihi2-p2", "tokens": args.tokens,
        "api": {"run_s": t_run, "reprice_s": t_rep, "ratio": t_rep / t_run},
        "command": {"run_s": c_run, "reprice_s": c_rep, "ratio": c_rep / c_run,
                    "result_load_s": t_load},
    }, indent=2))


if __name__ == "__main__":
    main()
