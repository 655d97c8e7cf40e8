"""Fuzzing the readers: mutated shipped profiles and cards, and raw bytes, into every reader.

Only neurosim's own errors may escape, and a profile that loads must price a run to finite
figures.  ``make test`` runs a bounded number of examples; ``make fuzz`` runs the long
campaign (``NEUROSIM_FUZZ_EXAMPLES``, default 40 per test here).
"""

from __future__ import annotations

import copy
import math
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim.cards import cards_dir
from neurosim.errors import NeurosimError
from neurosim.hardware import profiles_dir

EXAMPLES = int(os.environ.get("NEUROSIM_FUZZ_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
PROFILES = ["loihi2", "truenorth", "gpu-a100", "generic-45nm"]
CARDS = ["spikellm-tiny", "spikegpt-46m", "lte-smollm2-135m"]
ODD = [0, -1, 1e308, -1e308, float("nan"), float("inf"), True, False, None, "x", [], {},
       10**40, 1e-320, 2**63, "1e3", [1, 2], {"value": 1}]


def _paths(node, path=()):
    """Every (path, value) in a plain YAML document."""
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for k, v in items:
        yield from _paths(v, (*path, k))


def _mutate(doc, data) -> object:
    """One random edit: a value replaced by an odd one, a key deleted or renamed."""
    paths = [p for p, _ in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    node = doc
    for k in path[:-1]:
        node = node[k]
    action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
    if action == "replace" or isinstance(node, list):
        node[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(ODD)))
    elif action == "delete":
        del node[path[-1]]
    else:
        node[f"{path[-1]}_x"] = node.pop(path[-1])
    return doc


def _finite(result) -> None:
    t = result.tokens
    for col in t.columns:
        if col.startswith("energy_j") or col == "latency_s":
            vals = t[col].astype(float)
            assert not any(math.isinf(v) for v in vals), col
            if col.startswith("energy_j"):
                assert not any(math.isnan(v) for v in vals), col


@SETTINGS
@given(data=st.data(), name=st.sampled_from(PROFILES), edits=st.integers(1, 3))
def test_mutated_profiles(tmp_path, data, name, edits):
    import neurosim
    from neurosim.hardware import load_profile

    doc = yaml.safe_load((profiles_dir() / f"{name}.yaml").read_text())
    for _ in range(edits):
        doc = _mutate(doc, data)
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(doc))
    try:
        prof = load_profile(f)
    except NeurosimError:
        return
    try:
        _finite(neurosim.run("spikellm-tiny", prof, tokens=1, baselines=()))
    except NeurosimError:
        pass


@SETTINGS
@given(data=st.data(), name=st.sampled_from(CARDS), edits=st.integers(1, 3))
def test_mutated_cards(tmp_path, data, name, edits):
    from neurosim.cards import load_card
    from neurosim.graph.lower import lower

    doc = yaml.safe_load((cards_dir() / f"{name}.yaml").read_text())
    for _ in range(edits):
        doc = _mutate(doc, data)
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(doc))
    try:
        card = load_card(f)
        if card.parameters < 10**9:  # the graph of a small card is cheap to build
            lower(card)
    except NeurosimError:
        pass


@SETTINGS
@given(raw=st.binary(max_size=2048), reader=st.sampled_from(["profile", "card", "nir", "text"]))
def test_raw_bytes(tmp_path, raw, reader):
    f = tmp_path / ("x.nir" if reader == "nir" else "x.yaml")
    f.write_bytes(raw)
    try:
        if reader == "profile":
            from neurosim.hardware import load_profile

            load_profile(f)
        elif reader == "card":
            from neurosim.cards import load_card

            load_card(f)
        elif reader == "nir":
            pytest.importorskip("nir")
            from neurosim.snn.nir_io import read_nir

            read_nir(f)
        else:
            from neurosim.convert.text import load_text

            load_text(f)
    except NeurosimError:
        pass
