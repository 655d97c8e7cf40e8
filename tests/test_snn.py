"""Spiking networks from NIR: import, time-stepped simulation and the counts the replay
prices, on networks small enough to count by hand, against a plain NumPy simulation, and
against torch's convolutions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

nir = pytest.importorskip("nir")  # the nir extra (not in the Lava environment)

from neurosim.api import run_network  # noqa: E402
from neurosim.errors import InputError  # noqa: E402
from neurosim.snn.nir_io import from_nir, read_nir  # noqa: E402
from neurosim.snn.simulate import Simulator  # noqa: E402

DATA = Path(__file__).parent / "data"
FIXTURES = ("feedforward", "recurrent", "convolutional")


def _input(shape) -> nir.Input:
    return nir.Input(input_type={"input": np.array(shape)})


def _output(shape) -> nir.Output:
    return nir.Output(output_type={"output": np.array(shape)})


def _threshold(thr) -> nir.Threshold:
    return nir.Threshold(threshold=np.asarray(thr, float))


def _chain() -> nir.NIRGraph:
    """Input(2) -> W1 (3x2) -> Threshold(3) -> W2 (1x3) -> Threshold(1) -> Output."""
    return nir.NIRGraph(nodes={
        "input": _input([2]),
        "w1": nir.Linear(weight=np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])),
        "t1": _threshold([0.5, 1.5, 0.5]),
        "w2": nir.Linear(weight=np.array([[1.0, 0.0, 1.0]])),
        "t2": _threshold([1.5]),
        "output": _output([1]),
    }, edges=[("input", "w1"), ("w1", "t1"), ("t1", "w2"), ("w2", "t2"), ("t2", "output")])


def test_chain_counts_by_hand():
    """Step by step: t1 fires where W1·x > [0.5, 1.5, 0.5]; column nonzeros of W1 are
    (2, 2), of W2 (1, 0, 1)."""
    x = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.uint8)
    res = run_network(from_nir(_chain(), "chain"), "loihi2", inputs=x)
    t = res.tokens
    # t1 spikes: [1,0,0], [0,0,1], [1,1,1], [0,0,0]; t2: [0], [0], [1], [0]
    assert t["spikes"].tolist() == [1, 1, 4, 0]
    # events: input spikes into W1 plus t1 spikes into W2
    assert t["events"].tolist() == [1 + 1, 1 + 1, 2 + 3, 0]
    # synops: input columns (2 each) plus t1 columns (1, 0, 1)
    assert t["synops"].tolist() == [2 + 1, 2 + 1, 4 + 2, 0]
    assert t["dense_equivalent_macs"].tolist() == [3 * 2 + 1 * 3] * 4
    s = res.summary()["per_inference"]
    assert (s["steps"], s["spikes"], s["synops"]) == (4, 6, 12)


def test_delay_node_shifts_the_spikes():
    """Input -> Delay (3 steps of dt) -> W -> Threshold: the neuron fires 3 steps after its
    input; a delay that is not a whole number of steps is refused."""
    g = nir.NIRGraph(nodes={
        "input": _input([1]), "d": nir.Delay(delay=np.array([3e-4])),
        "w": nir.Linear(weight=np.ones((1, 1))), "t": _threshold([0.5]), "output": _output([1]),
    }, edges=[("input", "d"), ("d", "w"), ("w", "t"), ("t", "output")])
    net = from_nir(g, "delay")
    x = np.array([[1], [0], [0], [0], [0], [1]])
    run = Simulator(net).run(x, 1e-4)
    assert run.spikes["t"][:, 0].tolist() == [0, 0, 0, 1, 0, 0]
    with pytest.raises(InputError, match="whole number of steps"):
        Simulator(net).run(x, 2e-4)


def test_recurrent_edge_delivers_the_previous_step():
    """A threshold neuron driven by itself through weight 1: one input spike at step 0
    keeps it firing at every later step, one step of delay per loop."""
    g = nir.NIRGraph(nodes={
        "input": _input([1]), "w_in": nir.Linear(weight=np.ones((1, 1))),
        "t": _threshold([0.5]), "w_rec": nir.Linear(weight=np.ones((1, 1))),
        "output": _output([1]),
    }, edges=[("input", "w_in"), ("w_in", "t"), ("t", "w_rec"), ("w_rec", "t"), ("t", "output")])
    net = from_nir(g, "loop")
    assert [(j.pre, j.post, j.recurrent) for j in net.projections] == [
        ("input", "t", False), ("t", "t", True)]
    run = Simulator(net).run(np.array([[1], [0], [0], [0]]), 1e-4)
    assert run.spikes["t"][:, 0].tolist() == [1, 1, 1, 1]
    assert run.synops["t->t"].tolist() == [1, 1, 1, 1]  # counted when sent
    assert run.synops["input->t"].tolist() == [1, 0, 0, 0]


def _reference(net, x, dt, delay=False):
    """The module docstring's equations with dense matrix products, population by
    population: spikes (T, N) per population, in the network's order; ``delay``: every
    projection delivers the previous step's spikes."""
    state = {p.name: {"v": np.zeros(p.size), "i": np.zeros(p.size)} for p in net.populations}
    spikes = {p.name: np.zeros((len(x), p.size), np.uint8) for p in net.populations}
    for t in range(len(x)):
        for p in net.populations:
            cur = np.zeros(p.size)
            for j in net.incoming(p.name):
                cur = cur + j.bias
                lag = 1 if (delay or j.recurrent) else 0
                if t - lag < 0:
                    src = np.zeros(net.size(j.pre))
                else:
                    src = (x if j.pre == "input" else spikes[j.pre])[t - lag]
                cur = cur + j.weights @ src
            s, q = state[p.name], p.params
            if p.kind == "threshold":
                spikes[p.name][t] = cur > q["threshold"]
                continue
            if p.kind in ("cubalif", "cubali"):
                s["i"] = s["i"] + dt / q["tau_syn"] * (q["w_in"] * cur - s["i"])
                cur = s["i"]
            if p.kind in ("if", "i"):
                s["v"] = s["v"] + dt * q["r"] * cur
            else:
                tau = q["tau_mem"] if "tau_mem" in q else q["tau"]
                s["v"] = s["v"] + dt / tau * (q["v_leak"] - s["v"] + q["r"] * cur)
            if p.spiking:
                fire = s["v"] > q["v_threshold"]
                spikes[p.name][t] = fire
                s["v"] = np.where(fire, q["v_reset"], s["v"])
    return spikes


