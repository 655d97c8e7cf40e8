"""Writes the NIR networks of the tests (``python tests/data/make_nir.py``): seeded, small.

LIF neurons follow snnTorch's export at dt = 1e-4 s: beta = 0.9 gives tau = dt / (1 - beta)
and r = tau / dt, so one step is ``v = 0.9 v + I``.
"""

from pathlib import Path

import nir
import numpy as np

HERE = Path(__file__).parent
DT = 1e-4


def lif(n, beta: float = 0.9, threshold: float = 1.0) -> nir.LIF:
    """LIF neurons of shape ``n`` (an int or a tuple)."""
    tau = DT / (1 - beta)
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / DT), v_leak=np.zeros(n),
                   v_threshold=np.full(n, threshold), v_reset=np.zeros(n))


def weights(rng, n_out: int, n_in: int, scale: float) -> np.ndarray:
    return rng.uniform(-0.3, 1.0, (n_out, n_in)) * scale


def feedforward(rng) -> nir.NIRGraph:
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([64])}),
        "fc1": nir.Affine(weight=weights(rng, 128, 64, 0.25), bias=np.zeros(128)),
        "lif1": lif(128),
        "fc2": nir.Linear(weight=weights(rng, 10, 128, 0.1)),
        "lif2": lif(10),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }, edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
              ("lif2", "output")])


def recurrent(rng) -> nir.NIRGraph:
    n = 5
    tau_syn = DT / (1 - 0.8)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([32])}),
        "fc_in": nir.Affine(weight=weights(rng, 64, 32, 0.3), bias=np.zeros(64)),
        "lif": lif(64),
        "rec": nir.Linear(weight=weights(rng, 64, 64, 0.05)),
        "fc_out": nir.Linear(weight=weights(rng, n, 64, 0.2)),
        "cuba": nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, 1e-3),
                            r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
                            v_reset=np.zeros(n), w_in=np.full(n, tau_syn / DT)),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }, edges=[("input", "fc_in"), ("fc_in", "lif"), ("lif", "rec"), ("rec", "lif"),
              ("lif", "fc_out"), ("fc_out", "cuba"), ("cuba", "output")])


def convolutional(rng) -> nir.NIRGraph:
    w = rng.uniform(-0.3, 1.0, (4, 2, 3, 3)) * 0.4
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2, 12, 12])}),
        "conv": nir.Conv2d(input_shape=(12, 12), weight=w, stride=1, padding=1, dilation=1,
                           groups=1, bias=np.zeros(4)),
        "lif1": lif((4, 12, 12)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 6, 6])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=weights(rng, 10, 144, 0.1), bias=np.zeros(10)),
        "lif2": lif(10),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }, edges=[("input", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "flat"),
              ("flat", "fc"), ("fc", "lif2"), ("lif2", "output")])


if __name__ == "__main__":
    for i, make in enumerate((feedforward, recurrent, convolutional)):
        graph = make(np.random.default_rng(i))
        nir.write(HERE / f"{make.__name__}.nir", graph)
