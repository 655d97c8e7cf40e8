"""Speed of the time-stepped simulation of imported networks, as synaptic events per second.

    .venv/bin/python benchmarks/snn.py [--sizes 1024 4096] [--steps 100] [--rate 0.1]

Two-layer nets (``n`` inputs, dense ``n x n`` weights into ``n`` LIF neurons, Bernoulli input
at ``rate``), each run by:

* ``neurosim``: :class:`neurosim.snn.simulate.Simulator` (numba, one thread), the
  connectivity built once (its build time is reported apart), after a JIT warm-up;
* ``numpy``: the same equations with a row gather per step, ``acc = W.T[spiking].sum(0)``
  (W.T contiguous, so the gathered rows are contiguous), float64.

A synaptic event is one (spike, nonzero weight) pair: the synops of the run.  Both must give
the same spikes; a difference aborts.  The figures are best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from neurosim.snn.network import Population, Projection, SpikingNetwork  # noqa: E402
from neurosim.snn.simulate import Simulator, bernoulli_input  # noqa: E402

DT, TAU, R = 1e-4, 1e-3, 10.0


def two_layer(n: int, seed: int = 0) -> SpikingNetwork:
    rng = np.random.default_rng(seed)
    w = rng.uniform(-0.2, 1.0, (n, n)) * (4.0 / n)
    pop = Population("lif", "lif", n, {"tau": np.full(n, TAU), "r": np.full(n, R),
                                       "v_leak": np.zeros(n), "v_threshold": np.ones(n),
                                       "v_reset": np.zeros(n)})
    return SpikingNetwork(f"two-layer-{n}", n, [pop],
                          [Projection("input->lif", "input", "lif", w, np.zeros(n))], ["lif"])


def numpy_run(net: SpikingNetwork, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Spikes (T, n) and synops of the same LIF equations with a row gather per step."""
    j = net.projections[0]
    wt = np.ascontiguousarray(j.weights.T)
    fan = np.count_nonzero(wt, axis=1)
    v = np.zeros(net.populations[0].size)
    out = np.zeros((len(x), len(v)), np.uint8)
    synops = 0
    for t in range(len(x)):
        idx = np.flatnonzero(x[t])
        cur = wt[idx].sum(axis=0)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warm = Simulator(two_layer(8))
    warm.run(bernoulli_input(8, 2, 0.5, 0), DT)
    print("| net | synaptic events | connectivity build | neurosim | numpy row gather | neurosim / numpy |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        net = two_layer(n)
        x = bernoulli_input(n, args.steps, args.rate, 1)
        sim = Simulator(net)
        t0 = time.perf_counter()
        sim._arrays  # noqa: B018 - the CSC connectivity, built once per network
        build = time.perf_counter() - t0
        t_sim, run = best(partial(sim.run, x, DT), args.repeat)
        t_np, (spikes, synops) = best(partial(numpy_run, net, x), args.repeat)
        if not np.array_equal(run.spikes["lif"], spikes):
            raise SystemExit(f"{n}: neurosim and the NumPy reference spike differently")
        events = int(run.synops["input->lif"].sum())
        if events != synops:
            raise SystemExit(f"{n}: synops differ ({events} vs {synops})")
        print(f"| {n} x {n}, {args.steps} steps, rate {args.rate} | {events:,} | {build:.3f} s | "
              f"{events / t_sim / 1e6:,.0f} M/s ({t_sim:.3f} s) | {events / t_np / 1e6:,.0f} M/s "
              f"({t_np:.3f} s) | {t_np / t_sim:.2f}x |")


if __name__ == "__main__":
    main()
