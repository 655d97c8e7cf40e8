"""Shared fixtures: run the CLI in-process and return exit status, stdout and stderr.

In a module that sets ``REFUSALS_CHECKED = True`` every refusal (exit 2) is held to the same
bar: one line starting ``neurosim: error:``, no traceback, nothing written or changed under
the test's ``tmp_path``, and done within ``REFUSAL_S`` seconds."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from neurosim.cli import main


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture(scope="session", autouse=True)
def conversion_cache(tmp_path_factory):
    """One conversion cache for the session, never the user's ``~/.cache/neurosim``."""
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("neurosim-cache")
    mp.setenv("NEUROSIM_CACHE", str(path))
    yield path
    mp.undo()


REFUSAL_S = 15.0
"""The time a refusal may take in a module with ``REFUSALS_CHECKED`` (the slowest, a mapping
that does not fit, takes a few seconds)."""
CHECKED: list[str] = []


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` with its kind, size and modification time (not followed)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(d) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def cli(capsys, request):
    """Call ``cli(*argv)`` to run ``neurosim argv`` in-process."""
    checked = getattr(request.module, "REFUSALS_CHECKED", False)
    root = request.getfixturevalue("tmp_path") if checked else None

    def run(*argv: str) -> CliResult:
        before = _tree(root) if checked else None
        t0 = time.perf_counter()
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors and --version
            code = exc.code if isinstance(exc.code, int) else 1
        elapsed = time.perf_counter() - t0
        captured = capsys.readouterr()
        if checked and code == 2:
            lines = captured.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("neurosim: error: "), captured.err
            assert "Traceback" not in captured.err
            assert _tree(root) == before, f"a refusal wrote or changed files: {argv}"
            assert elapsed < REFUSAL_S, f"a refusal took {elapsed:.1f} s: {argv}"
            CHECKED.append(request.node.nodeid)
        return CliResult(code, captured.out, captured.err)

    return run


def pytest_terminal_summary(terminalreporter):
    if CHECKED:
        terminalreporter.write_line(
            f"refusals held to one line, exit 2, nothing written, under {REFUSAL_S:g} s: "
            f"{len(CHECKED)} in {len(set(CHECKED))} cases")
