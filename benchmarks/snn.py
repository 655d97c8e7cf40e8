"""Imported networks: simulation speed against NumPy and SANA-FE, and the SANA-FE cross-check.

    .venv/bin/python benchmarks/snn.py [--sizes 1024 2048 4096] [--sanafe-max 2048]

1. Speed.  Two-layer nets (``n`` inputs, dense ``n x n`` weights into ``n`` LIF neurons,
   Bernoulli input at ``--rate`` for ``--steps`` steps), each run by
   * ``neurosim``: :class:`neurosim.snn.simulate.Simulator` (numba, one thread), its
     connectivity built once (reported apart), after a JIT warm-up;
   * ``numpy``: the same equations with a row gather per step,
     ``acc = W.T[spiking].sum(0)`` over the float32 weights as neurosim stores them;
   * ``sanafe`` (up to ``--sanafe-max`` neurons: SANA-FE keeps every synapse as objects of
     several hundred bytes, and a 4,096 x 4,096 net did not fit in 11 GB): its ``sim`` on
     the same net, network build and chip load reported apart.
   A synaptic event is one (spike, nonzero weight) pair.  neurosim and NumPy must spike
   alike (the weights are dyadic, so every sum is exact); a difference aborts.  Best of
   ``--repeat`` runs (SANA-FE: one).
2. The cross-check (:mod:`neurosim.snn.crosscheck`): each network on SANA-FE and on
   ``loihi-calibrated``, spikes, energy and latency ratios.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from neurosim.snn.network import Population, Projection, SpikingNetwork  # noqa: E402
from neurosim.snn.simulate import Simulator, bernoulli_input  # noqa: E402
from neurosim.threads import using  # noqa: E402

DT, TAU, R = 1e-4, 1e-3, 10.0


def two_layer(n: int, seed: int = 0) -> SpikingNetwork:
    rng = np.random.default_rng(seed)
    # dyadic weights, exact in float32 as a torch export stores them: every sum is exact,
    # so both simulations must spike alike whatever order they add in
    w = rng.integers(-64, 256, (n, n)) * (4.0 / n) / 2**8
    pop = Population("lif", "lif", n, {"tau": np.full(n, TAU), "r": np.full(n, R),
                                       "v_leak": np.zeros(n), "v_threshold": np.ones(n),
                                       "v_reset": np.zeros(n)})
    return SpikingNetwork(f"two-layer-{n}", n, [pop],
                          [Projection("input->lif", "input", "lif", w, np.zeros(n))], ["lif"])


def numpy_run(net: SpikingNetwork, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Spikes (T, n) and synops of the same LIF equations with a row gather per step."""
    j = net.projections[0]
    wt = np.ascontiguousarray(j.weights.T, dtype=np.float32)  # as neurosim stores them
    fan = np.count_nonzero(wt, axis=1)
    v = np.zeros(net.populations[0].size)
    out = np.zeros((len(x), len(v)), np.uint8)
    synops = 0
    for t in range(len(x)):
        idx = np.flatnonzero(x[t])
        cur = wt[idx].sum(axis=0, dtype=np.float64)
        synops += int(fan[idx].sum())
        v += DT / TAU * (0.0 - v + R * cur)
        fire = v > 1.0
        out[t] = fire
        v[fire] = 0.0
    return out, synops


def best(fn, repeat: int) -> tuple[float, object]:
    times, res = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return min(times), res


def sanafe_speed(net: SpikingNetwork, x: np.ndarray) -> tuple[float, float, int]:
    """SANA-FE's (build and load s, sim s, synapse events) on ``net``."""
    from neurosim.snn import sanafe

    t0 = time.perf_counter()
    run = sanafe.run_sanafe(net, x, DT)
    total = time.perf_counter() - t0
    return total - run.sim_s, run.sim_s, run.counts["synapse_events"]


def crosscheck(steps: int, rate: float) -> None:
    from neurosim.peers import compare_sanafe
    from neurosim.snn.crosscheck import BEYOND, CASES, network

    print()
    print("| network | spikes (SANA-FE) | spikes equal | synapse events equal | energy ratio |"
          " latency ratio |")
    print("|---|---:|---|---|---:|---:|")
    for name, (sizes, recurrent, leaky) in {**CASES, **BEYOND}.items():
        net = network(sizes, recurrent, leaky)
        c = compare_sanafe(net, bernoulli_input(net.inputs, steps, rate, 1))
        print(f"| {name} | {c.spikes:,} | {'yes' if c.spikes_equal else 'no'} | "
              f"{'yes' if c.synops == c.sanafe_synapse_events else 'no'} | "
              f"{c.energy_ratio:.3f} | {c.latency_ratio:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--sanafe-max", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warm = Simulator(two_layer(8))
    warm.run(bernoulli_input(8, 2, 0.5, 0), DT)
    print("| net | synaptic events | neurosim build | neurosim | numpy row gather | neurosim / numpy "
          "| SANA-FE build + load | SANA-FE sim | neurosim / SANA-FE |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        net = two_layer(n)
        x = bernoulli_input(n, args.steps, args.rate, 1)
        sim = Simulator(net)
        t0 = time.perf_counter()
        sim._arrays  # noqa: B018 - the CSC connectivity, built once per network
        build = time.perf_counter() - t0
        with using(1):
            t_sim, run = best(partial(sim.run, x, DT), args.repeat)
        t_np, (spikes, synops) = best(partial(numpy_run, net, x), args.repeat)
        if not np.array_equal(run.spikes["lif"], spikes):
            raise SystemExit(f"{n}: neurosim and the NumPy reference spike differently")
        events = int(run.synops["input->lif"].sum())
        if events != synops:
            raise SystemExit(f"{n}: synops differ ({events} vs {synops})")
        sf = "| not run | | |"
        if n <= args.sanafe_max:
            setup, t_sf, sf_events = sanafe_speed(net, x)
            sf = (f"| {setup:.1f} s | {sf_events / t_sf / 1e6:,.1f} M/s ({t_sf:.2f} s) | "
                  f"{(events / t_sim) / (sf_events / t_sf):,.0f}x |")
        print(f"| {n} x {n}, {args.steps} steps, rate {args.rate} | {events:,} | {build:.3f} s | "
              f"{events / t_sim / 1e6:,.0f} M/s ({t_sim:.3f} s) | {events / t_np / 1e6:,.0f} M/s "
              f"({t_np:.3f} s) | {t_np / t_sim:.2f}x {sf}")
    crosscheck(args.steps, args.rate)


if __name__ == "__main__":
    main()
