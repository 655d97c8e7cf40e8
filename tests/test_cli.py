"""The CLI, run in-process, asserting on the data it returns."""

from __future__ import annotations

import pytest

import neurosim
from neurosim.cards import list_cards
from neurosim.hardware import list_profiles


def test_version(cli):
    result = cli("--version")
    assert result.code == 0
    assert result.out.strip() == f"neurosim {neurosim.__version__}"


def test_models_show_json_reports_parameters(cli):
    result = cli("models", "show", "spikellm-7b", "--json")
    assert result.code == 0
    data = result.json()
    assert data["parameters"] == pytest.approx(6.74e9, rel=0.01)
    assert data["family"] == "llama"
    assert data["dimensions"]["d_model"] == 4096
    assert data["spiking"]["scheme"] == "spikellm"
    assert data["spiking"]["abits"] == 4 and data["spiking"]["addbit"] == 1


@pytest.mark.parametrize("name, public", [("spikellm-13b", 13.0e9), ("spikellm-70b", 68.98e9)])
def test_models_show_json_large(cli, name, public):
    assert cli("models", "show", name, "--json").json()["parameters"] == pytest.approx(public,
                                                                                     rel=0.01)


def test_models_list_json(cli):
    rows = cli("models", "list", "--json").json()
    assert [r["name"] for r in rows] == list_cards()


def test_profiles_list_json(cli):
    rows = cli("profiles", "list", "--json").json()
    assert [r["name"] for r in rows] == list_profiles()
    assert {r["kind"] for r in rows} == {"neuromorphic", "gpu", "accounting"}


def test_profiles_show_json_has_provenance(cli):
    data = cli("profiles", "show", "loihi2.yaml", "--json").json()
    assert data["name"] == "loihi2"
    assert len(data["provenance"]["sha256"]) == 64
    assert data["provenance"]["sourced"] + data["provenance"]["assumed"] > 30


def test_profiles_show_table(cli):
    result = cli("profiles", "show", "loihi")
    assert result.code == 0
    assert "core.synop_energy_pj" in result.out and "davies2018" in result.out


def test_profiles_validate_all_shipped(cli):
    from neurosim.hardware import profiles_dir

    files = [str(p) for p in sorted(profiles_dir().glob("*.yaml"))]
    rows = cli("profiles", "validate", *files, "--json").json()
    assert [r["file"] for r in rows] == files


def test_profiles_yaml_round_trip(cli, tmp_path):
    text = cli("profiles", "yaml", "truenorth").out
    f = tmp_path / "tn.yaml"
    f.write_text(text)
    assert cli("profiles", "validate", str(f)).code == 0


def test_run_refuses_until_engine_lands(cli):
    result = cli("run", "--model", "spikellm-7b", "--profile", "loihi2.yaml")
    assert result.code == 2
    assert result.err.startswith("neurosim: error: run: not implemented yet")
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, fragment", [
    (["--tokens", "0"], "--tokens: must be >= 1"),
    (["--seed", "-1"], "--seed: must be >= 0"),
    (["--tokens", "many"], "--tokens: not an integer"),
])
def test_run_bad_arguments(cli, args, fragment):
    result = cli("run", "--model", "spikellm-7b", "--profile", "loihi2", *args)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    assert fragment in result.err


def test_unknown_command(cli):
    result = cli("simulate")
    assert result.code == 2 and result.err.startswith("neurosim: error: ")
    assert len(result.err.strip().splitlines()) == 1
