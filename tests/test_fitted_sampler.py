"""Fitted synthetic traffic: the numba sampler against a slow, obvious reference (SplitMix64
and the inverse CDF written with numpy's wrapping uint64 arithmetic and searchsorted, group
by group), its event counts against counting its codes, and both on 1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.api import compile_graph
from neurosim.cards import load_card
from neurosim.kernels.replay import _chunk_events
from neurosim.kernels.sample import ONE, _codes, _direct, _events_segments, _step_limits, _token_key
from neurosim.threads import using
from neurosim.traffic.fitted import FittedTraffic, _thresholds, load_fit
from neurosim.traffic.gif import gif_steps

GOLDEN, M1, M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def mix64(z):
    """SplitMix64's finaliser on numpy uint64 (wrapping) or Python ints."""
    if isinstance(z, int):
        z &= 2**64 - 1
        z = ((z ^ (z >> 30)) * M1) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * M2) & (2**64 - 1)
        return z ^ (z >> 31)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(M2)
    return z ^ (z >> np.uint64(31))


def reference_draws(seed: int, position: int, width: int) -> np.ndarray:
    """Channel ``c``: the high (even ``c``) or low (odd ``c``) half of
    ``mix64(key + (c // 2 + 1)·GOLDEN)``, ``key = mix64(mix64(seed + GOLDEN) ^ position)``."""
    key = mix64(mix64(seed + GOLDEN) ^ position)
    pair = np.arange(width, dtype=np.uint64) // np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        x = mix64(np.uint64(key) + pair * np.uint64(GOLDEN))
    high = (x >> np.uint64(32)).astype(np.int64)
    low = (x & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return np.where(np.arange(width) % 2 == 0, high, low)


def reference_codes(graph, fit, abits: int, seed: int, position: int) -> np.ndarray:
    """Codes of one token: each group's draws through searchsorted on its integer CDF
    ``floor(2^32·cumsum(p))`` (its last entry left out), the salient CDF on salient channels."""
    rng = np.random.default_rng([seed, 0])
    u = reference_draws(seed, position, sum(g.size for g in graph.groups))
    rows, lo = [], 0
    for g in graph.groups:
        base, sal = fit.probabilities(g.site, g.layer, graph.layers)
        top = g.max_steps * (2**abits - 1)
        sal = sal[: top + 1] / sal[: top + 1].sum()
        mask = np.zeros(g.size, bool)
        mask[rng.choice(g.size, g.salient, replace=False)] = True
        row = np.empty(g.size, np.int64)
        for is_sal, p in ((False, base), (True, sal)):
            cdf = np.minimum(np.floor(np.cumsum(p) * 2.0**32), 2.0**32)[:-1]
            pick = mask == is_sal
            row[pick] = np.searchsorted(cdf, u[lo:lo + g.size][pick], side="right")
        rows.append(row)
        lo += g.size
    max_steps = max(g.max_steps for g in graph.groups)
    return gif_steps(np.concatenate(rows).astype(np.int16), abits, max_steps)


def test_token_key_is_splitmix64():
    for seed, position in ((0, 0), (3, 517), (2**40, 2**62)):
        assert int(_token_key(seed, position)) == mix64(mix64(seed + GOLDEN) ^ position)


@pytest.mark.parametrize("model", ["spikellm-tiny", "spikellm-7b"])
def test_fitted_codes_equal_the_reference(model):
    card = load_card(model)
    graph = compile_graph(card)
    fit = load_fit(card.traffic.fit)
    for seed in (0, 3):
        src = FittedTraffic(graph, fit, card.spiking.abits, seed)
        for position in (0, 1, 517):
            want = reference_codes(graph, fit, card.spiking.abits, seed, position)
            for threads in (1, 2):
                with using(threads):
                    assert np.array_equal(src.codes(position), want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40), st.integers(0, 2**63 - 1),
       st.integers(0, 50), st.integers(1, 300))
