"""The conformance suite: every installed backend produces the same spikes per neuron, spike
values, synops and accumulated sums as the slow reference and as numba.

The Lava variants carry the ``lava`` mark: ``make test`` runs them in ``.venv-lava`` (a
Python 3.10 with lava-nc); in an environment without Lava they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from net_reference import simulate as reference

from neurosim.backends import BACKENDS, get_backend
from neurosim.backends.conformance import DEFAULT_SLICE, cases, run_suite, spikellm_slice
from neurosim.backends.net import differences
from neurosim.errors import BackendError
from neurosim.traffic.gif import gif_steps

LAVA_WHY = BACKENDS["lava"].unavailable()
BACKEND_PARAMS = [
    "numba",
    pytest.param("lava", marks=[pytest.mark.lava,
                                pytest.mark.skipif(LAVA_WHY is not None, reason=str(LAVA_WHY))]),
]
CASES = cases(seed=0)


@pytest.fixture(scope="module")
def numba_results():
    return {name: get_backend("numba").run_net(net) for name, net in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_backend_conforms(backend, case, numba_results):
    net = CASES[case]
    got = get_backend(backend).run_net(net, timeout_s=240)
    assert got.backend == backend
    assert differences(numba_results[case], got) == []
    assert differences(reference(net), got) == []
    assert sum(int(np.count_nonzero(s)) for s in got.spikes.values()) > 0  # not vacuous
    assert all(v > 0 for v in got.synops.values())


def test_cases_are_busy_enough_to_mean_something(numba_results):
    res = numba_results
    lif = res["lif_two_layer"]
    for pop, size in (("hidden", 32), ("output", 16)):
        rate = lif.spike_counts(pop).sum() / (size * CASES["lif_two_layer"].steps)
        assert 0.05 < rate < 0.5, (pop, rate)
    tern = res["ternary_layer"].spikes["bispike"]
    assert (tern == 1).any() and (tern == -1).any() and (tern == 0).any()
    gif = res["gif_layer"].spikes["gif"]
    assert (gif == 15).any() and ((gif > 0) & (gif < 15)).any()


def test_spikellm_slice_is_the_gif_code_of_the_trace_and_the_integer_matmul(numba_results):
    """Closed forms: the GIF spikes are gif_steps of the recorded codes, the accumulated sum
    is W_int · min(q, S·M), synops are Σ spikes x column nonzeros."""
    with np.load(DEFAULT_SLICE, allow_pickle=False) as z:
        q, w, meta = z["codes"], z["weights"].astype(np.int64), json.loads(str(z["meta"]))
    res = numba_results["spikellm_slice"]
    period, level = meta["period"], meta["level"]
    spikes = res.spikes["gif"]
    for t in range(q.shape[0]):
        want = gif_steps(q[t], 4, period)
        assert np.array_equal(spikes[t * period:(t + 1) * period], want)
    capped = np.minimum(q.astype(np.int64), period * level).sum(axis=0)
    assert np.array_equal(res.state["out"], w @ capped)
    nnz = np.count_nonzero(w, axis=0)
    assert res.synops["gif->out"] == int(((spikes != 0) * nnz).sum())
    assert meta["group"] == "L14.down_proj.in" and q.shape == (32, 64) and w.shape == (48, 64)


def test_run_suite_rows(cli, numba_results):
    rows = run_suite("numba", names=["gif_layer"])
    assert rows[0]["differences"] == []
    assert rows[0]["synops"] == sum(numba_results["gif_layer"].synops.values())
    r = cli("conform", "--backend", "numba", "--case", "ternary_layer", "--json")
    assert r.code == 0 and r.json()[0]["case"] == "ternary_layer"


# --- Lava only ----------------------------------------------------------------------------


@pytest.mark.lava
@pytest.mark.skipif(LAVA_WHY is not None, reason=str(LAVA_WHY))
def test_whole_graph_run_on_lava_equals_numba():
    from neurosim.api import run

    a = run("spikellm-tiny", "loihi2", tokens=6, position=2, backend="numba")
    b = run("spikellm-tiny", "loihi2", tokens=6, position=2, backend="lava")
    assert b.provenance["traffic"]["spikes_from"] == "lava"
    assert a.tokens.equals(b.tokens) and a.sites.equals(b.sites)
    assert a.tokens["synops"].sum() > 0


def _worker_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if b"neurosim.backends._lava_worker" in cmd:
                pids.append(int(d.name))
    return pids


@pytest.mark.lava
@pytest.mark.skipif(LAVA_WHY is not None, reason=str(LAVA_WHY))
def test_a_lava_run_past_its_timeout_is_stopped_and_reported():
    net = spikellm_slice()
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="did not finish within 0.2 s"):
        get_backend("lava").run_net(net, timeout_s=0.2)
    assert time.monotonic() - t0 < 20
    deadline = time.monotonic() + 5
    while _worker_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _worker_pids() == []
    assert os.getpid() not in _worker_pids()
