"""The numba replay equals a slow, obviously correct reference on random graphs (hypothesis).

The reference walks every step, channel and destination tile one at a time, recomputing
core coordinates and distances from the placement itself.
"""

from __future__ import annotations

import numpy as np
from engine_helpers import front, fronts, make_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim.graph.ir import EventGraph, NeuronGroup, SynapseBlock
from neurosim.kernels.replay import _slice_front, _tile_synops
from neurosim.mapping import map_graph
from neurosim.replay.engine import Replayer
from neurosim.replay.plan import build_plan
from neurosim.threads import using


def column_split(fanout, c, row_bounds):
    """Nonzeros of column ``c`` on each row tile: proportional to rows, the first tiles
    taking the remainder one by one."""
    rows = [int(row_bounds[r + 1] - row_bounds[r]) for r in range(len(row_bounds) - 1)]
    c_out = sum(rows)
    if fanout is None:
        return rows
    f = int(fanout[c])
    parts = [f * n // c_out for n in rows]
    for r in range(f - sum(parts)):
        parts[r] += 1
    return parts


def reference(graph, mapping, profile, token_codes):
    """Per-block events, synops, active/inactive updates, messages, hops, crossings."""
    cols, rows = profile.chip.core_mesh.value
    per_chip = mapping.cores_per_chip
    gx = mapping.chip_grid[0]
    multicast = profile.network.routing == "multicast"
    payload = int(profile.core.graded_payload_bits.value)
    time_driven = profile.core.neuron_update == "time_driven"

    def where(core):
        chip, local = divmod(int(core), per_chip)
        cx, cy = chip % gx, chip // gx
        return chip, cx, cy, cx * cols + local % cols, cy * rows + local // cols

    out = []
    offset = 0
    for g, b in zip(graph.groups, graph.blocks):
        bp = mapping.blocks[b.name]
        multi_level = g.code_bits > (2 if g.signed else 1)
        unary = multi_level and g.code_bits > payload
        ev = syn = act = inact = msgs = hops = cross = 0
        for s in range(g.max_steps):
            got_input = set()
            for c in range(g.size):
                code = int(token_codes[s, offset + c])
                if code == 0:
                    continue
                n = abs(code) if unary else 1
                k = int(np.searchsorted(bp.col_bounds, c, side="right") - 1)
                dests = [bp.tile_core[r, k] for r in range(bp.n_row)]
                src = where(bp.tile_core[0, k])  # the chunk's first row tile sends it
                ev += n
                for r, fan in enumerate(column_split(b.fanout, c, bp.row_bounds)):
                    syn += n * fan
                    if fan:
                        got_input.add((r, k))
                if multicast:
                    by_chip = {}
                    for dcore in dests:
                        by_chip.setdefault(where(dcore)[0], []).append(where(dcore))
                    for ws in by_chip.values():
                        near = min(ws, key=lambda w: abs(w[3] - src[3]) + abs(w[4] - src[4]))
                        xs, ys = [w[3] for w in ws], [w[4] for w in ws]
                        msgs += n
                        hops += n * (abs(near[3] - src[3]) + abs(near[4] - src[4])
                                     + max(xs) - min(xs) + max(ys) - min(ys))
                        cross += n * (abs(near[1] - src[1]) + abs(near[2] - src[2]))
                else:
                    for dcore in dests:
                        d = where(dcore)
                        msgs += n
                        hops += n * (abs(d[3] - src[3]) + abs(d[4] - src[4]))
                        cross += n * (abs(d[1] - src[1]) + abs(d[2] - src[2]))
            for r in range(bp.n_row):
                for k in range(bp.n_col):
                    size = int(bp.row_bounds[r + 1] - bp.row_bounds[r])
                    if (r, k) in got_input:
                        act += size
                    elif time_driven:
                        inact += size
        out.append((ev, syn, act, inact, msgs, hops, cross))
        offset += g.size
    return out


@st.composite
def cases(draw):
    n_blocks = draw(st.integers(1, 3))
    groups, blocks = [], []
    for i in range(n_blocks):
        c_in, c_out = draw(st.integers(1, 24)), draw(st.integers(1, 24))
        steps = draw(st.sampled_from([1, 2, 4]))
        kind = draw(st.sampled_from(["binary", "ternary", "graded"]))
        bits, signed, model = {"binary": (1, False, "lif"), "ternary": (2, True, "ternary"),
                               "graded": (4, False, "gif")}[kind]
        g = NeuronGroup(f"L{i}.g", i, "x", model, c_in, steps, 1 if steps > 1 else 0, bits,
                        signed=signed)
        groups.append(g)
        fanout = None
        if draw(st.booleans()):
            fanout = np.array(draw(st.lists(st.integers(0, c_out), min_size=c_in, max_size=c_in)))
        blocks.append(SynapseBlock(f"L{i}.b", i, "x", g.name, c_in, c_out,
                                   draw(st.sampled_from([1, 4, 8])), fanout=fanout))
    graph = EventGraph("rand", "llama", groups, blocks, [], [[g.name, b.name] for g, b in
                                                              zip(groups, blocks)], [])
    profile = make_profile(
        neurons=draw(st.integers(1, 16)), fan_in=draw(st.integers(1, 16)),
        mem_kib=draw(st.sampled_from([0.05, 0.2, 1.0, 64.0])), state_bits=8,
        cores=draw(st.integers(1, 6)), mesh=(3, 2), payload=draw(st.sampled_from([0, 8])),
        routing=draw(st.sampled_from(["unicast", "multicast"])),
        update=draw(st.sampled_from(["time_driven", "event_driven"])), max_chips=4096,
    )
    max_steps = max(g.max_steps for g in groups)
    width = sum(g.size for g in groups)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    token = np.zeros((max_steps, width), np.int8)
    off = 0
    for g in groups:
        density = rng.random()
        lo, hi = (-1, 1) if g.signed else (0, 2**g.code_bits - 1)
        vals = rng.integers(lo, hi + 1, (g.max_steps, g.size))
        token[: g.max_steps, off:off + g.size] = np.where(rng.random(vals.shape) < density, vals, 0)
        off += g.size
    return graph, profile, token


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_numba_replay_equals_reference(case):
    graph, profile, token = case
    mapping = map_graph(graph, profile, context=4)
    plan = build_plan(graph, mapping, int(profile.core.graded_payload_bits.value))
    tc = Replayer(plan, profile.core.neuron_update == "time_driven").token(token, 0)
    fast = list(zip(tc.events, tc.synops, tc.updates_active, tc.updates_inactive, tc.messages,
                    tc.hops, tc.crossings))
    slow = reference(graph, mapping, profile, token)
    assert [tuple(int(v) for v in row) for row in fast] == slow


def array_token(plan, time_driven: bool, ce: np.ndarray, sparse: np.ndarray | None) -> dict:
    """A token's counters by whole-array numpy operations on (step, tile) and (step, chunk)
    arrays; ``ce`` (S, K) the events per step and chunk, attention chunks already the
    cache's; ``sparse`` (S, n) the synops of the per-column fan-out tiles."""
    steps = ce.shape[0]
    ev_tile = ce[:, plan.tile_chunk]
    syn_tile = ev_tile * plan.tile_fanout
    if sparse is not None:
        syn_tile[: sparse.shape[0], plan.sparse_tiles] = sparse
    step_on = np.arange(steps)[:, None] < plan.block_steps[plan.tile_block][None, :]
    received = (syn_tile > 0) & step_on
    active = received * plan.tile_rows
    inactive = (step_on & ~received) * plan.tile_rows if time_driven else 0 * active
    ft, fc = plan.block_first_tile, plan.block_first_chunk
    total = ce.sum(axis=0)
    synops = np.add.reduceat(syn_tile.sum(axis=0), ft)
    out = {"events": np.add.reduceat(total, fc), "synops": synops,
           "synops_graded": np.where(plan.block_graded, synops, 0),
           "updates_active": np.add.reduceat(active.sum(axis=0), ft),
           "updates_inactive": np.add.reduceat(inactive.sum(axis=0), ft)}
    for name, per in (("messages", plan.chunk_msgs), ("hops", plan.chunk_hops),
                      ("crossings", plan.chunk_cross), ("exits", plan.chunk_exits)):
        out[name] = np.add.reduceat(total * per, fc)
    spikes_out = np.where(plan.tile_source[None, :], ev_tile, 0)
    busy = np.stack([ev_tile, syn_tile, active, inactive, spikes_out], axis=2)
    out["busy_rows"], out["busy_count"] = fronts(busy, np.append(ft, plan.n_tiles),
                                                  plan.block_steps)
    on = ce > 0
    path = np.stack([plan.chunk_path_hops[None, :] * on, plan.chunk_path_cross[None, :] * on],
                    axis=2)
    out["path_rows"], out["path_count"] = fronts(path, np.append(fc, plan.n_chunks),
                                                  plan.block_steps)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.integers(1, 2), st.integers(0, 5))
