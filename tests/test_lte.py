"""LTE experts and routers on real weights (neurosim.convert.lte): balanced K-means against a
slow reference, routed FFN closed forms, and the SmolLM2 card's real expert traffic replayed
with dense-unit MACs counted by hand from the recorded decisions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")

import torch  # noqa: E402

import neurosim  # noqa: E402
from neurosim.cards import load_card  # noqa: E402
from neurosim.convert.lte import (  # noqa: E402
    ExpertRouter,
    balanced_kmeans,
    load_gates,
    load_router,
    routed_ffn,
)
from neurosim.errors import InputError  # noqa: E402
from neurosim.kernels.cluster import _assign_balanced  # noqa: E402

CARD = "lte-smollm2-135m"


def _assign_reference(dist: np.ndarray, size: int) -> np.ndarray:
    """Walk (point, cluster) pairs by rising distance (ties: row-major order); a pair is
    taken when the point is free and the cluster has room."""
    n, k = dist.shape
    pairs = sorted((dist[i, j], i * k + j) for i in range(n) for j in range(k))
    labels, count = [-1] * n, [0] * k
    for _, flat in pairs:
        i, j = divmod(flat, k)
        if labels[i] < 0 and count[j] < size:
            labels[i], count[j] = j, count[j] + 1
    return np.array(labels)


@settings(max_examples=100, deadline=None)
@given(k=st.integers(1, 6), size=st.integers(1, 5), seed=st.integers(0, 2**32 - 1),
       ties=st.booleans())
def test_balanced_assignment_kernel_matches_reference(k, size, seed, ties):
    rng = np.random.default_rng(seed)
    n = k * size
    dist = rng.integers(0, 4, (n, k)).astype(float) if ties else rng.random((n, k))
    got = _assign_balanced(np.argsort(dist, axis=None, kind="stable"), k, size, n)
    np.testing.assert_array_equal(got, _assign_reference(dist, size))
    assert (np.bincount(got, minlength=k) == size).all()


def test_balanced_kmeans_recovers_separated_blobs_in_equal_clusters():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, (6, 8))
    truth = np.repeat(np.arange(6), 32)
    x = centers[truth] + rng.normal(0, 0.1, (192, 8))
    perm = rng.permutation(192)
    labels = balanced_kmeans(x[perm], 32, seed=1)
    assert (np.bincount(labels) == 32).all()
    # the same partition as the blobs (cluster ids may differ)
    pairs = set(zip(truth[perm].tolist(), labels.tolist()))
    assert len(pairs) == 6


def test_balanced_kmeans_refuses_a_size_that_does_not_divide():
    with pytest.raises(ValueError, match="do not split"):
        balanced_kmeans(np.zeros((10, 2)), 3)


class _TinyRunner:
    """Only what routed_ffn reads: the projection weights of one layer."""

    def __init__(self, d: int, f: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.weights = {(0, "gate_proj"): torch.randn(f, d, generator=g),
                        (0, "up_proj"): torch.randn(f, d, generator=g),
                        (0, "down_proj"): torch.randn(d, f, generator=g)}


def _ffn(run, x, keep):
    w = run.weights
    a = torch.nn.functional.silu(x @ w[(0, "gate_proj")].T) * (x @ w[(0, "up_proj")].T)
    return (a * keep) @ w[(0, "down_proj")].T


def test_routed_ffn_runs_exactly_the_selected_experts():
    d, f, size = 6, 12, 4
    run = _TinyRunner(d, f, 0)
    order = np.random.default_rng(0).permutation(f).astype(np.int32)[None, :]
    x = torch.randn(5, d, generator=torch.Generator().manual_seed(1))
    # weights +-inf along one input channel: expert e is on iff sign(x[:, 0]) says so
    wg = np.zeros((1, d, f // size), np.float32)
    wg[0, 0] = [1e4, -1e4, 1e4]
    router = ExpertRouter(order, wg, size, 0.5, {})
    rec: list = []
    y = routed_ffn(run, router, rec)(0, x)
    on = rec[0]
    assert on.shape == (5, 3)
    keep = torch.zeros(5, f)
    for t in range(5):
        for e in range(3):
            if on[t, e]:
                keep[t, order[0, e * size:(e + 1) * size]] = 1
    np.testing.assert_allclose(y, _ffn(run, x, keep), rtol=1e-5, atol=1e-4)
    # all experts on is the model's own FFN; all off contributes nothing
    router.weight[:] = 0
    router.tau = 0.4
    np.testing.assert_allclose(routed_ffn(run, router)(0, x), _ffn(run, x, 1.0), rtol=1e-5, atol=1e-4)
    router.tau = 0.6
    assert float(routed_ffn(run, router)(0, x).abs().max()) == 0.0


@pytest.mark.slow
def test_smollm2_lte_real_traffic_replays_the_recorded_experts(conversion_cache):
    """A run builds the router once (cached), replays its recorded decisions, and the dense
    units run exactly the active experts: counted here from gates.npy by hand."""
    card = load_card(CARD)
    r = neurosim.run(card, "loihi2", tokens=6, context=64)
    assert r.traffic == "real"
    prov = r.provenance["traffic"]
    assert prov["kind"] == "real" and prov["text"]["name"] == "pydoc-eval"
    path = next((conversion_cache / "routers").glob(f"{CARD}-*"))
    router = load_router(path)
    gates = np.asarray(load_gates(router))
    a = card.architecture
    L, E, d, dkv, f = a.layers, a.d_ffn // 32, a.d_model, a.d_kv, a.d_ffn
    assert gates.shape == (card.spiking.router.evaluation_tokens, L * E)
    ev = router.meta["evaluation"]
    assert ev["active"] == pytest.approx(gates.mean())
    assert ev["ppl_full"] < ev["ppl_routed"]  # a frozen model loses quality when experts are off
    for i in range(6):
        active = gates[i].reshape(L, E).sum(1)          # active experts per layer
        pos = i + 1                                     # positions attended
        per_layer = (d * (2 * d + 2 * dkv)              # q, k, v, o projections
                     + 2 * d * pos                      # Q K^T and P V
                     + d * E)                           # router
        expected = L * per_layer + 3 * d * 32 * active.sum() + d * a.vocab
        assert r.tokens["dense_macs"].iloc[i] == expected
        assert r.tokens["events"].iloc[i] == gates[i].sum()
    dense = L * (d * (2 * d + 2 * dkv) + 2 * d + 3 * d * f) + d * a.vocab  # all experts, no router
    assert r.tokens["dense_equivalent_macs"].iloc[0] == dense


@pytest.mark.slow
def test_lte_router_cli_and_a_damaged_router(cli, conversion_cache):
    res = cli("run", "--model", CARD, "--profile", "loihi2", "--tokens", "2", "--context", "64")
    assert res.code == 0, res.err
    assert "real traffic (trace of 512 tokens of pydoc-eval)" in res.out
    res = cli("lte-router", "--model", CARD, "--json")
    assert res.code == 0, res.err
    meta = res.json()
    assert meta["experts"] == 48 and meta["training"]["eta"] == load_card(CARD).spiking.router.eta
    assert len(meta["evaluation"]["active_per_layer"]) == 30
    gates = conversion_cache / "routers" / meta["path"].rsplit("/", 1)[1] / "gates.npy"
    data = gates.read_bytes()
    try:
        gates.write_bytes(data[:-10])
        with pytest.raises(InputError, match="SHA-256 mismatch"):
            load_router(gates.parent)
    finally:
        gates.write_bytes(data)


def test_lte_card_without_sparsity_or_router_is_refused(tmp_path):
    import yaml

    from neurosim.cards import cards_dir

    raw = yaml.safe_load((cards_dir() / "lte-llama-7b.yaml").read_text())
    del raw["spiking"]["sparsity"]
    f = tmp_path / "no-sparsity.yaml"
    raw["name"] = "no-sparsity"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match="spiking.sparsity"):
        load_card(f)
    raw["spiking"]["sparsity"] = [0.5] * 3
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match="one expert sparsity per layer"):
        load_card(f)


def test_synthetic_traffic_on_the_router_card_is_refused_in_one_line(cli):
    res = cli("run", "--model", CARD, "--profile", "loihi2", "--traffic", "synthetic")
    assert res.code == 2
    assert "spiking.sparsity" in res.err and len(res.err.strip().splitlines()) == 1