def _dyadic(rng, shape, density):
    """Weights that are multiples of 1/8 in [-1, 2], so every sum is exact in float64."""
    w = rng.integers(-8, 17, shape) / 8.0
    return w * (rng.random(shape) < density)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_hidden=st.integers(1, 40),
       kind=st.sampled_from(["lif", "cubalif", "if"]), recurrent=st.booleans(),
       density=st.floats(0.1, 1.0), delay=st.booleans())
def test_kernel_equals_dense_reference(seed, n_hidden, kind, recurrent, density, delay):
    rng = np.random.default_rng(seed)
    n_in, n_out, dt = 7, 3, 1e-4
    tau = np.full(n_hidden, 1e-3)
    if kind == "lif":
        hidden = nir.LIF(tau=tau, r=np.full(n_hidden, 10.0), v_leak=np.zeros(n_hidden),
                         v_threshold=np.ones(n_hidden), v_reset=np.zeros(n_hidden))
    elif kind == "cubalif":
        hidden = nir.CubaLIF(tau_syn=tau / 2, tau_mem=tau, r=np.full(n_hidden, 10.0),
                             v_leak=np.full(n_hidden, 0.1), v_threshold=np.ones(n_hidden),
                             v_reset=np.zeros(n_hidden), w_in=np.full(n_hidden, 5.0))
    else:
        hidden = nir.IF(r=np.full(n_hidden, 1e4), v_threshold=np.ones(n_hidden),
                        v_reset=np.zeros(n_hidden))
    nodes = {"input": _input([n_in]),
             "fc1": nir.Affine(weight=_dyadic(rng, (n_hidden, n_in), density),
                               bias=rng.integers(-2, 3, n_hidden) / 16.0),
             "hidden": hidden, "fc2": nir.Linear(weight=_dyadic(rng, (n_out, n_hidden), density)),
             "out": nir.LI(tau=np.full(n_out, 2e-3), r=np.ones(n_out), v_leak=np.zeros(n_out)),
             "output": _output([n_out])}
    edges = [("input", "fc1"), ("fc1", "hidden"), ("hidden", "fc2"), ("fc2", "out"),
             ("out", "output")]
    if recurrent:
        nodes["rec"] = nir.Linear(weight=_dyadic(rng, (n_hidden, n_hidden), density))
        edges += [("hidden", "rec"), ("rec", "hidden")]
    net = from_nir(nir.NIRGraph(nodes=nodes, edges=edges), "random")
    x = (rng.random((30, n_in)) < 0.3).astype(np.uint8)
    run = Simulator(net).run(x, dt, synaptic_delay=delay)
    ref = _reference(net, x.astype(float), dt, delay)
    for p in net.populations:
        assert np.array_equal(run.spikes[p.name], ref[p.name]), p.name
    for j in net.projections:  # synops: each step's spikes times their columns' nonzeros
        src = x if j.pre == "input" else ref[j.pre]
        assert np.array_equal(run.synops[j.name], (src != 0) @ j.column_fanout()), j.name