def test_token_kernel_equals_array_reference(case, threads, cached):
    # every field of a token, fronts included, against whole-array numpy, on 1 and 2 threads,
    # after ``cached`` earlier tokens filled the attention counts
    graph, profile, token = case
    mapping = map_graph(graph, profile, context=4)
    plan = build_plan(graph, mapping, int(profile.core.graded_payload_bits.value))
    time_driven = profile.core.neuron_update == "time_driven"
    rep = Replayer(plan, time_driven)
    for _ in range(cached):
        rep.prefix(token)
    kv = rep.kv_cum.copy()
    ce = rep.events(token)
    ce = np.vstack([ce, np.zeros((rep.max_steps - ce.shape[0], plan.n_chunks), np.int64)])
    ce[:, plan.chunk_kv] += kv[:, plan.chunk_kv]
    sparse = None
    if len(plan.sparse_tiles):
        sparse = _tile_synops(token, plan.tile_chunk[plan.sparse_tiles], plan.chunk_start,
                              plan.chunk_unary, plan.sparse_start, plan.sparse_fan)
    want = array_token(plan, time_driven, ce, sparse)
    with using(threads):
        got = rep.token(token, 0)
    for name, value in want.items():
        assert np.array_equal(getattr(got, name), value), name


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 120), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_slice_front_equals_reference(n, d, seed):
    # few rows (insertion sort) and many (argsort), with ties and repeats
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 4, (n, d)).astype(np.int64)
    out = np.empty((max(n, 1), d), np.int64)
    m = _slice_front(rows, n, np.empty(max(n, 1), np.int64), np.empty(max(n, 1), np.int64),
                     out, 0)
    assert np.array_equal(out[:m], front(rows))
