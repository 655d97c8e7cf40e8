"""Hardware co-design sweeps: many (model, profile, numbers) points, one Parquet table.

``neurosim.sweeps(spec)`` runs a spec (:mod:`neurosim.sweeps.spec`) on Dask and returns a row
per point; with ``out`` the rows are written as points finish and a rerun resumes.  Points
that differ only in prices share one replay and are re-priced
(:mod:`neurosim.sweeps.engine`).  :func:`pareto_front` picks the non-dominated points and
:func:`neurosim.sweeps.sensitivity.sensitivity` ranks a profile's assumed numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim._version import __version__
from neurosim.errors import InputError
from neurosim.sweeps import engine
from neurosim.sweeps.points import Point, enumerate_points
from neurosim.sweeps.spec import MAX_POINTS, SpecError, Sweep, load_spec
from neurosim.sweeps.store import Store
from neurosim.sweeps.store import frame as store_frame

Progress = Callable[[int, int, int], None]
"""``progress(done, failed, total)``, called as points finish."""

__all__ = ["sweep", "run_points", "pareto_front", "load_spec", "Sweep", "SpecError"]


def sweep(spec: str | os.PathLike | dict | Sweep, *, out: str | os.PathLike | None = None,
          scheduler: str | None = None, workers: int | None = None, retry_failed: bool = False,
          yes: bool = False, reuse: bool = True, progress: Progress | None = None) -> pd.DataFrame:
    """Run every point of ``spec`` (a YAML file, a mapping, or a loaded :class:`Sweep`).

    ``scheduler``: ``tcp://host:port`` of a running Dask scheduler, ``"inline"`` for this
    process, or None for a new LocalCluster of ``workers`` processes (default one per core).
    ``out``: the results directory (see :mod:`neurosim.sweeps.store`); a rerun resumes, and
    retries failed points only with ``retry_failed``.  More than :data:`MAX_POINTS` points
    need ``yes``.  ``reuse=False`` replays every point on its own (for timing only).
    Returns a row per point, in spec order.
    """
    sw = spec if isinstance(spec, Sweep) else load_spec(spec)
    n = sw.size()
    if n > MAX_POINTS and not yes:
        raise SpecError(sw.file, None, f"the sweep has {n:,} points",
                        expected=f"at most {MAX_POINTS:,}, or --yes to run them all")
    meta = {"spec": sw.spec.model_dump(mode="json"), "points": n,
            "neurosim_version": __version__}
    return run_points(enumerate_points(sw), sw, meta, out=out, scheduler=scheduler,
                      workers=workers, retry_failed=retry_failed, reuse=reuse, progress=progress)


def run_points(points: list[Point], sw: Sweep, meta: dict[str, Any], *,
               out: str | os.PathLike | None = None, scheduler: str | None = None,
               workers: int | None = None, retry_failed: bool = False, reuse: bool = True,
               progress: Progress | None = None) -> pd.DataFrame:
    """Run ``points`` of ``sw`` (see :func:`sweep`); rows as a DataFrame in point order."""
    cols = engine.columns(sw.inputs(), list(sw.profiles.values()), sw.baselines)
    store = Store(out, sw.sha256) if out is not None else None
    if store is not None:
        store.check()
    client = None if scheduler == "inline" else engine.connect(scheduler, workers)
    rows: list[dict[str, Any]] = []
    try:
        done: dict[str, str] = {}
        if store is not None:
            store.open(meta, cols)
            if retry_failed:
                store.drop_failed()
            done = store.finished()
        todo = [p for p in points if p.id not in done]
        counts = [len(points) - len(todo), sum(s != "ok" for s in done.values())]

        def emit(batch: list[dict[str, Any]]) -> None:
            if store is not None:
                store.write(batch)
            else:
                rows.extend(batch)
            counts[0] += len(batch)
            counts[1] += sum(r["status"] != "ok" for r in batch)
            if progress is not None:
                progress(counts[0], counts[1], len(points))

        if progress is not None:
            progress(counts[0], counts[1], len(points))
        groups, failed = engine.plan(todo, sw.cards, sw.profiles, reuse=reuse)
        if failed:
            emit(failed)
        engine.execute(groups, sw.baselines, emit, client)
    finally:
        if client is not None:
            engine.close(client)
        if store is not None:
            store.close()
    if store is not None:
        frame = pd.read_parquet(Path(out))
        frame = frame[frame["point_id"].isin({p.id for p in points})]
    else:
        frame = store_frame(rows, cols)
    return frame.sort_values("point", kind="stable").reset_index(drop=True)


def pareto_front(frame: pd.DataFrame, x: str, y: str, by: str | None = None) -> pd.DataFrame:
    """The rows of ``frame`` (status ok) that no other row of their ``by`` group beats in
    both ``x`` and ``y`` (smaller is better), sorted by ``x``; ties in both are all kept."""
    for col in (x, y, *([by] if by else [])):
        if col not in frame.columns:
            raise InputError("pareto", col, "no such column", got=col,
                             expected="one of " + ", ".join(c for c in frame.columns))
    for col in (x, y):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise InputError("pareto", col, "not a numeric column", got=col,
                             expected="a column of numbers, e.g. latency_s, energy_j, chips")
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    ok = ok[np.isfinite(ok[x].astype(float)) & np.isfinite(ok[y].astype(float))]
    keep = []
    for _, g in (ok.groupby(by, sort=True) if by else [(None, ok)]):
        g = g.sort_values([x, y], kind="stable")
        best = np.inf
        last = None
        for idx, xv, yv in zip(g.index, g[x].to_numpy(float), g[y].to_numpy(float)):
            if yv < best or (last is not None and (xv, yv) == last):
                keep.append(idx)
                best = min(best, yv)
                last = (xv, yv)
    return ok.loc[keep].sort_values([*([by] if by else []), x], kind="stable")