@pytest.mark.parametrize("padding, stride, groups", [(1, 1, 1), (0, 2, 1), (1, 1, 2)])
def test_conv_and_pool_unrolled_equal_torch(padding, stride, groups):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    c_in, c_out, h, w = 4, 6, 7, 9
    weight = rng.normal(size=(c_out, c_in // groups, 3, 3))
    bias = rng.normal(size=c_out)
    conv = nir.Conv2d(input_shape=(h, w), weight=weight, stride=stride, padding=padding,
                      dilation=1, groups=groups, bias=bias)
    from neurosim.snn.nir_io import _conv, _pool

    m, b, shape = _conv("Conv2d", conv, (c_in, h, w), "t", "conv")
    x = rng.normal(size=(c_in, h, w))
    want = torch.nn.functional.conv2d(torch.tensor(x)[None], torch.tensor(weight), torch.tensor(bias),
                                      stride=stride, padding=padding, groups=groups)[0].numpy()
    assert shape == want.shape
    np.testing.assert_allclose(m @ x.ravel() + b, want.ravel(), rtol=1e-12, atol=1e-12)
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                         padding=np.array([0, 0]))
    m, _, shape = _pool("SumPool2d", pool, (c_in, h, w), "t", "pool")
    want = torch.nn.functional.avg_pool2d(torch.tensor(x)[None], 2)[0].numpy() * 4
    assert shape == want.shape
    np.testing.assert_allclose(m @ x.ravel(), want.ravel(), rtol=1e-12)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_networks_run_from_the_cli(cli, name):
    res = cli("run", "--model", str(DATA / f"{name}.nir"), "--profile", "loihi-calibrated",
              "--rate", "0.1", "--steps", "100", "--json")
    assert res.code == 0, res.err
    data = res.json()
    inf = data["per_inference"]
    assert inf["steps"] == 100 and inf["spikes"] > 0 and inf["synops"] > 0
    assert data["provenance"]["traffic"]["integrator"] == "forward Euler"
    assert data["provenance"]["network"]["sha256"]
    # the replay's synops are the simulation's: spikes times their columns' nonzeros
    net = read_nir(DATA / f"{name}.nir")
    rng_input = np.random.default_rng(0).random((100, net.inputs)) < 0.1
    run = Simulator(net).run(rng_input.astype(np.uint8), 1e-4)
    assert inf["synops"] == sum(int(s.sum()) for s in run.synops.values())
    assert inf["spikes"] == sum(int(s.sum()) for s in run.spikes.values())


def test_fixtures_have_the_structures_they_claim():
    assert any(j.recurrent for j in read_nir(DATA / "recurrent.nir").projections)
    conv = read_nir(DATA / "convolutional.nir")
    assert conv["lif1"].size == 4 * 12 * 12 and conv.inputs == 2 * 12 * 12
    # the pooled, flattened projection into lif2 is 10 x 576 (pool and affine multiplied)
    assert conv.incoming("lif2")[0].weights.shape == (10, 576)


def _write(tmp_path, graph, name="net.nir") -> Path:
    path = tmp_path / name
    nir.write(path, graph)
    return path


def _one_line(res, *words):
    assert res.code == 2, (res.code, res.err)
    line = res.err.strip()
    assert "\n" not in line and "Traceback" not in line, res.err
    for w in words:
        assert w in line, line


def test_bad_networks_one_line(cli, tmp_path):
    run = ("--profile", "loihi2", "--rate", "0.1", "--steps", "5")
    corrupt = tmp_path / "corrupt.nir"
    corrupt.write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 4)
    _one_line(cli("run", "--model", str(corrupt), *run), str(corrupt), "not a readable NIR graph")

    import h5py

    path = _write(tmp_path, _chain(), "resonator.nir")
    with h5py.File(path, "r+") as f:  # a node type neurosim does not know
        del f["node/nodes/t2/type"]
        f["node/nodes/t2/type"] = np.bytes_("Resonator")
    _one_line(cli("run", "--model", str(path), *run), "t2", "unsupported NIR node type 'Resonator'",
              "LIF")

    nan = _chain()
    nan.nodes["w2"] = nir.Linear(weight=np.array([[1.0, np.nan, 1.0]]))
    path = _write(tmp_path, nan, "nan.nir")
    _one_line(cli("run", "--model", str(path), *run), "t1->t2.weight", "not finite")

    island = nir.NIRGraph(nodes={
        "input": _input([2]), "w": nir.Linear(weight=np.ones((1, 2))), "t": _threshold([0.5]),
        "a": _threshold([0.5]), "wa": nir.Linear(weight=np.ones((1, 1))), "b": _threshold([0.5]),
        "wb": nir.Linear(weight=np.ones((1, 1))), "output": _output([1])},
        edges=[("input", "w"), ("w", "t"), ("a", "wa"), ("wa", "b"), ("b", "wb"), ("wb", "a"),
               ("b", "output")])
    path = _write(tmp_path, island, "island.nir")
    _one_line(cli("run", "--model", str(path), *run), "no path from the Input node")

    good = _write(tmp_path, _chain(), "chain.nir")
    spikes = tmp_path / "spikes.npy"
    np.save(spikes, np.zeros((5, 3), np.uint8))
    _one_line(cli("run", "--model", str(good), "--profile", "loihi2", "--input", str(spikes)),
              "input spikes of the wrong shape", "(5, 3)", "(steps, 2)")
    _one_line(cli("run", "--model", str(good), "--profile", "loihi2"), "needs input spikes")
    _one_line(cli("run", "--model", "spikellm-7b", "--profile", "loihi2", "--rate", "0.1"),
              "--rate", "applies to a .nir network only")


