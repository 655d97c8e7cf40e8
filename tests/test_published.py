"""Published operation counts, reproduced from the lowered graphs (each with its source)."""

from __future__ import annotations

import pytest

from neurosim.cards import load_card
from neurosim.graph.lower import lower


def _linear_macs(graph, prefix: str = "") -> int:
    return sum(op.count(0)["mac"] for op in graph.dense_ops
               if op.kind == "linear" and op.name.startswith(prefix))


def test_spikegpt_216m_matmul_macs_per_token():
    """SpikeGPT-216M: 176.6M matmul MACs per token = 138.0M in the 18 blocks (13 d² each:
    TimeMix k, v, r, output 4 d²; ChannelMix key d->4d, value 4d->d, receptance d²) + 38.6M
    in the head (d x 50277).  Source: seed-methods §2.4 (ridgerchu/SpikeGPT run.py shapes; a
    third-party count gives the same 176.6M)."""
    g = lower(load_card("spikegpt-216m"))
    blocks = _linear_macs(g)
    head = next(op for op in g.dense_ops if op.kind == "lm_head").count(0)["mac"]
    assert blocks == 18 * 13 * 768**2 == 138_018_816
    assert head == 768 * 50277 == 38_612_736
    assert round(blocks / 1e6, 1) == 138.0 and round(head / 1e6, 1) == 38.6
    assert g.dense_equivalent_macs(0) == blocks + head
    assert round(g.dense_equivalent_macs(0) / 1e6, 1) == 176.6
    # the spikes are the residual writes: 2 LIF groups of d per block, one synapse each
    assert [grp.size for grp in g.groups] == [768] * 36
    assert all(b.identity and b.nonzero_weights == 768 for b in g.blocks)


@pytest.mark.parametrize("name", ["spikegpt-46m"])
def test_spikegpt_other_sizes_lower(name):
    card = load_card(name)
    a = card.architecture
    g = lower(card)
    assert g.dense_equivalent_macs(0) == a.layers * (4 * a.d_model**2 + 2 * a.d_model * a.d_ffn
                                                    + a.d_model**2) + a.d_model * a.vocab
