"""GPUs as served and batches: step times and energies in closed form from the card's
dimensions, the roofline beside them, batches on GPUs and on pipelined neuromorphic systems."""

from __future__ import annotations

import copy
import math

import pytest

import neurosim
from neurosim.cards import load_card
from neurosim.errors import InputError
from neurosim.hardware import load_profile


def _variant(base, edit, name="variant"):
    d = copy.deepcopy(base.model_dump(exclude_none=True))
    d["name"] = name
    edit(d)
    return type(base).model_validate(d)


def _q(value):
    return {"value": value, "assumed": "test"}


def _toy_gpu(d):
    g = d["gpu"]
    g.update(devices=1, memory_bandwidth_gb_s=_q(1000.0), peak_tflop_s=_q(1e6),
             flop_energy_pj=_q(1.0), memory_energy_pj_per_bit=_q(2.0), idle_power_w=_q(10.0),
             tdp_w=_q(300.0))
    g["serving"] = {"stack": "test", "bandwidth_fraction": _q({1: 0.5}),
                    "flop_fraction": _q({1: 0.5}), "step_overhead_ms": _q(2.0),
                    "power_w": _q({1: 100.0, 9: 200.0})}


def _llama2_7b_bytes(position: int) -> tuple[int, int]:
    """FP16 bytes of a Llama-2-7B decode step: the weights read once (all but the
    embedding table, whose one row is read per sequence) and one sequence's KV cache and
    embedding row, from the published dimensions."""
    d, f, layers, vocab = 4096, 11008, 32, 32000
    params = vocab * d + layers * (4 * d * d + 3 * d * f + 2 * d) + d + vocab * d
    assert params == 6_738_415_616  # the released checkpoint's count
    weights = 2 * (params - vocab * d)
    per_seq = 2 * (layers * 2 * d * (position + 1) + d)
    return weights, per_seq


@pytest.mark.parametrize("batch", [1, 5, 9])
def test_served_step_in_closed_form(batch):
    # bandwidth-bound (peak FLOP/s huge): step = bytes / (1000 GB/s x 0.5) + 2 ms; board
    # energy = power(batch) x step, power interpolated 100 W at 1 -> 200 W at 9
    prof = _variant(load_profile("gpu-a100"), _toy_gpu)
    r = neurosim.run("llama-2-7b", prof, tokens=2, position=100, batch=batch, baselines=())
    w, s = _llama2_7b_bytes(100)
    step = (w + batch * s) / 500e9 + 2e-3
    power = 100.0 + 100.0 * (batch - 1) / 8
    row = r.tokens.iloc[0]
    assert row["latency_s"] == pytest.approx(step, rel=1e-12)
    assert row["energy_j"] == pytest.approx(power * step / batch, rel=1e-12)
    assert row["memory_bytes:hbm"] == pytest.approx((w + batch * s) / batch, rel=1e-12)
    assert row["memory_bytes:hbm:weights"] == pytest.approx(w / batch, rel=1e-12)
    assert row["energy_j:memory:hbm"] == pytest.approx((w + batch * s) * 8 * 2e-12 / batch)
    assert row["energy_j:static"] == pytest.approx(10.0 * step / batch, rel=1e-12)
    # the roofline beside it: bytes / 1000 GB/s, dynamic + idle energy
    assert row["roofline_latency_s"] == pytest.approx((w + batch * s) / 1000e9, rel=1e-12)
    _, s1 = _llama2_7b_bytes(101)  # the second token's step
    step1 = (w + batch * s1) / 500e9 + 2e-3
    s_ = r.summary()
    assert s_["tokens_per_s"] == pytest.approx(batch / ((step + step1) / 2), rel=1e-12)
    assert s_["roofline"]["latency_s"] == pytest.approx(
        (2 * w + batch * (s + s1)) / 2 / 1000e9, rel=1e-12)


def test_batch_shares_the_weight_bytes(cli):
    one = cli("run", "--model", "llama-7b", "--profile", "gpu-a100", "--tokens", "2", "--json")
    eight = cli("run", "--model", "llama-7b", "--profile", "gpu-a100", "--tokens", "2",
                "--batch", "8", "--json")
    assert one.code == eight.code == 0, (one.err, eight.err)
    a, b = one.json(), eight.json()
    assert b["batch"] == 8 and a["batch"] == 1
    assert b["per_token"]["energy_j"] < a["per_token"]["energy_j"] / 4
    wa, wb = (x["per_token"]["memory_bytes"]["hbm:weights"] for x in (a, b))
    assert wb == pytest.approx(wa / 8, rel=1e-12)
    assert b["energy_by_component_j"]["memory:hbm"] < a["energy_by_component_j"]["memory:hbm"] / 4
    for s in (a, b):
        assert set(s["roofline"]) == {"energy_j", "latency_s"}
        assert s["roofline"]["energy_j"] < s["per_token"]["energy_j"]
        assert s["tokens_per_s"] == pytest.approx(s["batch"] / s["per_token"]["latency_s"])


