"""Closed-form counters, energies and times on graphs small enough to count by hand.

Test profile (tests/engine_helpers.py), pJ and ns: synop 1 (graded 2), neuron update 10
(inactive 5), spike out 3, message in 7, hop 11, link 0.5 pJ/bit x 32-bit messages;
latencies: event 1, synop 2, update 4 (inactive 3), spike out 5, hop 6, link 50; on-chip
barrier 100 ns; core SRAM read 0.25 / write 0.5 pJ/bit; DRAM 20 pJ/bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_helpers import codes, make_profile, one_layer
from engine_helpers import replay as _replay

from neurosim.cards import load_card
from neurosim.graph.lower import lower
from neurosim.mapping import map_graph
from neurosim.replay.engine import Replayer
from neurosim.replay.plan import build_plan

PJ, NS = 1e-12, 1e-9


class _Token:
    """The one token's per-block counters, summed by ``.sum()`` as the tests read them."""

    def __init__(self, c):
        self.c = c

    def __getattr__(self, name):
        key = {"crossings": "crossings"}.get(name, name)
        return self.c[key][0]


class _Priced(dict):
    """Priced columns as {"energy_j": {component: J}, "spiking_s": s}."""

    def __init__(self, cols):
        super().__init__(cols)
        self["energy_j"] = {k.split(":", 1)[1]: v for k, v in cols.items()
                            if k.startswith("energy_j:")}
        self["spiking_s"] = cols["latency_s:spiking"]


def replay(graph, profile, token_codes, position=0):
    mapping = map_graph(graph, profile, context=16)
    c, cols = _replay(graph, profile, token_codes, position)
    return mapping, _Token(c), _Priced(cols)


def test_gif_layer_4_to_3():
    # Codes [0, 3, 0, 15] in one step on a 4 -> 3 layer with dense 4-bit weights, one core.
    # events = 2 nonzero codes; synops = 2 x 3 = 6, graded (4-bit codes, 8-bit payload);
    # time-driven updates: 3 neurons x 1 step, all received input -> 3 active, 0 inactive;
    # unicast: 1 message per event, 0 hops (destination = source core).
    p = make_profile()
    m, tc, c = replay(one_layer(4, 3), p, codes([0, 3, 0, 15]))
    assert m.cores_used == 1 and m.chips == 1
    assert tc.events.sum() == 2
    assert tc.synops.sum() == 6 and tc.synops_graded.sum() == 6
    assert tc.updates_active.sum() == 3 and tc.updates_inactive.sum() == 0
    assert tc.messages.sum() == 2 and tc.hops.sum() == 0 and tc.crossings.sum() == 0
    e = c["energy_j"]
    assert e["synapses"] == pytest.approx(6 * 2.0 * PJ)            # graded synops
    assert e["neurons"] == pytest.approx(3 * 10.0 * PJ)
    assert e["spikes"] == pytest.approx(2 * 3.0 * PJ)
    assert e["noc"] == pytest.approx(2 * 7.0 * PJ)
    # memory: 6 synops x 4 weight bits read; 3 updates x 8 state bits read and written
    assert e["memory:sram"] == pytest.approx((6 * 4 * 0.25 + 3 * 8 * (0.25 + 0.5)) * PJ)
    # time of the one step: core busy = 2 events x 1 + 6 synops x 2 + 3 updates x 4
    # + 2 spikes out x 5 = 36 ns; path 0; barrier 100 ns -> 136 ns of spiking time
    assert c["spiking_s"] == pytest.approx(136 * NS)
    # transfer: 3 partial sums x 16 bits at the dense unit's transfer energy
    assert e["transfer"] == pytest.approx(
        3 * 16 * float(p.dense_unit.transfer_energy_pj_per_bit) * PJ)


def test_salient_channel_takes_two_steps():
    # Channel 0 is salient: steps [15, 7]; others one step [2, 0, 1]. Two steps per token.
    # events = 3 (step 1) + 1 (step 2) = 4; synops = 4 x 3 = 12.
    # time-driven: 3 neurons x 2 steps = 6 updates, all received input (each step had an event).
    p = make_profile()
    _, tc, c = replay(one_layer(4, 3, steps=2, salient=1),
                      p, codes([15, 2, 0, 1], [7, 0, 0, 0]))
    assert tc.events.sum() == 4 and tc.synops.sum() == 12
    assert tc.updates_active.sum() == 6 and tc.updates_inactive.sum() == 0
    # step 1: 3 ev + 9 syn x 2 + 3 upd x 4 + 3 spikes x 5 = 48; step 2: 1 + 6 + 12 + 5 = 24;
    # plus a 100 ns barrier per step
    assert c["spiking_s"] == pytest.approx((48 + 24 + 200) * NS)


