"""SIGKILL at random points of the commands that write results: every output is then either
absent or complete and verified, and no temporary directory claims to be one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurosim.result import Result

NEUROSIM = [sys.executable, "-m", "neurosim.cli"]
KILLS = 25


def _wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


def _kill_at(argv: list[str], after_s: float) -> None:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_kill_run_out(tmp_path):
    """``run --out``: killed anywhere in the last half of its run (where it writes), the
    directory is absent or a result whose every file matches its manifest."""
    argv = [*NEUROSIM, "run", "--model", "spikellm-tiny", "--profile", "loihi2", "--tokens",
            "2", "--json", "--out"]
    wall = _wall([*argv, str(tmp_path / "warm")])
    rng = np.random.default_rng(0)
    complete = 0
    for i in range(KILLS):
        out = tmp_path / f"r{i}"
        _kill_at([*argv, str(out)], float(rng.uniform(0.5, 1.1)) * wall)
        if out.exists():
            Result.load(out)  # raises unless every file is there and matches its SHA-256
            complete += 1
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(f".r{i}")]
        assert not [n for n in leftovers if (tmp_path / n / "result.json").exists()], leftovers
    print(f"run --out: {KILLS} kills, {complete} complete results, {KILLS - complete} absent")


@pytest.mark.slow
def test_kill_fit(tmp_path):
    """``fit --out``: the fit file is absent or whole (it reads back as a fit)."""
    from neurosim.traffic.trace import TraceWriter

    trace = tmp_path / "trace"
    header = {"model": "x", "artifact_sha256": "0" * 64, "forward_dtype": "float64",
              "neurosim_version": "0.1.0",
              "text": {"name": "t", "sha256": "0" * 64},
              "groups": [{"name": "L0.q_proj.in", "size": 8, "max_steps": 2}],
              "spiking": {"abits": 4, "addbit": 1, "kv_addbit": 1}}
    rows = (np.random.default_rng(1).random((64, 8)) * 16).astype(np.uint8)
    with TraceWriter(trace, header, np.zeros(8, bool), np.arange(64)) as w:
        w.append(rows)
    argv = [*NEUROSIM, "fit", "--trace", str(trace), "--out"]
    res = subprocess.run([*argv, str(tmp_path / "warm.yaml")], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"fit does not take this synthetic trace: {res.stderr.strip()[:200]}")
    wall = _wall([*argv, str(tmp_path / "warm2.yaml")])
    rng = np.random.default_rng(2)
    from neurosim._yaml import load_yaml_mapping

    whole = 0
    for i in range(KILLS):
        out = tmp_path / f"f{i}.yaml"
        _kill_at([*argv, str(out)], float(rng.uniform(0.3, 1.1)) * wall)
        if out.exists():
            assert load_yaml_mapping(Path(out))  # whole: it parses
            whole += 1
    print(f"fit --out: {KILLS} kills, {whole} whole fits, {KILLS - whole} absent")
    names = os.listdir(tmp_path)
    assert not [n for n in names if n.endswith(".yaml.tmp") and not n.startswith(".")], names