def test_baselines_show_served_and_roofline():
    r = neurosim.run("spikellm-tiny", "loihi2", tokens=2, baselines=("gpu-a100", "gpu-h100"))
    by = {p: g for p, g in r.baselines.groupby("profile")}
    assert set(by) == {"gpu-a100", "gpu-a100:roofline", "gpu-h100"}
    assert (by["gpu-a100"]["variant"] == "served").all()
    assert (by["gpu-h100"]["variant"] == "roofline").all()  # no serving section
    assert (by["gpu-a100"]["energy_j"].to_numpy() > by["gpu-a100:roofline"]["energy_j"].to_numpy()).all()


def test_a_baseline_that_cannot_hold_the_model_is_left_out_with_a_note():
    r = neurosim.run("spikellm-7b", "loihi2", tokens=1, baselines=("jetson-orin-nano",))
    assert r.baselines.empty
    assert any("baseline jetson-orin-nano left out" in n and "not even batch 1 fits" in n
               for n in r.notes)


def test_batch_that_does_not_fit_names_what_does(cli):
    # Qwen2-0.5B FP16 on 8 GiB: weights 2 x 494,005,120 B; a 32,768-position KV cache
    # 24 layers x 2 x 128 x 2 B per position; (8 GiB - weights) / per sequence = 18.9
    weights = 2 * 494_005_120
    per_seq = 24 * 2 * 128 * 2 * 32768
    fits = (8 * 2**30 - weights) // per_seq
    assert fits == 18
    res = cli("run", "--model", "qwen2-0.5b", "--profile", "jetson-orin-nano", "--batch", "64")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert f"at most batch {fits} fits at context 32768" in res.err
    ok = cli("run", "--model", "qwen2-0.5b", "--profile", "jetson-orin-nano", "--batch",
             str(fits), "--tokens", "1", "--json")
    assert ok.code == 0, ok.err
    res = cli("run", "--model", "llama-7b", "--profile", "jetson-orin-nano")
    assert res.code == 2 and "not even batch 1 fits" in res.err


@pytest.mark.parametrize("bad", ["0", "-3", "two"])
def test_bad_batch_is_one_line(cli, bad):
    res = cli("run", "--model", "llama-7b", "--profile", "gpu-a100", "--batch", bad)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "--batch" in res.err and "Traceback" not in res.err


def test_api_refuses_a_bad_batch():
    for bad in (0, 2.5, True):
        with pytest.raises(InputError, match="batch"):
            neurosim.run("spikellm-tiny", "loihi2", tokens=1, batch=bad)


@pytest.mark.parametrize("pipelined", [False, True])
def test_neuromorphic_batch(pipelined):
    # B sequences share the chips: without pipelining a token waits for B passes; with it a
    # token enters every slowest stage, so latency = max(one pass, B x bottleneck).  Static
    # energy per token = chips x static power x latency / B; everything else per token is
    # the sequence's own.
    prof = _variant(load_profile("loihi2"),
                    lambda d: d["execution"].update(layer_pipelining=pipelined))
    one = neurosim.run("spikellm-tiny", prof, tokens=3, baselines=()).tokens
    b = 6
    many = neurosim.run("spikellm-tiny", prof, tokens=3, baselines=(), batch=b).tokens
    pass_s, neck = one["latency_s"].to_numpy(), one["bottleneck_s"].to_numpy()
    want = [max(p, b * n) if pipelined else b * p for p, n in zip(pass_s, neck)]
    assert many["latency_s"].to_numpy() == pytest.approx(want, rel=1e-12)
    static_w = float(prof.chip.static_power_mw) * 1e-3
    chips = neurosim.run("spikellm-tiny", prof, tokens=1, baselines=()).mapping["chips"]
    assert many["energy_j:static"].to_numpy() == pytest.approx(
        [chips * static_w * t / b for t in want], rel=1e-12)
    for col in ("energy_j:synapses", "energy_j:neurons", "energy_j:noc", "events", "synops"):
        assert many[col].to_numpy() == pytest.approx(one[col].to_numpy(), rel=1e-12)
    if pipelined:
        assert math.isclose(one["latency_s"].iloc[0], pass_s[0])


def test_cards_of_the_measured_models():
    # the released checkpoints' parameter counts; Qwen2's q/k/v biases are left out
    assert load_card("llama-2-7b").parameters == 6_738_415_616
    assert load_card("llama-2-13b").parameters == 13_015_864_320
    assert load_card("qwen2-0.5b").parameters == 494_032_768 - 24 * (896 + 2 * 128)


def test_board_power_below_the_rooflines_energy_is_noted():
    # a board power at the idle power cannot pay for the HBM and compute energy on top of
    # idle: the energy is then the roofline's components over the served step, with a note
    def low_power(d):
        _toy_gpu(d)
        d["gpu"]["serving"]["power_w"] = _q({1: 10.0})

    prof = _variant(load_profile("gpu-a100"), low_power)
    r = neurosim.run("llama-2-7b", prof, tokens=1, position=100, baselines=())
    row = r.tokens.iloc[0]
    w, s = _llama2_7b_bytes(100)
    step = (w + s) / 500e9 + 2e-3
    assert row["energy_j:serving"] == 0.0
    assert row["energy_j"] == pytest.approx(
        row["energy_j:compute"] + (w + s) * 8 * 2e-12 + 10.0 * step, rel=1e-12)
    assert any("exceed" in n and "board power" in n for n in r.notes)