def test_time_driven_vs_event_driven_updates():
    # Two steps, the second has no events: time-driven updates every neuron in both steps
    # (3 active + 3 inactive); event-driven updates only the 3 that received input.
    cs = codes([1, 0, 0, 2], [0, 0, 0, 0])
    graph = one_layer(4, 3, steps=2, salient=1)
    _, td, ctd = replay(graph, make_profile(update="time_driven"), cs)
    _, ed, ced = replay(graph, make_profile(update="event_driven"), cs)
    assert (td.updates_active.sum(), td.updates_inactive.sum()) == (3, 3)
    assert (ed.updates_active.sum(), ed.updates_inactive.sum()) == (3, 0)
    assert ctd["energy_j"]["neurons"] == pytest.approx((3 * 10 + 3 * 5) * PJ)
    assert ced["energy_j"]["neurons"] == pytest.approx(3 * 10 * PJ)


def test_block_split_over_two_chips():
    # One core per chip with 2 neurons: a 4 -> 4 block becomes 2 row tiles (2 targets each)
    # on chips 0 and 1 (chip grid 2 x 1). Each event goes to both tiles: unicast, 2 messages;
    # the remote tile is 1 hop and 1 chip crossing away.
    p = make_profile(neurons=2, cores=1, mesh=(1, 1))
    m, tc, c = replay(one_layer(4, 4), p, codes([1, 1, 0, 1]))
    assert (m.chips, m.cores_used, m.chip_grid) == (2, 2, (2, 1))
    ev = 3
    assert tc.events.sum() == ev and tc.synops.sum() == ev * 4
    assert tc.messages.sum() == 2 * ev and tc.hops.sum() == ev and tc.crossings.sum() == ev
    assert c["energy_j"]["links"] == pytest.approx(ev * 32 * 0.5 * PJ)
    assert c["energy_j"]["noc"] == pytest.approx((2 * ev * 7.0 + ev * 11.0) * PJ)
    # a multicast network sends one message per destination chip: also 2 per event here
    _, mc, _ = replay(one_layer(4, 4), make_profile(neurons=2, cores=1, mesh=(1, 1),
                                                   routing="multicast"), codes([1, 1, 0, 1]))
    assert mc.messages.sum() == 2 * ev


def test_block_spilled_to_dram():
    # One chip of one core with 1 KiB: 64 x 64 x 4-bit weights (2 KiB) do not fit, so the
    # block is spilled: its weights live in DRAM and every synop reads 4 bits from there.
    p = make_profile(mem_kib=1.0, cores=1, mesh=(1, 1), chips=1, max_chips=1)
    graph = one_layer(64, 64)
    cs = np.zeros((1, 64), np.int8)
    cs[0, :10] = 1
    m, tc, c = replay(graph, p, cs)
    assert m.blocks["L0.x"].weight_level == 1
    assert m.weight_bytes_by_level == {"dram": 64 * 64 * 4 / 8}
    assert tc.synops.sum() == 10 * 64
    assert c["energy_j"]["memory:dram"] == pytest.approx(10 * 64 * 4 * 20.0 * PJ)


def test_gqa_attention_at_position_p():
    # A 1-layer GQA decoder (d 16, 4 heads, 2 KV heads, head_dim 4, d_kv 8). At position p
    # the qk block sees the K codes of p+1 positions; every nonzero code fans out to the
    # 4/2 = 2 query heads sharing its KV head. With all codes 1 (no salient channels):
    # events = (p+1) x 8 and synops = 2 x events; dense-equivalent QK MACs = d x (p+1).
    from neurosim.cards.schema import LlamaCard

    card = load_card("spikellm-7b")
    arch = card.architecture.model_copy(update=dict(layers=1, d_model=16, heads=4, kv_heads=2,
                                                    d_ffn=32, vocab=10))
    spk = card.spiking.model_copy(update={"salient_fraction": 0.0})
    card = LlamaCard.model_validate({**card.model_dump(), "architecture": arch.model_dump(),
                                     "spiking": spk.model_dump()})
    graph = lower(card)
    plan = build_plan(graph, None, 32)
    r = Replayer(plan, time_driven=False)
    ones = np.ones((1, len(plan.chan_chunk)), np.int8)
    names = [b.name for b in graph.blocks]
    qk, pv = names.index("L0.qk"), names.index("L0.pv")
    for p in range(5):
        tc = r.token(ones, p)
        assert tc.events[qk] == (p + 1) * 8 and tc.synops[qk] == 2 * (p + 1) * 8
        assert tc.events[pv] == (p + 1) * 8 and tc.synops[pv] == 2 * (p + 1) * 8
    macs = {p: graph.dense_equivalent_macs(p) for p in (0, 4)}
    assert macs[4] - macs[0] == 4 * (16 + 16)  # QK and PV each add d MACs per position


