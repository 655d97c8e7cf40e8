"""Sweep execution: points grouped by what they share, replayed once per group, priced per
point, on Dask (a LocalCluster or a running scheduler) or inline.

Two points share a *replay* when they run the same card (by content) at the same position,
tokens, seed and context on profiles of one name and kind that place the graph identically
(the same :func:`~neurosim.mapping.place.mapping_inputs`): their counters are equal, and
each point is only a re-pricing of them (:func:`neurosim.estimate.price`).  Workers keep
the compiled graphs and mappings they made, keyed by content hash, so replays of one card at
other positions or seeds share the graph, and those of one mapping share the placement.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim import estimate
from neurosim.api import compile_graph as _compile
from neurosim.api import count_run, fit_context
from neurosim.cards import ModelCard, card_hash
from neurosim.errors import InputError, NeurosimError
from neurosim.hardware import Profile, profile_hash
from neurosim.mapping import map_graph
from neurosim.mapping.place import mapping_inputs
from neurosim.sweeps.points import Point, build
from neurosim.threads import using

SCHEDULER_TIMEOUT_S = 10
CHUNK = 64
"""Most points priced by one task."""

# --- the columns of a sweep ------------------------------------------------------------


def columns(inputs: list[tuple[str, str]], profiles: list[Profile],
            baselines: tuple[Profile, ...]) -> list[tuple[str, str]]:
    """(name, type) of every column, type one of ``int``, ``float``, ``str``: the point's
    ``inputs`` (axes by path), outputs, the estimator columns of every profile kind in the
    sweep, baselines, hashes."""
    cols = [("point", "int"), ("point_id", "str"), ("model", "str"), ("profile", "str"),
            ("position", "int"), ("tokens", "int"), ("seed", "int"), *inputs,
            ("status", "str"), ("error", "str"),
            ("energy_j", "float"), ("latency_s", "float"), ("tokens_per_s", "float"),
            ("chips", "int"), ("cores", "int"), ("events", "float"), ("synops", "float"),
            ("synops_graded", "float"), ("dense_equivalent_macs", "float")]
    seen = {c for c, _ in cols}
    for p in profiles:
        for c in estimate.columns(p):
            if c not in seen:
                cols.append((c, "float"))
                seen.add(c)
    for b in baselines:
        cols += [(f"baseline:{b.name}:energy_j", "float"), (f"baseline:{b.name}:latency_s", "float")]
    cols += [("traffic", "str"), ("card_sha256", "str"), ("profile_sha256", "str")]
    return cols


def _inputs(p: Point) -> dict[str, Any]:
    return {"point": p.index, "point_id": p.id, "model": p.model, "profile": p.profile,
            "position": p.position, "tokens": p.tokens, "seed": p.seed,
            **(p.overrides if p.record is None else p.record)}


def failed_row(p: Point, error: str) -> dict[str, Any]:
    return {**_inputs(p), "status": "failed", "error": error}


# --- worker side -------------------------------------------------------------------------


class _Lru(OrderedDict):
    """A small least-recently-used cache."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key, make: Callable[[], Any]):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)
        return value


_GRAPHS = _Lru(4)
_MAPPINGS = _Lru(8)


@dataclass(frozen=True)
class Failure:
    """A replay that failed, with its one-line message."""

    error: str


def placement_key(prof: Profile) -> str:
    """What a replay reads of a profile besides prices: equal keys, equal counters."""
    if prof.kind != "neuromorphic":
        return prof.kind
    return json.dumps(mapping_inputs(prof), sort_keys=True, default=str)


