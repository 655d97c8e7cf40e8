"""Bad profiles and cards: one line naming file and key path, exit 2, no traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from neurosim.cards import cards_dir
from neurosim.hardware import profiles_dir

REFUSALS_CHECKED = True  # conftest: every refusal one line, nothing written, in time

PROFILE = yaml.safe_load((profiles_dir() / "loihi.yaml").read_text())
CARD = yaml.safe_load((cards_dir() / "spikellm-7b.yaml").read_text())
GPU = yaml.safe_load((profiles_dir() / "gpu-a100.yaml").read_text())
LOIHI2 = yaml.safe_load((profiles_dir() / "loihi2.yaml").read_text())
_OVERHEAD = "gpu.serving.step_overhead_ms"


def _set(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


def _rename(data: dict, path: str, new: str) -> dict:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    node[new] = node.pop(last)
    return data


_DELETE = object()


def _check(result, file: Path | str, *fragments: str) -> None:
    assert result.code == 2, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    line = lines[0]
    assert line.startswith("neurosim: error: "), line
    assert "Traceback" not in result.err
    assert str(file) in line, line
    for frag in fragments:
        assert frag in line, (frag, line)
    assert result.out == ""


# (case id, mutated document or raw text, expected fragments of the one-line error)
PROFILE_CASES = [
    ("near-miss key", _rename(PROFILE, "core.synop_energy_pj", "synop_energy_pk"),
     ["core.synop_energy_pk", "unknown key", "did you mean 'synop_energy_pj'"]),
    ("wrong type", _set(PROFILE, "core.neurons.value", "many"),
     ["core.neurons.value", "wrong type", "'many'", "an integer"]),
    ("negative energy", _set(PROFILE, "core.synop_energy_pj.value", -23.6),
     ["core.synop_energy_pj.value", "-23.6", ">= 0"]),
    ("missing section", _set(PROFILE, "core", _DELETE), ["core", "required key is missing"]),
    ("wrong schema_version", _set(PROFILE, "schema_version", 2),
     ["schema_version", "unsupported schema version", "got 2", "expected 1"]),
    ("missing schema_version", _set(PROFILE, "schema_version", _DELETE),
     ["schema_version", "required key is missing"]),
    ("unknown kind", _set(PROFILE, "kind", "fpga"),
     ["kind", "'fpga'", "neuromorphic, gpu, accounting"]),
    ("no provenance", _set(PROFILE, "core.synop_energy_pj", {"value": 23.6}),
     ["core.synop_energy_pj", "provenance"]),
    ("unknown reference", _set(PROFILE, "core.synop_energy_pj.source", "nobody2020 p. 1"),
     ["core.synop_energy_pj.source", "references", "nobody2020"]),
    ("mesh too small", _set(PROFILE, "chip.core_mesh.value", [4, 4]),
     ["chip.core_mesh.value", "[4, 4]", "columns*rows >= 128"]),
    ("zero cores", _set(PROFILE, "chip.cores.value", 0), ["chip.cores.value", "> 0"]),
    ("bad routing", _set(PROFILE, "network.routing", "broadcast"),
     ["network.routing", "'broadcast'", "unicast", "multicast"]),
    ("nan energy", _set(PROFILE, "core.synop_energy_pj.value", float("nan")),
     ["core.synop_energy_pj.value"]),
    ("first memory level not core", _set(PROFILE, "memory.0.scope", "chip"),
     ["memory[0].scope", "core"]),
    ("bad barrier table key", _set(PROFILE, "chip.barrier_latency_ns.value", {0: 1.0}),
     ["chip.barrier_latency_ns.value", "count >= 1"]),
    ("calibrated without its measurement",
     _set(GPU, f"{_OVERHEAD}.calibrated", {"fitted_to": "22.48 ms/token"}),
     [f"{_OVERHEAD}.calibrated.measurement", "required key is missing"]),
    ("calibrated against no reference",
     _set(GPU, f"{_OVERHEAD}.calibrated.measurement", "a benchmark somewhere"),
     [f"{_OVERHEAD}.calibrated.measurement", "references", "mlenergy2023"]),
    ("one measurement calibrates two numbers",
     _set(GPU, "gpu.serving.power_w.calibrated.measurement",
          GPU["gpu"]["serving"]["step_overhead_ms"]["calibrated"]["measurement"]),
     ["gpu.serving.power_w.calibrated.measurement", f"already calibrates {_OVERHEAD}",
      "one calibrated number per measurement"]),
    ("serving power above the TDP", _set(GPU, "gpu.serving.power_w.value", {1: 500.0}),
     ["gpu.serving.power_w.value[1]", "500.0", "from 55 to 400 W"]),
    ("placement the cores cannot run", _set(PROFILE, "dense_placement", {"norm": "neuro_cores"}),
     ["dense_placement.norm", "cannot run norm ops", "no programmable_ops section"]),
    ("placement of an unknown kind", _set(PROFILE, "dense_placement", {"matmul": "dense_unit"}),
     ["dense_placement.matmul", "'matmul'"]),
    ("softmax on loihi2's cores",
     _set(LOIHI2, "dense_placement", {**LOIHI2["dense_placement"], "softmax": "neuro_cores"}),
     ["dense_placement.softmax", "cannot run softmax ops", "dense_unit, or one of"]),
    ("achieved fraction above one", _set(GPU, "gpu.serving.bandwidth_fraction.value", {1: 1.2}),
     ["gpu.serving.bandwidth_fraction.value[1]", "1.2", "<= 1"]),
    ("denormal memory capacity", _set(GPU, "gpu.memory_capacity_gib.value", 1e-320),
     ["gpu.memory_capacity_gib", "1e-320"]),
]

CARD_CASES = [
    ("heads do not divide d_model", _set(CARD, "architecture.heads", 30),
     ["architecture.heads", "does not divide d_model=4096", "got 30"]),
    ("kv_heads do not divide heads", _set(CARD, "architecture.kv_heads", 5),
     ["architecture.kv_heads", "does not divide heads=32", "got 5"]),
    ("near-miss key in scheme", _rename(CARD, "spiking.abits", "abit"),
     ["spiking.abit", "did you mean 'abits'"]),
    ("fraction out of range", _set(CARD, "spiking.salient_fraction", 1.5),
     ["spiking.salient_fraction", "1.5", "<= 1"]),
    ("scheme of another family", _set(CARD, "spiking", {"scheme": "spikegpt", "tau": 2.0,
                                                         "threshold": 1.0, "reset": "hard",
                                                         "firing_rate": 0.1, "weight_bits": 16,
                                                         "source": "x"}),
     ["spiking.scheme", "not available for family 'llama'"]),
    ("unknown scheme", _set(CARD, "spiking.scheme", "spikey"), ["spiking.scheme", "'spikey'"]),
    ("unknown family", _set(CARD, "family", "gpt"), ["family", "'gpt'", "llama, rwkv, bert"]),
    ("package weights without file", _set(CARD, "weights", {"source": "package",
                                                            "package": "x"}),
     ["weights.file", "needs 'file'"]),
    ("negative layers", _set(CARD, "architecture.layers", -1),
     ["architecture.layers", "-1", "> 0"]),
    ("float layers", _set(CARD, "architecture.layers", 32.5), ["architecture.layers", "32.5"]),
    ("missing architecture", _set(CARD, "architecture", _DELETE),
     ["architecture", "required key is missing"]),
    ("real traffic without weights", _set(CARD, "traffic.default", "real"),
     ["traffic.default", "needs weights"]),
]


@pytest.mark.parametrize("case, doc, fragments", PROFILE_CASES, ids=[c[0] for c in PROFILE_CASES])
def test_bad_profile(cli, tmp_path, case, doc, fragments):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    _check(cli("profiles", "validate", str(f)), f, *fragments)


@pytest.mark.parametrize("case, doc, fragments", CARD_CASES, ids=[c[0] for c in CARD_CASES])
def test_bad_card(cli, tmp_path, case, doc, fragments):
    f = tmp_path / "bad-card.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    _check(cli("models", "show", str(f)), f, *fragments)


RAW_CASES = [
    ("empty file", b"", ["file is empty"]),
    ("only a comment", b"# nothing\n", ["file is empty"]),
    ("not YAML", b"schema_version: 1\nkind: [neuromorphic\n", ["not valid YAML"]),
    ("a list, not a mapping", b"- 1\n- 2\n", ["top level is a list, not a mapping"]),
    ("duplicate key", b"schema_version: 1\nname: a\nname: b\n", [":3: name: duplicate key"]),
    ("not UTF-8", b"schema_version: 1\nname: \xff\xfe\n", ["not UTF-8"]),
    ("python tag refused by safe_load", b"!!python/object/apply:os.system ['true']\n",
     ["not valid YAML"]),
]


@pytest.mark.parametrize("case, raw, fragments", RAW_CASES, ids=[c[0] for c in RAW_CASES])
@pytest.mark.parametrize("command", [("profiles", "validate"), ("models", "show")])
def test_unreadable_documents(cli, tmp_path, case, raw, fragments, command):
    f = tmp_path / "broken.yaml"
    f.write_bytes(raw)
    _check(cli(*command, str(f)), f, *fragments)


def test_directory_instead_of_file(cli, tmp_path):
    d = tmp_path / "profiles.yaml"
    d.mkdir()
    _check(cli("profiles", "validate", str(d)), d, "is a directory")


def test_unreadable_file(cli, tmp_path, monkeypatch):
    f = tmp_path / "locked.yaml"
    f.write_text("schema_version: 1\n")
    import os

    real = os.open

    def deny(path, *args, **kwargs):
        if Path(path) == f:
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    _check(cli("profiles", "validate", str(f)), f, "cannot read", "Permission denied")


def test_missing_path(cli, tmp_path):
    f = tmp_path / "nope" / "gone.yaml"
    _check(cli("profiles", "validate", str(f)), f, "no such profile")


def test_unknown_profile_name_lists_choices(cli):
    result = cli("profiles", "show", "loihi3")
    _check(result, "loihi3", "no such profile", "loihi2", "truenorth", "gpu-a100")


def test_unknown_model_name_lists_choices(cli):
    result = cli("models", "show", "spikellm-8b")
    _check(result, "spikellm-8b", "no such model card", "spikellm-7b", "spikegpt-216m")