def test_spikellm_overhead_when_every_code_is_nonzero():
    # p = 1 salient channel of 10 with 2^a = 2 steps, all codes nonzero:
    # synops / dense-equivalent = ((1 - p) + p * 2^a) = 0.9 + 0.2 = 1.1 exactly.
    graph = one_layer(10, 7, steps=2, salient=1)
    cs = np.zeros((2, 10), np.int8)
    cs[0, :] = 3
    cs[1, 0] = 5
    plan = build_plan(graph, None, 32)
    tc = Replayer(plan, time_driven=False).token(cs, 0)
    p, a = 0.1, 1
    assert tc.synops.sum() / (10 * 7) == pytest.approx((1 - p) + p * 2**a, abs=0)
    assert tc.synops.sum() == 77


def test_binary_only_cores_send_codes_as_unary_spikes():
    # Payload 0 bits: a 4-bit code q travels as q binary spikes: [0, 3, 0, 15] -> 18 events,
    # 18 x 3 binary (AC) synops.
    p = make_profile(payload=0)
    _, tc, c = replay(one_layer(4, 3), p, codes([0, 3, 0, 15]))
    assert tc.events.sum() == 18 and tc.synops.sum() == 54 and tc.synops_graded.sum() == 0
    assert c["energy_j"]["synapses"] == pytest.approx(54 * 1.0 * PJ)


def test_profile_that_cannot_hold_one_neuron(cli, tmp_path):
    import yaml
    from engine_helpers import BASE

    d = yaml.safe_load(yaml.safe_dump(BASE))
    d["memory"][0]["capacity_kib"] = {"value": 0.001, "assumed": "too small"}
    f = tmp_path / "tiny.yaml"
    f.write_text(yaml.safe_dump(d))
    out = tmp_path / "out"
    result = cli("run", "--model", "spikellm-7b", "--profile", str(f), "--out", str(out))
    assert result.code == 2
    assert "cannot hold even one neuron" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not out.exists()


def test_layer_pipelining_reports_the_slowest_stage():
    # With pipelining a token enters every max(stage time): tokens/s = 1 / bottleneck;
    # latency per token is the same with and without.
    import copy

    import neurosim
    from neurosim.hardware import load_profile
    from neurosim.hardware.schema import NeuromorphicProfile

    base = load_profile("loihi2")
    data = copy.deepcopy(base.model_dump(exclude_none=True))
    data["execution"] = {"layer_pipelining": True}
    piped = NeuromorphicProfile.model_validate(data)
    a = neurosim.run("smollm2-135m-spikellm", base, tokens=2, traffic="synthetic")
    b = neurosim.run("smollm2-135m-spikellm", piped, tokens=2, traffic="synthetic")
    assert a.summary()["tokens_per_s_pipelined"] is None
    sb = b.summary()
    assert sb["per_token"]["latency_s"] == pytest.approx(a.summary()["per_token"]["latency_s"])
    assert sb["tokens_per_s_pipelined"] == pytest.approx(1 / b.tokens["bottleneck_s"].mean())
    assert sb["tokens_per_s_pipelined"] > sb["tokens_per_s"]


def test_position_replays_the_earlier_kv_codes():
    # a token at position p attends the K and V codes of positions 0..p: starting at
    # --position 3 must count what replaying positions 0..3 counts for the last token
    from neurosim.api import run

    late = run("spikellm-7b", "generic-45nm", tokens=1, position=3).sites
    full = run("spikellm-7b", "generic-45nm", tokens=4, position=0).sites
    last = full[full.token == 3].drop(columns="token").reset_index(drop=True)
    pd.testing.assert_frame_equal(late.drop(columns="token").reset_index(drop=True), last)
    first = full[full.token == 0]
    assert last[last.site == "qk"].events.sum() > 3 * first[first.site == "qk"].events.sum()
