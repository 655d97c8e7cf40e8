"""Fitted synthetic traffic: the numba inverse-CDF sampler against a slow, obvious reference
(numpy's searchsorted, group by group, as the sampler was first written)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.api import compile_graph
from neurosim.cards import load_card
from neurosim.kernels.sample import _guides, _inverse_cdf
from neurosim.traffic.fitted import FittedTraffic, load_fit
from neurosim.traffic.gif import gif_steps


def reference_codes(graph, fit, abits: int, seed: int, position: int) -> np.ndarray:
    """Codes of one token: for each group in order, ``size`` uniform draws, each through
    numpy's searchsorted on the group's base CDF, or its salient CDF on salient channels."""
    rng = np.random.default_rng([seed, 0])
    groups = []
    for g in graph.groups:
        base, sal = fit.probabilities(g.site, g.layer, graph.layers)
        top = g.max_steps * (2**abits - 1)
        sal = sal[: top + 1] / sal[: top + 1].sum()
        mask = np.zeros(g.size, bool)
        mask[rng.choice(g.size, g.salient, replace=False)] = True
        groups.append((g.size, mask, np.cumsum(base), np.cumsum(sal)))
    draw = np.random.default_rng([seed, 1, position])
    rows = []
    for size, mask, cdf_b, cdf_s in groups:
        u = draw.random(size)
        row = np.minimum(np.searchsorted(cdf_b, u, side="right"), len(cdf_b) - 1)
        row[mask] = np.minimum(np.searchsorted(cdf_s, u[mask], side="right"), len(cdf_s) - 1)
        rows.append(row)
    max_steps = max(g.max_steps for g in graph.groups)
    return gif_steps(np.concatenate(rows).astype(np.int16), abits, max_steps)


@pytest.mark.parametrize("model", ["spikellm-tiny", "spikellm-7b"])
def test_fitted_codes_equal_the_reference(model):
    card = load_card(model)
    graph = compile_graph(card)
    fit = load_fit(card.traffic.fit)
    for seed in (0, 3):
        src = FittedTraffic(graph, fit, card.spiking.abits, seed)
        for position in (0, 1, 517):
            assert np.array_equal(src.codes(position),
                                  reference_codes(graph, fit, card.spiking.abits, seed, position))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=9), min_size=1, max_size=5),
       st.lists(st.tuples(st.integers(0, 4), st.floats(0.0, 1.0, exclude_max=True)),
                min_size=1, max_size=60))
def test_inverse_cdf_kernel_equals_searchsorted(weights, draws):
    cdfs = []
    for w in weights:
        p = np.asarray(w) + 1e-3
        cdfs.append(np.cumsum(p / p.sum()))
    table = np.array([t % len(cdfs) for t, _ in draws], np.int64)
    u = np.array([x for _, x in draws])
    length = np.array([len(c) for c in cdfs], np.int64)
    start = np.cumsum(length) - length
    out = np.empty(len(u), np.int16)
    flat = np.concatenate(cdfs)
    _inverse_cdf(u, table, flat, start, length, _guides(flat, start, length), out)
    expect = [min(np.searchsorted(cdfs[t], x, side="right"), len(cdfs[t]) - 1)
              for t, x in zip(table, u)]
    assert out.tolist() == expect
