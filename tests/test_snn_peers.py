"""An snnTorch network, exported to NIR by snnTorch itself, gives the same spikes in
neurosim's simulation as in snnTorch's forward pass, and neurosim's NeuroBench metrics equal
NeuroBench's own on it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")

from neurosim.api import run_network  # noqa: E402
from neurosim.peers import compare_sanafe  # noqa: E402
from neurosim.snn.crosscheck import CASES, network  # noqa: E402
from neurosim.snn.nir_io import read_nir  # noqa: E402
from neurosim.snn.simulate import Simulator, bernoulli_input  # noqa: E402

STEPS, N_IN, N_HID, N_OUT = 100, 20, 30, 5


def _leaky(n: int, beta: float, output: bool = False):
    # per-neuron beta and threshold: nir 1.0 types every parameter by its shape; reset to
    # zero, the only reset NIR's LIF has (snnTorch's default subtracts the threshold)
    return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True,
                     output=output, reset_mechanism="zero")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """snnTorch's network, its NIR file, the input spikes and snnTorch's spikes per layer."""
    import nir
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(N_IN, N_HID), _leaky(N_HID, 0.9),
                              torch.nn.Linear(N_HID, N_OUT), _leaky(N_OUT, 0.8, output=True))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3)  # enough drive that every layer fires
    path = tmp_path_factory.mktemp("snntorch") / "net.nir"
    nir.write(path, export_to_nir(net, torch.zeros(N_IN)))
    x = (torch.rand(STEPS, N_IN) < 0.2).float()
    hidden = []
    hook = net[1].register_forward_hook(lambda m, i, o: hidden.append(o.detach().clone()))
    utils.reset(net)
    with torch.no_grad():
        out = torch.stack([net(x[t][None])[0][0] for t in range(STEPS)])
    hook.remove()
    spikes = {"hidden": torch.stack(hidden)[:, 0].numpy(), "output": out.numpy()}
    return net, path, x, spikes


def test_spike_counts_equal_snntorch(exported):
    """Exact: snnTorch computes in float32 and neurosim in float64, and no membrane of this
    seeded run lands between the two roundings of its threshold."""
    _, path, x, spikes = exported
    net = read_nir(path)
    hidden, output = net.order  # snnTorch names its layers by index: "1" and "3"
    run = Simulator(net).run(x.numpy().astype(np.uint8), 1e-4)
    assert spikes["hidden"].sum() > 0 and spikes["output"].sum() > 0
    assert np.array_equal(run.spikes[hidden].sum(axis=0), spikes["hidden"].sum(axis=0))
    assert np.array_equal(run.spikes[output].sum(axis=0), spikes["output"].sum(axis=0))
    assert np.array_equal(run.spikes[output], spikes["output"].astype(np.uint8))


def test_neurobench_metrics_equal_neurobench(exported):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import SNNTorchModel
    from torch.utils.data import DataLoader, TensorDataset

    model, path, x, _ = exported
    data = DataLoader(TensorDataset(x[None], torch.zeros(1)), batch_size=1)
    theirs = Benchmark(SNNTorchModel(model), data, [], [],
                       [[ParameterCount, ConnectionSparsity],
                        [SynapticOperations, ActivationSparsity]]).run(quiet=True)
    mine = run_network(path, "loihi2", inputs=x.numpy().astype(np.uint8)).summary()["neurobench"]
    ops = theirs["SynapticOperations"]
    assert mine["Effective_ACs"] == ops["Effective_ACs"] > 0
    assert mine["Effective_MACs"] == ops["Effective_MACs"] == 0
    assert mine["Dense"] == ops["Dense"] == STEPS * (N_IN * N_HID + N_HID * N_OUT)
    assert mine["ActivationSparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-12)
    assert mine["ParameterCount"] == theirs["ParameterCount"]
    assert mine["ConnectionSparsity"] == theirs["ConnectionSparsity"]


@pytest.mark.parametrize("case", list(CASES))
def test_sanafe_agrees(case):
    """The same network on SANA-FE's Loihi model (sanafe 2.2.9) and on loihi-calibrated,
    whose per-event costs are SANA-FE's: spikes, synapse events and messages equal; energy
    (without neurosim's static power, which SANA-FE does not model) within 5 %, latency
    within 25 %."""
    pytest.importorskip("sanafe")

    sizes, recurrent, leaky = CASES[case]
    net = network(sizes, recurrent, leaky)
    c = compare_sanafe(net, bernoulli_input(net.inputs, 100, 0.1, 1))
    assert c.spikes > 0 and c.spikes_equal
    assert (c.synops, c.messages) == (c.sanafe_synapse_events, c.sanafe_messages)
    assert abs(c.energy_ratio - 1) <= 0.05, c.energy_ratio
    assert abs(c.latency_ratio - 1) <= 0.25, c.latency_ratio
