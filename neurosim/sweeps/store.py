"""A sweep's results on disk: one Parquet dataset, written as points finish.

``DIR/part-NNNNNN-XXXXXXXX.parquet``  rows of finished points (ok or failed), every part with
                                      the sweep's full column schema
``DIR/_sweep.json``                   the spec, its sha256, the columns, the point count
``DIR/_manifest.json``                the parts, with their row counts (rewritten at most every
                                      2 s and at the end; a rerun trusts the parts themselves)

``pandas.read_parquet(DIR)`` reads every part (names starting with ``_`` or ``.`` are not
data).  A part is written under a hidden name and renamed into place, so a part either holds
all its rows or does not exist: a sweep killed at any moment keeps every point it finished
and none twice, and a rerun computes only the points no part holds.  One sweep at a time
writes into a directory (an advisory lock, released when the process ends).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from neurosim.errors import InputError

_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
SWEEP, MANIFEST, LOCK = "_sweep.json", "_manifest.json", "_lock"


class Store:
    """The results directory of one sweep (identified by its spec sha256)."""

    MANIFEST_EVERY_S = 2.0
    """The manifest is rewritten at most this often while parts arrive, and on close."""

    def __init__(self, out: str | os.PathLike, sweep_sha256: str) -> None:
        self.out, self.sha = Path(out), sweep_sha256
        self._lock_fd: int | None = None
        self._manifest_at = 0.0
        self.parts: dict[str, int] = {}

    def check(self) -> None:
        """Refuse a directory that is not this sweep's (without writing anything)."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise InputError(str(out), None, "exists and is not a directory",
                             expected="a directory for the sweep's results")
        if not out.is_dir() or not any(f.name != LOCK and not f.name.startswith(".")
                                       for f in out.iterdir()):
            return  # new, empty, or left by a sweep stopped before it wrote its record
        meta_file = out / SWEEP
        if not meta_file.is_file():
            raise InputError(str(out), None, "is not empty and holds no sweep",
                             expected="an empty or new directory, or one of this sweep")
        try:
            other = json.loads(meta_file.read_text())["sweep_sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(str(meta_file), None, f"unreadable sweep record: {exc}") from None
        if other != self.sha:
            raise InputError(str(out), None, f"holds the results of another sweep (spec "
                             f"{other[:12]}; this spec is {self.sha[:12]})",
                             expected="a new --out, or the spec that made it")

    def open(self, meta: dict[str, Any], cols: list[tuple[str, str]]) -> None:
        """Create or reopen the directory, take the lock, remove half-written parts."""
        self.check()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(str(self.out), None, f"cannot write results: {exc.strerror or exc}",
                             expected="a writable directory") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise InputError(str(self.out), None, "another sweep is writing into it",
                             expected="wait for it, or another --out") from None
        for f in self.out.glob(".part-*"):
            f.unlink()
        self.schema = pa.schema([(n, _TYPES[t]) for n, t in cols])
        if not (self.out / SWEEP).exists():
            _write_json(self.out / SWEEP, {**meta, "sweep_sha256": self.sha, "columns": cols})
        self.parts = {p.name: pq.ParquetFile(p).metadata.num_rows
                      for p in sorted(self.out.glob("part-*.parquet"))}

    def close(self) -> None:
        if self._lock_fd is not None:
            self._manifest()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reading ----------------------------------------------------------------------

    def finished(self) -> dict[str, str]:
        """``point_id -> status`` of every point a part holds."""
        out: dict[str, str] = {}
        for name in self.parts:
            t = pq.read_table(self.out / name, columns=["point_id", "status"])
            out.update(zip(t["point_id"].to_pylist(), t["status"].to_pylist()))
        return out

    def drop_failed(self) -> int:
        """Rewrite every part without its failed rows (so they can be retried); returns how
        many rows were dropped."""
        dropped = 0
        for name in list(self.parts):
            t = pq.read_table(self.out / name)
            ok = pc.equal(t["status"], "ok")
            n_ok = pc.sum(ok).as_py() or 0
            if n_ok == t.num_rows:
                continue
            dropped += t.num_rows - n_ok
            if n_ok:
                self._write(t.filter(ok), name)
                self.parts[name] = n_ok
            else:
                (self.out / name).unlink()
                del self.parts[name]
        self._manifest()
        return dropped

    # --- writing ----------------------------------------------------------------------

    def write(self, rows: list[dict[str, Any]]) -> None:
        """One new part holding ``rows``, then the manifest."""
        if not rows:
            return
        name = f"part-{len(self.parts) + 1:06d}-{uuid.uuid4().hex[:8]}.parquet"
        self._write(pa.Table.from_pylist(rows, schema=self.schema), name)
        self.parts[name] = len(rows)
        if time.monotonic() - self._manifest_at >= self.MANIFEST_EVERY_S:
            self._manifest()

    def _write(self, table: pa.Table, name: str) -> None:
        tmp = self.out / f".{name}.{uuid.uuid4().hex[:6]}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.out / name)

    def _manifest(self) -> None:
        self._manifest_at = time.monotonic()
        parts = [{"file": n, "rows": r} for n, r in self.parts.items()]
        _write_json(self.out / MANIFEST, {"sweep_sha256": self.sha, "parts": parts,
                                          "rows": sum(p["rows"] for p in parts)})


def read(out: str | os.PathLike):
    """The rows of a sweep directory (``pandas.read_parquet``); refuses a directory that
    holds no sweep rows, or none yet, in one line."""
    import pandas as pd

    if not (Path(out) / SWEEP).is_file():
        raise InputError(str(out), None, f"not a sweep directory (no {SWEEP})",
                         expected="a directory written by neurosim sweep --out")
    try:
        rows = pd.read_parquet(out)
    except (OSError, ValueError) as exc:
        raise InputError(str(out), None, f"not a sweep directory: {str(exc).splitlines()[0][:120]}",
                         expected="a directory written by neurosim sweep --out") from None
    if "status" not in rows or "point" not in rows or rows.empty:
        raise InputError(str(out), None, "holds no finished point of a sweep",
                         expected="a directory written by neurosim sweep --out (rerun it to "
                         "resume an interrupted one)")
    return rows


def frame(rows: list[dict[str, Any]], cols: list[tuple[str, str]]):
    """``rows`` as a DataFrame with the sweep's column types (what a part file holds)."""
    schema = pa.schema([(n, _TYPES[t]) for n, t in cols])
    return pa.Table.from_pylist(rows, schema=schema).to_pandas()


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
