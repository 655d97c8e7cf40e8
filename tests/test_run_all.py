"""Every SpikeLLM card runs on every shipped profile and its numbers hold together."""

from __future__ import annotations

import math

import pytest

import neurosim
from neurosim.cards import load_card
from neurosim.errors import InputError
from neurosim.hardware import list_profiles, load_profile
from neurosim.mapping.place import MappingError

# What the mapper refuses, and the profile field that decides it: TrueNorth routes a neuron's
# spike to one axon on one core (256 entries per core) and neurosim models no splitter
# neurons; 13B needs more TrueNorth chips than max_chips.  A Jetson's 8 GB holds no 7B model.
REFUSED = {
    ("spikellm-13b", "truenorth"): (MappingError, "system.max_chips"),
    ("spikellm-70b", "truenorth"): (MappingError, "core.max_fan_out"),
    ("spikegpt-216m", "truenorth"): (MappingError, "core.max_fan_out"),
    ("spikegpt-46m", "truenorth"): (MappingError, "core.max_fan_out"),
    ("lte-llama-7b", "truenorth"): (MappingError, "core.max_fan_out"),
    **{(m, "jetson-orin-nano"): (InputError, "not even batch 1 fits")
       for m in ("spikellm-7b", "spikellm-13b", "spikellm-70b", "lte-llama-7b", "llama-7b")},
}


def _run_or_refused(model, profile, **kw):
    if (model, profile) in REFUSED:
        error, field = REFUSED[model, profile]
        with pytest.raises(error, match=field.replace(".", r"\.")):
            neurosim.run(model, profile, **kw)
        return None
    return neurosim.run(model, profile, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("profile", list_profiles())
@pytest.mark.parametrize("model", ["spikellm-7b", "spikellm-13b", "spikellm-70b"])
def test_run_every_card_on_every_profile(model, profile):
    r = _run_or_refused(model, profile, tokens=1)
    if r is None:
        return
    s = r.summary()
    pt = s["per_token"]
    assert pt["energy_j"] > 0 and math.isfinite(pt["energy_j"])
    assert pt["dense_equivalent_macs"] == r.tokens["dense_equivalent_macs"].iloc[0]
    # graded spikes: synops are at most (1 - p) + p 2^a = 1.1 times the dense MACs (plus
    # attention); binary-only cores send a 4-bit code q as q spikes, up to 15 times more
    unary = any("binary spikes" in n for n in r.notes)
    bound = (15 if unary else 1) * 1.2
    assert 0 < pt["synops"] < bound * pt["dense_equivalent_macs"]
    if unary:
        assert pt["synops"] > 1.2 * pt["dense_equivalent_macs"]
    if s["energy_by_component_j"] and r.tokens["latency_s"].notna().all():
        assert pt["energy_j"] == pytest.approx(sum(s["energy_by_component_j"].values()))


NEW_CARDS = ["spikegpt-216m", "spikegpt-46m", "spikelm-bert-base", "lte-llama-7b", "lte-smollm2-135m",
             "spikellm-tiny", "llama-7b", "matmulfree-370m", "qwen2-0.5b"]


@pytest.mark.slow
@pytest.mark.parametrize("profile", list_profiles())
@pytest.mark.parametrize("model", NEW_CARDS)
def test_every_new_card_runs_on_every_profile(model, profile):
    r = _run_or_refused(model, profile, tokens=2, context=64)
    if r is None:
        return
    pt = r.summary()["per_token"]
    assert pt["energy_j"] > 0 and math.isfinite(pt["energy_j"])
    dense_eq = pt["dense_equivalent_macs"]
    scheme = load_card(model).spiking.scheme
    if scheme == "none":  # the dense model: no spikes, every MAC on the dense units
        assert pt["synops"] == 0 and pt["dense_macs"] == dense_eq
        return
    assert pt["events"] > 0 and pt["synops"] > 0
    if scheme == "spikegpt":  # spikes are residual writes: one synapse each; MACs stay dense
        assert pt["synops"] == pt["events"] and pt["dense_macs"] == dense_eq
    elif scheme == "lte":  # only active experts run; routers are extra
        assert pt["synops"] == pt["events"]
        if load_card(model).spiking.sparsity == 0.5:  # synthetic: half the experts
            assert 0.4 * dense_eq < pt["dense_macs"] < 0.8 * dense_eq
        else:  # real router decisions: some experts off, routers (1 % of the FFN) on
            assert pt["events"] < load_card(model).architecture.layers * 48
            assert pt["dense_macs"] < 1.01 * dense_eq
    elif scheme == "spikelm":  # ternary ACs over 4 steps at the card's firing rate 0.42
        # FP32 weights on cores that hold fewer bits are sliced: a synapse per slice
        prof = load_profile(profile)
        bits = load_card(model).spiking.weight_bits
        slices = -(-bits // int(prof.core.max_weight_bits.value)) if prof.kind == "neuromorphic" else 1
        assert 1.5 * dense_eq < pt["synops"] / slices < 1.9 * dense_eq
