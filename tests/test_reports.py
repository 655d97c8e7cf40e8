"""Every notebook in reports/ runs top to bottom (in the session's cache, conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPORTS = sorted((Path(__file__).resolve().parents[1] / "reports").glob("*.ipynb"))


def test_reports_are_shipped():
    assert REPORTS, "reports/ holds the energy-report notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, conversion_cache):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any failure
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the report draws its figures"
