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


def test_run_json_reports_the_required_fields(cli):
    result = cli("run", "--model", "spikellm-7b", "--profile", "loihi2.yaml", "--tokens", "2",
                 "--json")
    assert result.code == 0, result.err
    data = result.json()
    for key in ("model", "profile", "backend", "tokens", "traffic", "per_token", "tokens_per_s",
                "chips", "cores", "energy_by_component_j", "baselines", "provenance"):
        assert key in data
    pt = data["per_token"]
    for key in ("energy_j", "latency_s", "events", "synops", "dense_equivalent_macs",
                "messages", "memory_bytes"):
        assert key in pt
    assert data["traffic"] == "synthetic" and data["tokens"] == 2
    assert data["chips"] > 1
    assert pt["energy_j"] == pytest.approx(sum(data["energy_by_component_j"].values()))
    assert {"gpu-a100", "gpu-h100"} <= set(data["baselines"])
    assert data["provenance"]["profile_sha256"]


def test_run_out_reloads_into_equal_frames(cli, tmp_path):
    from neurosim.result import Result

    out = tmp_path / "res"
    result = cli("run", "--model", "smollm2-135m-spikellm", "--profile", "loihi2",
                 "--traffic", "synthetic", "--tokens", "2", "--out", str(out))
    assert result.code == 0, result.err
    loaded = Result.load(out)
    import neurosim
    again = neurosim.run("smollm2-135m-spikellm", "loihi2", tokens=2, traffic="synthetic")
    for name in ("tokens", "sites", "baselines"):
        import pandas.testing as pdt
        pdt.assert_frame_equal(getattr(loaded, name), getattr(again, name))


def test_run_unwritable_out_leaves_nothing(cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    result = cli("run", "--model", "spikellm-7b", "--profile", "loihi2", "--out", str(f))
    assert result.code == 2 and "not a directory" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert f.read_text() == "x"


@pytest.mark.parametrize("args, fragment", [
    (["--tokens", "0"], "--tokens: must be >= 1"),
    (["--tokens", "-1"], "--tokens: must be >= 1 (got -1)"),
    (["--seed", "-1"], "--seed: must be >= 0"),
    (["--tokens", "many"], "--tokens: not an integer"),
    (["--seed", str(2**63)], "--seed: must be <= 2^63 - 1"),
    (["--threads", "0"], "--threads: must be >= 1"),
    (["--threads", str(10**6)], "threads: must be an integer from 1 to"),
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


@pytest.mark.parametrize("args, fragment", [
    (["--model", "spikellm-8b", "--profile", "loihi2"], "spikellm-13b, spikellm-70b, spikellm-7b"),
    (["--model", "spikellm-7b", "--profile", "loihi3"], "loihi, loihi-calibrated, loihi2"),
])
def test_run_unknown_names_list_the_choices(cli, tmp_path, args, fragment):
    out = tmp_path / "out"
    result = cli("run", *args, "--out", str(out))
    assert result.code == 2 and fragment in result.err
    assert result.err.startswith("neurosim: error: ") and result.err.count("\n") == 1
    assert not out.exists()