def test_input_values_must_be_spike_counts():
    net = from_nir(_chain(), "chain")
    with pytest.raises(InputError, match="spike counts"):
        run_network(net, "loihi2", inputs=np.full((3, 2), 0.5))


class _ByGroup:
    """A card's traffic laid out for another graph: each of its groups' channels taken from
    the card's group of the same name."""

    kind = "synthetic"

    def __init__(self, source, card_graph, graph):
        off = np.concatenate([[0], np.cumsum([g.size for g in card_graph.groups])])
        where = {g.name: (off[i], off[i] + g.size) for i, g in enumerate(card_graph.groups)}
        self.source, self.cols = source, np.concatenate([np.arange(*where[g.name])
                                                         for g in graph.groups])

    def codes(self, position):
        return self.source.codes(position)[:, self.cols]

    def provenance(self):
        return {"kind": "synthetic"}


def test_export_import_round_trip_gives_the_cards_spiking_counters(tmp_path, cli):
    """spikellm-tiny written as NIR and read back: the same groups and blocks, and the same
    events and synops per weight block on the same codes (the attention blocks and dense
    ops are not NIR: the warning says so and the file's metadata lists them)."""
    from neurosim.api import compile_graph, replay_graph
    from neurosim.cards import load_card
    from neurosim.hardware import load_profile
    from neurosim.schemes import Request, traffic_source
    from neurosim.snn.graph import to_graph

    path = tmp_path / "tiny.nir"
    res = cli("compile", "--model", "spikellm-tiny", "--nir", str(path), "--json")
    assert res.code == 0, res.err
    assert "not in NIR" in res.err and "4 attention blocks" in res.err
    assert "39 dense-unit ops" in res.err
    assert nir.read(path).metadata["neurosim"]["kv_blocks"] == "L0.qk, L0.pv, L1.qk, L1.pv"

    card = load_card("spikellm-tiny")
    graph = compile_graph(card)
    back = to_graph(read_nir(path), weight_bits=8)
    weights = [b for b in graph.blocks if b.kind == "weights"]
    assert sorted(b.name for b in back.blocks) == sorted(b.name for b in weights)
    for b in back.blocks:
        a = graph[b.name]
        assert (b.source, b.c_in, b.c_out, b.weight_bits, b.layer, b.site, b.targets) == (
            a.source, a.c_in, a.c_out, a.weight_bits, a.layer, a.site, a.targets)
        assert np.array_equal(b.column_fanout(), a.column_fanout())
    assert all(graph[g.name] == g for g in back.groups)

    prof, tokens = load_profile("loihi2"), 3
    source = traffic_source(Request(card, graph, None, 0, tokens - 1, None), None)
    mine = replay_graph(graph, prof, source, tokens=tokens, context=card.architecture.max_context)
    theirs = replay_graph(back, prof, _ByGroup(source, graph, back), tokens=tokens,
                          context=card.architecture.max_context)
    col = {b.name: i for i, b in enumerate(graph.blocks)}
    for i, b in enumerate(back.blocks):
        for counter in ("events", "synops", "synops_graded", "updates_active"):
            assert np.array_equal(theirs[counter][:, i], mine[counter][:, col[b.name]]), (
                b.name, counter)
        assert mine["synops"][:, col[b.name]].sum() > 0


@pytest.mark.parametrize("case", ["ff-64-128-10", "recurrent-64-128r-10", "ff-64-1500-10"])
def test_loihi_fixed_point_net_spikes_as_the_float_simulation(case):
    """On the 1/64 grid without leak, Loihi's fixed point (the Net every backend runs, Lava
    included) gives the float simulation's spikes under the one-step synaptic delay."""
    from neurosim.backends import get_backend
    from neurosim.backends.snn_net import loihi_net
    from neurosim.snn.crosscheck import CASES, DT_S, network
    from neurosim.snn.simulate import bernoulli_input

    net = network(*CASES[case])
    x = bernoulli_input(net.inputs, 60, 0.1, 2)
    ref = Simulator(net).run(x, DT_S, synaptic_delay=True)
    got = get_backend("numba").run_net(loihi_net(net, x, DT_S))
    for p in net.order:
        assert ref.spikes[p].sum() > 0
        assert np.array_equal(got.spikes[p].astype(np.uint8), ref.spikes[p]), p
    for j in net.projections:  # both count every step's spikes, the last step's too
        assert got.synops[j.name] == int(ref.synops[j.name].sum()), j.name