def test_code_lookup_equals_searchsorted(weights, key, lo, n):
    # any histogram, codes of any channel range: the direct lookup with its fallback search
    # gives searchsorted's code on the integer CDF
    p = np.asarray(weights) + np.asarray([1e-9 if i % 3 else 0.0 for i in range(len(weights))])
    if p.sum() == 0:
        p[0] = 1.0
    p = p / p.sum()
    thr = _thresholds(p)
    start, length = np.array([0, 0], np.int64), np.array([len(thr), len(thr)], np.int64)
    salient = np.zeros(lo + n, np.uint8)
    out = np.zeros((1, lo + n), np.int8)
    m = 127
    _codes(np.uint64(key), np.array([[lo], [lo + n], [0]], np.int64), salient, thr, start,
           length, _direct(thr, start, length), m, out)
    pair = np.arange(lo, lo + n, dtype=np.uint64) // np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        h = mix64(np.uint64(key) + pair * np.uint64(GOLDEN))
    u = np.where(np.arange(lo, lo + n) % 2 == 0, (h >> np.uint64(32)).astype(np.int64),
                 (h & np.uint64(0xFFFFFFFF)).astype(np.int64))
    want = np.minimum(np.searchsorted(thr[:-1], u, side="right"), m)
    assert out[0, lo:].tolist() == want.tolist()
    assert thr[-1] == ONE


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 2**20), st.data())
def test_event_counts_equal_counting_the_codes(seed, position, data):
    # any partition of the channels into ranges, any of them unary, any subset counted
    card = load_card("spikellm-tiny")
    graph = compile_graph(card)
    src = FittedTraffic(graph, load_fit(card.traffic.fit), card.spiking.abits, seed % 7)
    width = src.width
    cuts = sorted(set(data.draw(st.lists(st.integers(0, width), max_size=12))) | {0, width})
    bounds = np.array(cuts, np.int64)
    k = len(bounds) - 1
    unary = np.array(data.draw(st.lists(st.booleans(), min_size=k, max_size=k)))
    ranges = np.array(data.draw(st.lists(st.booleans(), min_size=k, max_size=k)))
    positions = [position, position + 1, position + 7]
    want = np.stack([_chunk_events(src.codes(p), bounds, unary) for p in positions])
    for threads in (1, 2):
        with using(threads):
            assert np.array_equal(src.event_counter(bounds, unary)(positions), want)
            part = src.event_counter(bounds, unary, ranges)(positions)
            assert np.array_equal(part[:, :, ranges], want[:, :, ranges])
            assert not part[:, :, ~ranges].any()


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**63 - 1), st.data())
def test_event_kernel_equals_counting_codes_at_any_steps(steps, abits, key, data):
    # random tables of codes 0..steps·m, random segments (odd and even ends), unary or not
    m = 2**abits - 1
    groups = data.draw(st.integers(1, 3))
    tables = []
    for _ in range(2 * groups):
        w = np.asarray(data.draw(st.lists(st.floats(0.0, 1.0), min_size=steps * m + 1,
                                          max_size=steps * m + 1))) + 1e-3
        tables.append(_thresholds(w / w.sum()))
    thr = np.concatenate(tables)
    length = np.array([len(t) for t in tables], np.int64)
    start = np.cumsum(length) - length
    sizes = data.draw(st.lists(st.integers(0, 40), min_size=groups, max_size=groups))
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    width = int(bounds[-1])
    salient = np.array(data.draw(st.lists(st.integers(0, 1), min_size=width, max_size=width)),
                       np.uint8)
    direct = _direct(thr, start, length)
    rows = []
    for g in range(groups):  # each group cut into segments at random points
        inner = sorted(set(data.draw(st.lists(st.integers(int(bounds[g]), int(bounds[g + 1])),
                                              max_size=4))))
        cuts = [int(bounds[g]), *inner, int(bounds[g + 1])]
        for a, b in zip(cuts[:-1], cuts[1:]):
            rows.append((a, b, 2 * g, data.draw(st.integers(0, 1))))
    seg = np.array(rows, np.int64).reshape(-1, 4).T.copy()
    codes = np.zeros((steps, width), np.int8)
    _codes(np.uint64(key), seg[:3].copy(), salient, thr, start, length, direct, m, codes)
    limits = _step_limits(thr, start, length, m, max(2, steps))
    sal_idx = np.flatnonzero(salient).astype(np.int64)
    seg = np.vstack([seg, np.searchsorted(sal_idx, seg[0]), np.searchsorted(sal_idx, seg[1])])
    got = np.full((steps, seg.shape[1]), -1, np.int64)
    _events_segments(0, seg.shape[1], np.uint64(key), seg, salient, sal_idx, thr, start, length,
                     direct, limits, m, got)
    for j, (a, b, _, unary) in enumerate(rows):
        block = codes[:, a:b].astype(np.int64)
        want = block.sum(axis=1) if unary else (block != 0).sum(axis=1)
        assert got[:, j].tolist() == want.tolist()
