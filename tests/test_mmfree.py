"""The MatMul-free LM family: its graph in closed form from the released configurations,
its absmax activation model against a slow reference, and runs on every kind of profile."""

from __future__ import annotations

import numpy as np
import pytest

import neurosim
from neurosim.api import dense_counterpart
from neurosim.cards import load_card
from neurosim.graph.lower import lower
from neurosim.traffic.absmax import AbsmaxTraffic

CARDS = ["matmulfree-370m", "matmulfree-1.3b", "matmulfree-2.7b"]


@pytest.mark.parametrize("name, layers, d, f", [("matmulfree-370m", 24, 1024, 2816),
                                                ("matmulfree-1.3b", 24, 2048, 5632),
                                                ("matmulfree-2.7b", 32, 2560, 6912)])
def test_graph_in_closed_form(name, layers, d, f):
    # released HGRNBitConfig: d_ffn = 256 ceil(int(8d/3) / 256); per layer BitLinears i, f,
    # g, o (d x d), gate+up (d -> 2f), down (f -> d); a ternary head d -> 32,000
    assert f == 256 * -(-int(d * 4 * 2 / 3) // 256)
    card = load_card(name)
    g = lower(card)
    assert g.kv_cache is None
    assert [grp.size for grp in g.groups] == [d, d, d, d, d, f] * layers + [d]
    assert all(grp.signed and grp.code_bits == 8 and grp.max_steps == 1 for grp in g.groups)
    assert sum(b.c_in * b.c_out for b in g.blocks) == layers * (4 * d * d + 3 * d * f) + d * 32000
    assert {b.weight_bits for b in g.blocks} == {2}
    kinds = {op.kind for op in g.dense_ops}
    assert "recurrence" in kinds and "lm_head" not in kinds and "softmax" not in kinds
    rec = [op for op in g.dense_ops if op.kind == "recurrence"]
    assert len(rec) == layers and all(op.ops == {"mul": d, "add": d} for op in rec)
    dense = lower(dense_counterpart(card))
    assert not dense.groups and dense.dense_equivalent_macs(0) == (
        layers * (4 * d * d + 3 * d * f) + d * 32000)


def test_parameters_of_the_released_sizes():
    # embedding, per layer 4d² + 3df ternary weights, 3 norms, the BitLinears' own norms
    # (4d + d + f) and the forget gate's lower bound d; final norm, head and its norm
    for name, want in (("matmulfree-370m", 374_108_160), ("matmulfree-1.3b", 1_364_779_008),
                       ("matmulfree-2.7b", 2_702_357_504)):
        assert load_card(name).parameters == want


@pytest.mark.parametrize("seed, position", [(0, 0), (3, 17)])
def test_absmax_codes_equal_a_slow_reference(seed, position):
    card = load_card("matmulfree-370m")
    g = lower(card)
    src = AbsmaxTraffic(g, 8, seed)
    got = src.codes(position)[0]
    z = np.random.default_rng([seed, 3, position]).standard_normal(got.size)
    lo = 0
    for grp in g.groups:
        zz = z[lo:lo + grp.size]
        m = max(abs(v) for v in zz)
        want = [int(round(127 * v / m)) for v in zz]
        assert got[lo:lo + grp.size].tolist() == want
        assert np.abs(got[lo:lo + grp.size]).max() == 127  # the absmax channel
        lo += grp.size


def test_run_on_loihi2_counts_ternary_synapses():
    r = neurosim.run("matmulfree-370m", "loihi2", tokens=2, baselines=("jetson-orin-nano",))
    c = r.counters
    g = lower(load_card("matmulfree-370m"))
    src = AbsmaxTraffic(g, 8, 0)
    codes = src.codes(0)[0]
    start = np.cumsum([0] + [grp.size for grp in g.groups])
    nonzero = {grp.name: int(np.count_nonzero(codes[start[i]:start[i + 1]]))
               for i, grp in enumerate(g.groups)}
    for bi, b in enumerate(g.blocks):  # graded: one event per nonzero code, c_out synapses each
        assert c["events"][0, bi] == nonzero[b.source]
        assert c["synops"][0, bi] == nonzero[b.source] * b.c_out
    assert r.mapping["dense_placement"]["recurrence"] == "neuro_cores"
    assert set(r.baselines["profile"]) == {"jetson-orin-nano", "jetson-orin-nano:roofline"}
    assert r.summary()["tokens_per_s"] > 0


@pytest.mark.parametrize("profile", ["truenorth", "generic-45nm", "jetson-orin-nano"])
def test_runs_on_other_kinds(profile):
    r = neurosim.run("matmulfree-370m", profile, tokens=1, baselines=())
    assert r.per_token()["energy_j"] > 0
