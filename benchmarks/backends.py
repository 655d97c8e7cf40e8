"""numba vs Lava on the same nets: wall time and ratio, at several sizes.

    .venv-lava/bin/python benchmarks/backends.py            # or any env with
    NEUROSIM_LAVA_PYTHON=.venv-lava/bin/python .venv/bin/python benchmarks/backends.py

Each net runs once per backend after a warm-up (numba JIT, Lava imports and process-model
discovery).  ``numba s`` and ``lava s`` are each backend's own time to build, run and read
back the counters; ``lava end-to-end s`` adds the child process Lava runs in (start-up,
imports, files).  Every pair of results is checked identical; a difference aborts.

Nets: the SpikeLLM GIF layer at the conformance size and at SmolLM2 sizes (576 -> 576 as
q_proj/o_proj, 1536 -> 576 as down_proj; 8 tokens of 2 steps), SpikeGPT's two-layer LIF
net at two widths over 300 steps, and the whole ``spikellm-tiny`` graph (8 tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from neurosim.backends import get_backend  # noqa: E402
from neurosim.backends.conformance import gif_layer, lif_two_layer, spikellm_slice  # noqa: E402
from neurosim.backends.net import differences  # noqa: E402


def tiny_graph_net(tokens: int = 8):
    from neurosim.api import _traffic, compile_graph
    from neurosim.backends.graph_net import graph_net
    from neurosim.cards import load_card

    card = load_card("spikellm-tiny")
    graph = compile_graph(card)
    source = _traffic(card, graph, None, 0, None, tokens - 1, None)
    return graph_net(graph, [source.codes(p) for p in range(tokens)])


def nets():
    return [
        ("SpikeLLM GIF layer", gif_layer(c_in=64, c_out=48, tokens=16)),
        ("SpikeLLM real slice", spikellm_slice()),
        ("SpikeLLM GIF layer", gif_layer(c_in=576, c_out=576, tokens=8)),
        ("SpikeLLM GIF layer", gif_layer(c_in=1536, c_out=576, tokens=8)),
        ("SpikeGPT LIF 2 layers", lif_two_layer(n_in=40, n_hidden=32, n_out=16)),
        ("SpikeGPT LIF 2 layers", lif_two_layer(n_in=400, n_hidden=320, n_out=160)),
        ("spikellm-tiny graph", tiny_graph_net()),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print rows as JSON")
    args = ap.parse_args()
    numba, lava = get_backend("numba"), get_backend("lava")
    warm = gif_layer(c_in=8, c_out=4, tokens=2)
    numba.run_net(warm)
    lava.run_net(warm)
    rows = []
    for kind, net in nets():
        a = numba.run_net(net)
        t0 = time.perf_counter()
        b = lava.run_net(net)
        end_to_end = time.perf_counter() - t0
        diff = differences(a, b)
        if diff:
            raise SystemExit(f"{net.label}: backends differ: {diff[0]}")
        rows.append({"net": kind, "label": net.label, "neurons": net.neurons,
                     "synapses": net.synapses, "steps": net.steps,
                     "synops": sum(a.synops.values()), "numba_s": a.wall_s, "lava_s": b.wall_s,
                     "lava_end_to_end_s": end_to_end, "ratio": b.wall_s / a.wall_s})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| net | neurons | synapses | steps | synops | numba s | lava s | lava end-to-end s "
          "| lava / numba |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['net']} ({r['label']}) | {r['neurons']:,} | {r['synapses']:,} | {r['steps']} "
              f"| {r['synops']:,} | {r['numba_s']:.4f} | {r['lava_s']:.2f} "
              f"| {r['lava_end_to_end_s']:.2f} | {r['ratio']:,.0f}x |")


if __name__ == "__main__":
    main()
