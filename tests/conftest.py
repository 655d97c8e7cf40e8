"""Shared fixtures: run the CLI in-process and return exit status, stdout and stderr."""

from __future__ import annotations

import json

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


@pytest.fixture
def cli(capsys):
    """Call ``cli(*argv)`` to run ``neurosim argv`` in-process."""

    def run(*argv: str) -> CliResult:
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors and --version
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
