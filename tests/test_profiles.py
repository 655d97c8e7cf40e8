"""Every shipped hardware profile loads, round-trips and carries provenance."""

from __future__ import annotations

import pytest
import yaml

from neurosim._schema import iter_quantities
from neurosim.hardware import (
    list_profiles,
    load_profile,
    profile_hash,
    profile_to_yaml,
    profiles_dir,
)
from neurosim.hardware.schema import PROFILE_KINDS

SHIPPED = sorted(p.name for p in profiles_dir().glob("*.yaml"))
REQUIRED = ["loihi", "loihi-calibrated", "loihi2", "truenorth", "spinnaker2", "generic-45nm",
            "gpu-a100", "gpu-h100", "jetson-orin-nano"]


def test_required_profiles_are_shipped():
    assert set(REQUIRED) <= set(list_profiles())


@pytest.mark.parametrize("filename", SHIPPED)
def test_profile_round_trips(filename):
    profile = load_profile(profiles_dir() / filename)
    again = PROFILE_KINDS[profile.kind].model_validate(yaml.safe_load(profile_to_yaml(profile)))
    assert again == profile
    assert profile_hash(again) == profile_hash(profile)


@pytest.mark.parametrize("filename", SHIPPED)
def test_profile_name_matches_file(filename):
    assert load_profile(profiles_dir() / filename).name == filename.removesuffix(".yaml")


@pytest.mark.parametrize("filename", SHIPPED)
def test_every_number_has_provenance(filename):
    profile = load_profile(profiles_dir() / filename)
    quantities = list(iter_quantities(profile))
    assert quantities
    for path, q in quantities:
        given = [k for k in ("source", "assumed", "calibrated") if getattr(q, k)]
        assert len(given) == 1, path
        if q.calibrated is not None:
            assert q.calibrated.measurement.strip() and q.calibrated.fitted_to.strip(), path
        else:
            assert (q.source or q.assumed).strip(), path


def test_name_and_path_resolve_to_the_same_profile():
    by_name = load_profile("loihi2")
    assert load_profile("loihi2.yaml") == by_name
    assert load_profile(profiles_dir() / "loihi2.yaml") == by_name


def test_loihi_table2_values():
    # Davies et al. 2018, IEEE Micro, Table 2 (0.75 V): the published per-action numbers.
    p = load_profile("loihi")
    assert p.core.synop_energy_pj.value == 23.6
    assert p.core.synop_latency_ns.value == 3.5
    assert p.core.neuron_update_energy_pj.value == 81.0
    assert p.core.inactive_neuron_update_energy_pj.value == 52.0
    assert p.chip.cores.value == 128 and p.core.neurons.value == 1024


def test_generic_45nm_is_the_literature_accounting():
    # Horowitz 2014 (45 nm): E_AC = FP32 add 0.9 pJ, E_MAC = 3.7 + 0.9 = 4.6 pJ.
    p = load_profile("generic-45nm")
    assert p.kind == "accounting"
    assert p.ops.ac_energy_pj.value == 0.9
    assert p.ops.mac_energy_pj.value == 4.6


def test_every_kind_of_non_spiking_op_can_be_placed():
    # a profile's dense_placement names op kinds; every kind a shipped card lowers to is one
    from typing import get_args

    from neurosim.cards import list_cards, load_card
    from neurosim.graph.lower import lower
    from neurosim.hardware.schema import DenseKind

    kinds = {op.kind for name in list_cards() for op in lower(load_card(name)).dense_ops}
    assert kinds <= set(get_args(DenseKind)), kinds - set(get_args(DenseKind))
