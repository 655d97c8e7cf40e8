"""Backend registry, the Net semantics in closed form, numba kernels against the slow
reference, refusals, and the hang guard around Lava runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from net_reference import simulate as reference

from neurosim.backends import BACKENDS, get_backend, installed_backends
from neurosim.backends.lava_net import HOW_TO_GET, run_isolated
from neurosim.backends.net import Connection, Net, Population, differences
from neurosim.backends.numba_net import simulate
from neurosim.errors import BackendError, InputError, NotFoundError
from neurosim.traffic.gif import gif_steps

LAVA_HERE = BACKENDS["lava"].unavailable() is None


def one_neuron(model: str, params: dict, x: list[int], weight: int | None = None) -> Net:
    """A source feeding one neuron: directly (drive) or through one synapse of ``weight``."""
    pops = [Population("in", "source", 1)]
    if weight is None:
        pops.append(Population("n", model, 1, params, drive="in"))
        conns = []
    else:
        pops.append(Population("n", model, 1, params))
        conns = [Connection("in->n", "in", "n", np.array([[weight]], np.int32))]
    return Net(pops, conns, {"in": np.array(x, np.int32)[:, None]}, len(x))


# --- closed forms, counted by hand ------------------------------------------------------


def test_gif_emits_clipped_steps_and_clears_each_token():
    # q = 31 with level 15 and 2 steps: 15, 15 (saturated, residual 1 dropped); q = 7: 7, 0
    net = one_neuron("gif", {"level": 15, "period": 2}, [31, 0, 7, 0])
    out = simulate(net).spikes["n"][:, 0].tolist()
    assert out == [15, 15, 7, 0]
    assert out[:2] == gif_steps(np.array([31], np.uint8), 4, 2)[:, 0].tolist()


def test_lif_spikes_every_second_step_under_constant_drive():
    # weight 3 -> u = 3<<6 = 192 from step 1 (one step of synaptic delay); dv = 2048 halves
    # v: v = 192, 96 + 192 = 288 > 4<<6 = 256 -> spike and reset; so steps 2, 4, 6, 8 spike
    net = one_neuron("lif", {"du": 4095, "dv": 2048, "vth": 4, "bias": 0}, [1] * 10, weight=3)
    res = simulate(net)
    assert np.flatnonzero(res.spikes["n"][:, 0]).tolist() == [2, 4, 6, 8]
    assert res.synops == {"in->n": 10}  # every input spike reaches the synapse


def test_lif_current_wraps_at_24_bits():
    # x << 6 = 2^23 stays (v saturates at 2^23 - 1 > 0: spike); 2^23 + 64 wraps to
    # -2^23 + 64, so v is negative and the neuron stays silent
    net = one_neuron("lif", {"du": 4095, "dv": 4095, "vth": 0, "bias": 0}, [2**17, 2**17 + 1])
    assert simulate(net).spikes["n"][:, 0].tolist() == [1, 0]


def test_bispike_carry_is_asymmetric():
    # alpha 4, x = +1 each step: m = 1, 2, 3 (fires +1: 2m > 4), then the carry after a +1 is
    # 0, so m = 1.  x = -1: m = -1, -2, -3 (fires -1), then the carry after a -1 is
    # (-3·8) >> 2 = -6, so m = -7 fires again: the literal rule is not symmetric.
    up = simulate(one_neuron("bispike", {"alpha": 4, "period": 4}, [1] * 4)).spikes["n"][:, 0]
    down = simulate(one_neuron("bispike", {"alpha": 4, "period": 4}, [-1] * 4)).spikes["n"][:, 0]
    assert up.tolist() == [0, 0, 1, 0]
    assert down.tolist() == [0, 0, -1, -1]


def test_accumulator_sums_weighted_graded_spikes_exactly():
    pops = [Population("in", "source", 3), Population("acc", "accumulator", 2)]
    w = np.array([[1, -2, 0], [3, 0, 5]], np.int32)
    x = np.array([[2, 0, 1], [0, 4, 0], [0, 0, 0]], np.int32)
    res = simulate(Net(pops, [Connection("c", "in", "acc", w)], {"in": x}, 3))
    assert res.state["acc"].tolist() == (w @ x.sum(axis=0)).tolist()  # [2-8, 6+5]
    # synops: step 0 spikes in columns 0 (2 nonzeros) and 2 (1); step 1 column 1 (1)
    assert res.synops == {"c": 4}


# --- numba == reference on random nets -----------------------------------------------------


@st.composite
def random_nets(draw):
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    steps = draw(st.integers(1, 12))
    n_src = draw(st.integers(1, 6))
    pops = [Population("src", "source", n_src)]
    hi = draw(st.sampled_from([1, 4, 30]))  # small inputs land on thresholds exactly
    inputs = {"src": rng.integers(-hi, hi + 1, (steps, n_src)).astype(np.int32)}
    models = draw(st.lists(st.sampled_from(["gif", "lif", "bispike", "accumulator"]),
                           min_size=1, max_size=3))
    conns = []
    for k, model in enumerate(models):
        size = draw(st.integers(1, 6))
        params = {"gif": {"level": int(rng.integers(1, 16)), "period": int(rng.integers(1, 4))},
                  # Loihi-typical corners (no current memory, halving, no leak, no bias) make
                  # v land exactly on the threshold often, so > and >= are told apart
                  "lif": {"du": int(rng.choice([4095, rng.integers(0, 4096)])),
                          "dv": int(rng.choice([0, 2048, 4095, rng.integers(0, 4096)])),
                          "vth": int(rng.integers(0, 12)),
                          "bias": int(rng.choice([0, rng.integers(-50, 50)]))},
                  "bispike": {"alpha": int(rng.integers(1, 20)), "period": int(rng.integers(1, 5))},
                  "accumulator": {}}[model]
        name = f"p{k}"
        drive = None
        if size == n_src and rng.random() < 0.5:
            drive = "src"
        pops.append(Population(name, model, size, params, drive=drive))
        for pre in pops[:-1]:
            if pre.model != "accumulator" and rng.random() < 0.7:
                w = rng.integers(-hi, hi + 1, (size, pre.size))
                w[rng.random(w.shape) < 0.3] = 0
                conns.append(Connection(f"{pre.name}->{name}", pre.name, name, w.astype(np.int32)))
    return Net(pops, conns, inputs, steps, f"random-{seed}")


@settings(max_examples=150, deadline=None)
@given(random_nets())
def test_numba_backend_equals_reference(net):
    assert differences(reference(net), simulate(net)) == []


# --- registry, refusals, errors ----------------------------------------------------------


def test_registry_lists_numba_and_lava():
    assert list(BACKENDS) == ["numba", "lava"]
    assert "numba" in installed_backends()
    with pytest.raises(NotFoundError, match="one of numba, lava"):
        get_backend("loihi")


def test_unknown_backend_on_the_cli_lists_choices(cli):
    r = cli("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--backend", "nest")
    assert r.code == 2 and "one of numba, lava" in r.err and len(r.err.strip().splitlines()) == 1


@pytest.mark.skipif(LAVA_HERE, reason="lava is installed here")
def test_lava_missing_says_how_to_get_it(cli, monkeypatch):
    monkeypatch.delenv("NEUROSIM_LAVA_PYTHON", raising=False)
    r = cli("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--backend", "lava")
    assert r.code == 2
    assert r.err.strip() == f"neurosim: error: {HOW_TO_GET}"


def test_lava_refuses_what_loihi_synapses_cannot_hold():
    caps = BACKENDS["lava"].capabilities
    pops = [Population("in", "source", 2), Population("acc", "accumulator", 1)]
    x = {"in": np.ones((2, 2), np.int32)}
    mixed = Net(pops, [Connection("c", "in", "acc", np.array([[-3, 200]], np.int32))], x, 2)
    assert "connection c has weights -3..200" in caps.refusal(mixed)
    positive = Net(pops, [Connection("c", "in", "acc", np.array([[3, 200]], np.int32))], x, 2)
    assert caps.refusal(positive) is None
    apart = Net([*pops, Population("in2", "source", 1), Population("acc2", "accumulator", 1)],
                [Connection("c", "in", "acc", np.ones((1, 2), np.int32)),
                 Connection("d", "in2", "acc2", np.ones((1, 1), np.int32))],
                {**x, "in2": np.ones((2, 1), np.int32)}, 2)
    assert "2 unconnected parts" in caps.refusal(apart)
    assert BACKENDS["numba"].capabilities.refusal(apart) is None


def test_lava_refuses_shipped_cards_larger_than_its_limits(cli, monkeypatch):
    if not LAVA_HERE:
        monkeypatch.setenv("NEUROSIM_LAVA_PYTHON", sys.executable)  # pretend, to reach the check
    r = cli("run", "--model", "spikellm-7b", "--profile", "loihi2", "--backend", "lava")
    assert r.code == 2
    assert "accepts at most 50,000" in r.err and "use --backend numba" in r.err


def test_bad_nets_are_refused_with_the_part_named():
    src = Population("in", "source", 2)
    with pytest.raises(InputError, match="populations.n.params"):
        Net([src, Population("n", "gif", 2, {"level": 15})], [], {"in": np.zeros((1, 2), np.int32)}, 1)
    with pytest.raises(InputError, match=r"connections.c.weights: wrong shape"):
        Net([src, Population("n", "accumulator", 3)],
            [Connection("c", "in", "n", np.zeros((2, 2), np.int32))],
            {"in": np.zeros((1, 2), np.int32)}, 1)
    with pytest.raises(InputError, match="inputs.in"):
        Net([src], [], {}, 1)


def test_net_round_trips_through_npz(tmp_path):
    from neurosim.backends.conformance import lif_two_layer

    net = lif_two_layer(steps=20)
    net.save(tmp_path / "n.npz")
    back = Net.load(tmp_path / "n.npz")
    assert differences(simulate(net), simulate(back)) == []


# --- the hang guard ------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has already exited


def test_a_hung_child_and_its_children_are_stopped(tmp_path):
    pidfile = tmp_path / "pid"
    code = ("import subprocess, time; p = subprocess.Popen(['sleep', '120']); "
            f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(120)")
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="did not finish within 1 s"):
        run_isolated([sys.executable, "-c", code], 1.0, "test run")
    assert time.monotonic() - t0 < 15
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_a_failing_child_reports_its_last_line():
    with pytest.raises(BackendError, match="test run failed: ValueError: boom"):
        run_isolated([sys.executable, "-c", "raise ValueError('boom')"], 30, "test run")


def test_cli_backends_lists_both(cli):
    r = cli("backends", "--json")
    rows = {row["name"]: row for row in r.json()}
    assert r.code == 0 and set(rows) == {"numba", "lava"}
    assert rows["numba"]["available"] is True
    assert rows["lava"]["capabilities"]["max_synapses"] == 4_000_000
    assert (rows["lava"]["unavailable"] is None) == LAVA_HERE


def test_lava_weight_encoding_is_exact_on_8_bit_synapses():
    # the worker module imports without lava (its Lava imports are inside run());
    # mixed signs are stored doubled with weight_exp -1, one sign as it is
    import neurosim.backends._lava_worker as w

    assert w.lava_weights(np.array([[-3, 5]]))[1] == -1
    assert w.lava_weights(np.array([[3, 255]]))[1] == 0
    with pytest.raises(ValueError):
        w.lava_weights(np.array([[-300, 5]]))
