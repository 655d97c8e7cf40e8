"""Counters versus prices: re-pricing saved counters equals a fresh run; every profile field
the estimate reads has a closed form; fronts keep the critical path exact.

Test profile numbers are those of tests/engine_helpers.py (pJ, ns): latencies event 1,
synop 2, update 4 (inactive 3), spike out 5, hop 6, link 50; on-chip barrier 100 ns, system
barrier {1: 0, 2: 1000} ns; 32-bit messages; link 1 Gbit/s unless changed.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from engine_helpers import codes, fronts, make_profile, one_layer, replay
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim
from neurosim.errors import InputError
from neurosim.graph.ir import DenseOp, EventGraph
from neurosim.hardware import load_profile
from neurosim.hardware.schema import GpuProfile, NeuromorphicProfile
from neurosim.mapping import map_graph
from neurosim.mapping.place import MappingError, mapping_inputs
from neurosim.replay.counters import front_max

NS = 1e-9


def _variant(base, edit, name="variant"):
    d = copy.deepcopy(base.model_dump(exclude_none=True))
    d["name"] = name
    edit(d)
    return type(base).model_validate(d)


def _p2(d):
    """loihi2 with synop energy x2, static power x0.5, DRAM energy per bit x3."""
    d["core"]["synop_energy_pj"]["value"] *= 2
    d["chip"]["static_power_mw"]["value"] *= 0.5
    for lv in d["memory"]:
        if "dram" in lv["name"]:
            lv["read_energy_pj_per_bit"]["value"] *= 3
            lv["write_energy_pj_per_bit"]["value"] *= 3


def _assert_same(a, b, rel=1e-9):
    for frame in ("tokens", "sites", "baselines"):
        x, y = getattr(a, frame), getattr(b, frame)
        assert list(x.columns) == list(y.columns), frame
        for col in x.columns:
            if x[col].dtype.kind in "fi":
                np.testing.assert_allclose(x[col], y[col], rtol=rel, atol=0, err_msg=f"{frame}.{col}")
            else:
                assert (x[col] == y[col]).all(), f"{frame}.{col}"


@pytest.fixture(scope="module")
def loihi2():
    return load_profile("loihi2")


@pytest.fixture(scope="module")
def run7b(loihi2):
    return neurosim.run("spikellm-7b", loihi2, tokens=2)


def test_reprice_equals_a_fresh_run(run7b, loihi2):
    p2 = _variant(loihi2, _p2, "loihi2-p2")
    again = neurosim.reprice(run7b, p2)
    fresh = neurosim.run("spikellm-7b", p2, tokens=2)
    _assert_same(again, fresh)
    # and the prices did change what they price: same latency, half the static power
    assert again.tokens["latency_s"].iloc[0] == run7b.tokens["latency_s"].iloc[0]
    assert again.tokens["energy_j:static"].iloc[0] == pytest.approx(
        0.5 * run7b.tokens["energy_j:static"].iloc[0], rel=1e-12)


def test_reprice_of_changed_latencies_is_exact(run7b, loihi2):
    # per-action times move the critical core and chunk: the saved fronts must still give
    # the max of a fresh replay
    def slow(d):
        d["core"]["synop_latency_ns"]["value"] *= 3
        d["core"]["spike_out_latency_ns"]["value"] = 40.0
        d["chip"]["hop_latency_ns"]["value"] *= 5
        d["system"]["link"]["latency_ns"]["value"] *= 0.1
        d["core"]["synapse_lanes"]["value"] = 1

    p = _variant(loihi2, slow)
    _assert_same(neurosim.reprice(run7b, p), neurosim.run("spikellm-7b", p, tokens=2))


def _price_paths(profile):
    """Dotted paths of every numeric quantity of a neuromorphic profile that only prices."""
    mapping = {k for k in mapping_inputs(profile) if not k.startswith("memory.")}
    out = []

    def walk(node, path):
        if isinstance(node, dict) and "value" in node:
            if ".".join(map(str, path)) not in mapping and "capacity_kib" not in path:
                out.append(path)
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(profile.model_dump(exclude_none=True), ())
    return out


def _scaled(d, path):
    node = d
    for p in path:
        node = node[p]
    v = node["value"]
    if isinstance(v, dict):
        node["value"] = {k: x * 1.5 + 1 for k, x in v.items()}
    elif isinstance(v, bool) or not isinstance(v, int | float):
        raise AssertionError(path)
    else:
        node["value"] = type(v)(v * 2 + 1)


def test_prices_do_not_change_counters_and_reprice_exactly(loihi2):
    # Every number outside MAPPING_FIELDS (and the memory capacities) is a price: a run on
    # a profile with it changed counts the same and equals the re-priced base run.
    base = neurosim.run("spikellm-tiny", loihi2, tokens=2)
    paths = _price_paths(loihi2)
    assert ("core", "synop_energy_pj") in paths and ("core", "neurons") not in paths
    for path in paths:
        p = _variant(loihi2, lambda d, path=path: _scaled(d, path))
        fresh = neurosim.run("spikellm-tiny", p, tokens=2)
        for k, v in base.counters.arrays.items():
            assert np.array_equal(v, fresh.counters[k], equal_nan=True), (path, k)
        _assert_same(neurosim.reprice(base, p), fresh)


def test_reprice_refuses_a_profile_that_changes_the_mapping(run7b, loihi2):
    p = _variant(loihi2, lambda d: d["core"]["neurons"].update(value=4096))
    with pytest.raises(InputError, match=r"core\.neurons: changes the mapping"):
        neurosim.reprice(run7b, p)
    q = _variant(loihi2, lambda d: d["memory"][0]["capacity_kib"].update(value=96.0))
    with pytest.raises(InputError, match=r": memory: changes the mapping.*capacity_kib"):
        neurosim.reprice(run7b, q)
    with pytest.raises(InputError, match="cannot be priced on a gpu profile"):
        neurosim.reprice(run7b, load_profile("gpu-a100"))


def test_reprice_cli_json_is_the_run_json(cli, tmp_path):
    d, p2 = tmp_path / "run", tmp_path / "p2.yaml"
    data = copy.deepcopy(load_profile("loihi2").model_dump(exclude_none=True))
    _p2(data)
    data["name"] = "loihi2-p2"
    p2.write_text(yaml.safe_dump(data))
    assert cli("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--tokens", "3",
               "--out", str(d)).code == 0
    rep = cli("reprice", str(d), "--profile", str(p2), "--json", "--out", str(tmp_path / "r2"))
    fresh = cli("run", "--model", "spikellm-tiny", "--profile", str(p2), "--tokens", "3", "--json")
    assert rep.code == 0 and fresh.code == 0, rep.err + fresh.err
    a, b = rep.json(), fresh.json()
    assert set(a) == set(b)
    assert a["provenance"].pop("repriced_from")["profile"] == "loihi2"
    assert a["per_token"]["energy_j"] == pytest.approx(b["per_token"]["energy_j"], rel=1e-9)
    for k, v in b["energy_by_component_j"].items():
        assert a["energy_by_component_j"][k] == pytest.approx(v, rel=1e-9, abs=0), k
    # the re-priced run saved with --out re-prices again
    assert (tmp_path / "r2" / "counters.npz").is_file()


@pytest.mark.parametrize("damage", ["missing", "corrupt", "kind"])
def test_reprice_bad_input_one_line_exit_2_nothing_written(cli, tmp_path, damage):
    d = tmp_path / "run"
    assert cli("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--tokens", "1",
               "--out", str(d)).code == 0
    profile = "loihi2"
    if damage == "missing":
        (d / "counters.npz").unlink()
    elif damage == "corrupt":
        raw = bytearray((d / "counters.npz").read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (d / "counters.npz").write_bytes(bytes(raw))
    else:
        profile = "gpu-h100"
    out = tmp_path / "out"
    res = cli("reprice", str(d), "--profile", profile, "--out", str(out))
    assert res.code == 2
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert {"missing": "counters.npz: missing file", "corrupt": "SHA-256 mismatch",
            "kind": "cannot be priced on a gpu profile"}[damage] in res.err
    assert not out.exists()
    res = cli("reprice", str(tmp_path / "nowhere"), "--profile", "loihi2")
    assert res.code == 2 and "not a directory" in res.err


# --- fronts -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fronts_give_the_max_for_any_weights(data):
    # the max of w . x over all rows of a slice equals the max over its front, for any w >= 0
    steps_max = data.draw(st.integers(1, 3))
    sizes = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=4))
    d = data.draw(st.sampled_from([2, 5]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    vec = rng.integers(0, 4, (steps_max, sum(sizes), d)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    steps = rng.integers(1, steps_max + 1, len(sizes)).astype(np.int64)
    rows, count = fronts(vec, first, steps)
    for _ in range(5):
        w = rng.random(d) * rng.integers(0, 2, d)
        got = front_max(rows, count.ravel(), w).reshape(count.shape)
        for b in range(len(sizes)):
            for s in range(steps_max):
                want = 0.0 if s >= steps[b] else float((vec[s, first[b]:first[b + 1]] @ w).max())
                assert got[b, s] == pytest.approx(max(want, 0.0), rel=1e-12, abs=1e-12)


# --- fields the estimate and the mapper read: closed forms --------------------------------


def _with_dense(graph: EventGraph, adds: int) -> EventGraph:
    op = DenseOp("L0.after", 0, "residual", {"add": adds})
    return EventGraph(graph.model, graph.family, graph.groups, graph.blocks, [op],
                      [*graph.stages, [op.name]], graph.edges)


def _two_chips(**kw) -> NeuromorphicProfile:
    # one core of 2 neurons per chip: a 4 -> 4 block is 2 row tiles on chips 0 and 1
    return make_profile(neurons=2, cores=1, mesh=(1, 1), **kw)


def test_dense_units_scale_with_the_chips_that_host_them():
    # 1,000 adds on dense units of 0.1 GFLOP/s, 6 per chip (loihi2's dense_unit), 2 chips:
    # on-chip units: 1000 / (6 x 2 x 1e8) s; a host's 6 units in total: 1000 / (6 x 1e8) s
    graph = _with_dense(one_layer(4, 4), 1000)
    on_chip = _two_chips()
    host = _variant(on_chip, lambda d: d["dense_unit"].update(location="host"))
    c, chip_cols = replay(graph, on_chip, codes([1, 1, 0, 1]))
    _, host_cols = replay(graph, host, codes([1, 1, 0, 1]))
    assert c.meta["mapping"]["chips"] == 2
    assert chip_cols["latency_s:dense"] == pytest.approx(1000 / (6 * 2 * 1e8), rel=1e-12)
    assert host_cols["latency_s:dense"] == pytest.approx(1000 / (6 * 1e8), rel=1e-12)
    # transfer of 4 partial sums x 16 bits over 1 GB/s per chip (x 2) or once (host)
    assert chip_cols["latency_s:transfer"] == pytest.approx(4 * 16 / 8 / (2 * 1e9), rel=1e-12)
    assert host_cols["latency_s:transfer"] == pytest.approx(4 * 16 / 8 / 1e9, rel=1e-12)


def test_placed_ops_run_on_the_neuro_cores():
    # 1,000 adds of kind residual after a 4 -> 4 block on one core.  On the dense unit:
    # 1,000 x 0.9 pJ, 1000 / (6 x 1e8) s, and the block's 4 partial sums x 16 bits go to it.
    # On the neuro-cores (8 pJ, 2 ns per op, 24 bits of state read and written per op): no
    # dense-unit work, 1000 x 2 ns on the one core, no transfer (no merges, the next stage
    # is all placed), 1000 x 24 x (0.25 + 0.5) pJ more core-memory traffic.
    graph = _with_dense(one_layer(4, 4), 1000)
    unit = make_profile()
    cores = make_profile(placement=["residual"])
    c, on_unit = replay(graph, unit, codes([1, 1, 0, 1]))
    c2, on_cores = replay(graph, cores, codes([1, 1, 0, 1]))
    assert c.meta["mapping"]["cores"] == c2.meta["mapping"]["cores"] == 1
    assert on_unit["energy_j:dense"] == pytest.approx(1000 * 0.9e-12, rel=1e-12)
    assert on_unit["energy_j:programmable"] == 0.0
    assert on_unit["latency_s:dense"] == pytest.approx(1000 / 6e8, rel=1e-12)
    assert on_unit["energy_j:transfer"] > 0 and on_unit["latency_s:transfer"] > 0
    assert on_cores["energy_j:dense"] == 0.0
    assert on_cores["energy_j:programmable"] == pytest.approx(1000 * 8e-12, rel=1e-12)
    assert on_cores["latency_s:dense"] == pytest.approx(1000 * 2e-9, rel=1e-12)
    assert on_cores["energy_j:transfer"] == on_cores["latency_s:transfer"] == 0.0
    assert on_cores["energy_j:memory:sram"] - on_unit["energy_j:memory:sram"] == pytest.approx(
        1000 * 24 * 0.75e-12, rel=1e-9)
    for k in ("energy_j:synapses", "energy_j:neurons", "energy_j:noc", "latency_s:spiking"):
        assert on_cores[k] == on_unit[k]
    res = neurosim.run("spikellm-tiny", cores, tokens=1, baselines=())
    assert res.mapping["dense_placement"]["residual"] == "neuro_cores"
    assert res.mapping["dense_placement"]["softmax"] == "dense_unit"


def test_placement_is_a_price_and_reprices_exactly():
    # the counters do not depend on where the non-spiking ops run: a run on one placement
    # re-priced on the other equals a fresh run there
    unit = make_profile(max_chips=64)
    cores = make_profile(max_chips=64, placement=["norm", "residual", "dequantize",
                                                              "silu_gate"])
    a = neurosim.run("spikellm-tiny", unit, tokens=2, baselines=())
    fresh = neurosim.run("spikellm-tiny", cores, tokens=2, baselines=())
    again = neurosim.reprice(a, cores, baselines=())
    for col in fresh.tokens:
        assert again.tokens[col].to_numpy() == pytest.approx(fresh.tokens[col].to_numpy(),
                                                             rel=1e-12, abs=0), col
    assert fresh.tokens["energy_j:dense"].mean() < a.tokens["energy_j:dense"].mean()


def test_link_bandwidth_bounds_the_stage():
    # Codes [1, 1, 0, 1]: 3 events, each sent from chip 0 to the row tile on chip 1: 3 exits
    # over chip 0's one link (2 x 1 chip grid).  Step: sending core 3 x 1 + 6 x 2 + 2 x 4 +
    # 3 x 5 = 38 ns, the other 3 + 12 + 8 = 23; path 1 hop x 6 + 1 crossing x 50 = 56;
    # barrier 100 (one core per chip) + 1000 (two chips) -> 1194 ns.  Link bound: 3 x 32 bits
    # / 1 Gbit/s = 96 ns (not binding); at 1 Mbit/s 96 us (binding).
    c, fast = replay(one_layer(4, 4), _two_chips(), codes([1, 1, 0, 1]))
    assert int(c["exits"].sum()) == 3 and int(c["block_src_links"][0]) == 1
    assert fast["latency_s:spiking"] == pytest.approx(1194 * NS, rel=1e-12)
    # within it, the critical (only) block's NoC path (56 ns) and barrier (1,100 ns)
    assert fast["latency_s:spiking:noc"] == pytest.approx(56 * NS, rel=1e-12)
    assert fast["latency_s:spiking:barrier"] == pytest.approx(1100 * NS, rel=1e-12)
    slow = _variant(_two_chips(), lambda d: d["system"]["link"]["bandwidth_gbit_s"].update(value=1e-3))
    _, cols = replay(one_layer(4, 4), slow, codes([1, 1, 0, 1]))
    assert cols["latency_s:spiking"] == pytest.approx(3 * 32 / 1e6, rel=1e-12)
    # a link-bound stage hides its path and barrier
    assert cols["latency_s:spiking:noc"] == 0 and cols["latency_s:spiking:barrier"] == 0


def test_fan_out_limit_narrows_chunks_or_refuses():
    # 4 channels to 2 row tiles (2 neurons per core): 8 routing entries on the sending core.
    # max_fan_out 8: one chunk, 2 cores.  7: chunks of at most 7 // 2 = 3 channels, so 2
    # chunks (2 + 2 channels) x 2 rows = 4 cores, 4 entries each.  1: one channel to 2
    # cores needs 2 entries: refused.
    def fan(n):
        return _variant(_two_chips(), lambda d: d["core"]["max_fan_out"].update(value=n))

    assert map_graph(one_layer(4, 4), fan(8), 16).cores_used == 2
    m = map_graph(one_layer(4, 4), fan(7), 16)
    assert m.cores_used == 4 and list(m.blocks["L0.x"].col_bounds) == [0, 2, 4]
    with pytest.raises(MappingError, match=r"core\.max_fan_out: L0\.x: 1 channel\(s\) to 2 "
                                           r"destination cores need 2 routing entries"):
        map_graph(one_layer(4, 4), fan(1), 16)


def test_weights_wider_than_the_core_are_sliced():
    # 4-bit weights on cores that hold 2 bits: 2 slices per weight.  Code [1, 0, 0, 0] on a
    # 4 -> 3 block: 1 event x 3 targets x 2 slices = 6 synops, each reading 2 bits: the 12
    # bits of the 3 weights.  The literature accounting still counts 3 synops.
    p = _variant(make_profile(), lambda d: d["core"]["max_weight_bits"].update(value=2))
    c, cols = replay(one_layer(4, 3), p, codes([1, 0, 0, 0]))
    assert int(c["synops"].sum()) == 6 and int(c["acc_synops"].sum()) == 3
    assert int(c["block_weight_bits"][0]) == 2
    assert cols["memory_bytes:sram"] == pytest.approx((12 + 2 * 3 * 8) / 8)  # + state r/w
    assert c.meta["mapping"]["blocks_with_sliced_weights"] == 1


def test_gpu_power_cap():
    # A TDP just above idle power stretches the roofline's token: t = dynamic energy /
    # (TDP - idle), energy = dynamic + idle x t.  The dynamic energy comes from the uncapped
    # run.
    a100 = _variant(load_profile("gpu-a100"), lambda d: d["gpu"].pop("serving"), "roofline")
    free = neurosim.run("spikellm-tiny", a100, tokens=1).tokens.iloc[0]
    dyn = free["energy_j:compute"] + free["energy_j:memory:hbm"]
    idle = float(a100.gpu.idle_power_w)
    tdp = idle + dyn / (10 * free["latency_s"])
    capped = _variant(a100, lambda d: d["gpu"]["tdp_w"].update(value=tdp))
    assert isinstance(capped, GpuProfile)
    row = neurosim.run("spikellm-tiny", capped, tokens=1).tokens.iloc[0]
    assert row["latency_s"] == pytest.approx(10 * free["latency_s"], rel=1e-9)
    assert row["energy_j"] == pytest.approx(dyn + idle * 10 * free["latency_s"], rel=1e-9)
    with pytest.raises(ValueError, match="TDP must exceed the idle power"):
        _variant(a100, lambda d: d["gpu"]["tdp_w"].update(value=idle))
