"""EventGraph: lowering counts and dict/file round trips."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.cards import load_card
from neurosim.graph.ir import EventGraph, NeuronGroup, SynapseBlock
from neurosim.graph.lower import lower


@pytest.mark.parametrize("name", ["spikellm-7b", "smollm2-135m-spikellm", "llama-7b"])
def test_graph_round_trips_through_dict_and_file(name, tmp_path):
    graph = lower(load_card(name))
    assert EventGraph.from_dict(graph.to_dict()) == graph
    f = tmp_path / "g.json"
    graph.save(f)
    assert EventGraph.load(f) == graph


def test_real_fanout_round_trips(tmp_path):
    g = NeuronGroup("g", 0, "x", "gif", 3, 1, 0, 4)
    b = SynapseBlock("b", 0, "x", "g", 3, 5, 4, fanout=np.array([5, 0, 2]))
    graph = EventGraph("m", "llama", [g], [b], [], [["g", "b"]], [("g", "b")])
    graph.save(tmp_path / "g.json")
    again = EventGraph.load(tmp_path / "g.json")
    assert again == graph and again.blocks[0].nonzero_weights == 7


def test_llama_7b_dense_equivalent_macs():
    # 32 layers x (4 d^2 + 3 d f) + lm_head d V + attention 2 d (p+1) per layer:
    # at p = 0: 32 * (4*4096^2 + 3*4096*11008) + 4096*32000 + 32 * 2 * 4096
    d, f, V = 4096, 11008, 32000
    expected = 32 * (4 * d * d + 3 * d * f) + d * V + 32 * 2 * d
    assert lower(load_card("spikellm-7b")).dense_equivalent_macs(0) == expected
    assert lower(load_card("llama-7b")).dense_equivalent_macs(0) == expected


def test_spikellm_sites_per_layer():
    graph = lower(load_card("spikellm-70b"))
    sites = sorted({b.site for b in graph.blocks})
    assert sites == ["down_proj", "gate_proj", "k_proj", "o_proj", "pv", "q_proj", "qk",
                     "up_proj", "v_proj"]
    assert len(graph.blocks) == 80 * 9
    qk = graph["L0.qk"]
    assert (qk.c_in, qk.c_out, qk.fanout_per_event, qk.kv_heads) == (1024, 64, 8, 8)
