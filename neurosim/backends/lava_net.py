"""The Lava backend's parent side: find a Lava interpreter, run a Net there under a timeout.

Lava's runtime can hang (lava-nc/lava#236, #850), so every run is a child process
(:mod:`neurosim.backends._lava_worker`) in its own process group: on a timeout the whole
group is terminated, then killed, and the hang is reported as a :class:`BackendError`.  A
run that finishes also has its group cleared, so no Lava process outlives it.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neurosim.backends.net import Net, NetResult
from neurosim.errors import BackendError

HOW_TO_GET = ("the lava backend needs lava-nc 0.10 (Python 3.10, numpy<2): run `make lava-env`, "
              "then use .venv-lava/bin/neurosim or set NEUROSIM_LAVA_PYTHON=.venv-lava/bin/python")
DEFAULT_TIMEOUT_S = 300.0


def lava_python() -> str | None:
    """The interpreter that runs Lava: this one if it has lava-nc, else NEUROSIM_LAVA_PYTHON."""
    if importlib.util.find_spec("lava") is not None:
        return sys.executable
    other = os.environ.get("NEUROSIM_LAVA_PYTHON")
    return other if other and Path(other).is_file() else None


def _clear_group(pgid: int, grace_s: float = 5.0) -> bool:
    """Terminate, then kill, every process left in group ``pgid``; True if any was left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def run_isolated(cmd: list[str], timeout_s: float, what: str) -> None:
    """Run ``cmd`` in a new process group; a timeout or failure is a BackendError."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _clear_group(proc.pid)
        proc.communicate()
        raise BackendError(f"{what} did not finish within {timeout_s:g} s (a Lava runtime hang); "
                           f"its processes were stopped") from None
    finally:
        if proc.poll() is None:  # interrupted: leave nothing running
            _clear_group(proc.pid)
            proc.wait()
    _clear_group(proc.pid)
    if proc.returncode != 0:
        lines = [ln for ln in (err or "").strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise BackendError(f"{what} failed: {last}")


def run_net(net: Net, timeout_s: float | None = None) -> NetResult:
    """Run ``net`` on Lava in a child process; raise BackendError if it fails or hangs."""
    python = lava_python()
    if python is None:
        raise BackendError(HOW_TO_GET)
    timeout_s = timeout_s or float(os.environ.get("NEUROSIM_LAVA_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    with tempfile.TemporaryDirectory(prefix="neurosim-lava-") as tmp:
        src, dst = Path(tmp, "net.npz"), Path(tmp, "result.npz")
        net.save(src)
        run_isolated([python, "-m", "neurosim.backends._lava_worker", str(src), str(dst)],
                     timeout_s, f"lava run of {net.label}")
        return NetResult.load(dst)