def _message(exc: BaseException) -> str:
    if isinstance(exc, NeurosimError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def replay(card: ModelCard, prof: Profile, position: int, tokens: int, seed: int,
           context: int | None, threads: int | None = None):
    """The counters of one replay group, or a :class:`Failure`; on ``threads`` threads
    (default: the cores available)."""
    try:
        ctx = fit_context(card, position, tokens, context)
        chash = card_hash(card)
        graph = _GRAPHS.get_or(chash, lambda: _compile(card))
        mapping = None
        if prof.kind == "neuromorphic":
            mapping = _MAPPINGS.get_or((chash, placement_key(prof), ctx),
                                       lambda: map_graph(graph, prof, ctx))
        with using(threads):
            return count_run(card, prof, tokens=tokens, seed=seed, position=position,
                             context=ctx, graph=graph, mapping=mapping)
    except Exception as exc:  # a point's failure is recorded, the sweep goes on
        return Failure(_message(exc))


def _baselines(counters, profiles: tuple[Profile, ...]) -> dict[str, float]:
    frame = estimate.baselines(counters, list(profiles))
    out: dict[str, float] = {}
    for name, g in frame.groupby("profile"):
        out[f"baseline:{name}:energy_j"] = float(g["energy_j"].mean())
        out[f"baseline:{name}:latency_s"] = float(g["latency_s"].mean())
    return out


def price(counters, items: list[tuple[Point, Profile, str]],
          baselines: tuple[Profile, ...]) -> list[dict[str, Any]]:
    """A row per point of ``items`` (point, its profile, its card's sha256): ``counters``
    priced on the point's profile (means per token)."""
    if isinstance(counters, Failure):
        return [failed_row(p, counters.error) for p, *_ in items]
    c = counters
    shared = {
        "events": float(c["events"].sum(axis=1).mean()),
        "synops": float(c["synops"].sum(axis=1).mean()),
        "synops_graded": float(c["synops_graded"].sum(axis=1).mean()),
        "dense_equivalent_macs": float(c["dense_equivalent_macs"].mean()),
        "traffic": c.meta["provenance"]["traffic"].get("kind", c.meta["traffic_kind"]),
        "chips": c.meta["mapping"].get("chips"), "cores": c.meta["mapping"].get("cores"),
    }
    try:
        shared.update(_baselines(c, baselines))
    except Exception as exc:
        return [failed_row(p, _message(exc)) for p, *_ in items]
    rows = []
    for p, prof, chash in items:
        try:
            priced = estimate.price(c, prof)
        except Exception as exc:
            rows.append(failed_row(p, _message(exc)))
            continue
        t = priced.tokens
        means = {k: float(np.mean(v)) for k, v in t.items()}
        lat = means["latency_s"]
        row = {**_inputs(p), **shared, "status": "ok", "error": None, **means,
               "tokens_per_s": (1.0 / lat) if lat and math.isfinite(lat) else None,
               "card_sha256": chash, "profile_sha256": profile_hash(prof)}
        if "chips" in priced.mapping:
            row["chips"] = priced.mapping["chips"]
        if "cores" in priced.mapping:
            row["cores"] = priced.mapping["cores"]
        timed = prof.kind != "accounting"  # the literature accounting has no time
        bad = [k for k in ("energy_j", "latency_s")[:1 + timed] if not math.isfinite(row[k])]
        if bad:
            rows.append(failed_row(p, f"{prof.name}: {bad[0]} is not finite ({row[bad[0]]}) "
                                   "with these numbers"))
            continue
        rows.append(row)
    return rows


# --- planning ----------------------------------------------------------------------------


@dataclass
class Group:
    """Points that share one replay."""

    card: ModelCard
    profile: Profile
    position: int
    tokens: int
    seed: int
    context: int | None
    items: list[tuple[Point, Profile, str]] = field(default_factory=list)


def plan(points: list[Point], cards: dict[str, ModelCard], profiles: dict[str, Profile],
         *, reuse: bool = True) -> tuple[list[Group], list[dict[str, Any]]]:
    """Groups of points that share a replay, and the failed rows of points whose card or
    profile is invalid.  ``reuse=False``: every point its own group (for timing)."""
    groups: dict[Any, Group] = {}
    failed = []
    card_memo: dict[str, tuple[ModelCard, str]] = {}
    for p in points:
        try:
            card, prof = build(cards[p.model], profiles[p.profile], p.overrides)
        except NeurosimError as exc:
            failed.append(failed_row(p, str(exc)))
            continue
        on_card = json.dumps({k: v for k, v in sorted(p.overrides.items())
                              if k.startswith("model.")}, default=repr)
        memo_key = f"{p.model}|{on_card}"
        if memo_key not in card_memo:
            card_memo[memo_key] = (card, card_hash(card))
        card, chash = card_memo[memo_key]
        key = ((chash, prof.name, prof.kind, placement_key(prof), p.position, p.tokens, p.seed,
                p.context) if reuse else p.index)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(card, prof, p.position, p.tokens, p.seed, p.context)
        g.items.append((p, prof, chash))
    return list(groups.values()), failed


def _chunks(items: list, workers: int) -> Iterator[list]:
    """Pieces of at most :data:`CHUNK` items, at least ``2 x workers`` of them when there are
    enough items to keep every worker busy."""
    n = max(1, min(CHUNK, math.ceil(len(items) / (2 * max(1, workers)))))
    for i in range(0, len(items), n):
        yield items[i:i + n]


# --- execution ---------------------------------------------------------------------------


def connect(scheduler: str | None, workers: int | None):
    """A Dask client: of a running scheduler (``tcp://host:port``), or of a new LocalCluster
    of ``workers`` processes (default: one per core).  Refuses an unreachable scheduler
    within :data:`SCHEDULER_TIMEOUT_S` seconds."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--scheduler", None, "sweeps need dask.distributed, which is not "
                         "installed", expected="pip install 'neurosim[sweep]', or --scheduler "
                         "inline") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError("--scheduler", None, f"cannot reach the scheduler within "
                             f"{SCHEDULER_TIMEOUT_S} s: {str(exc).splitlines()[0][:120]}",
                             got=scheduler, expected="the address of a running dask "
                             "scheduler, tcp://HOST:PORT") from None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster)


def close(client) -> None:
    """Close a client of :func:`connect`, and its LocalCluster if it made one."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def execute(groups: list[Group], baselines: tuple[Profile, ...], emit: Callable[[list[dict]], None],
            client=None) -> None:
    """Replay every group once and price its points, calling ``emit(rows)`` as each piece
    finishes; on ``client`` (Dask) or, without one, in this process."""
    if client is None:
        for g in groups:
            counters = replay(g.card, g.profile, g.position, g.tokens, g.seed, g.context)
            for chunk in _chunks(g.items, 1):
                emit(price(counters, chunk, baselines))
        return
    from distributed import as_completed

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    futures = []
    for g in groups:
        c = client.submit(replay, g.card, g.profile, g.position, g.tokens, g.seed, g.context,
                          1, pure=False)  # a worker per core, a thread per worker
        futures += [client.submit(price, c, chunk, baselines, pure=False)
                    for chunk in _chunks(g.items, workers)]
    for fut in as_completed(futures):
        emit(fut.result())
        fut.release()

