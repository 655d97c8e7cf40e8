"""SpikeTrace: the recorded spike codes of a real model on real text.

A directory holding

* ``trace.json`` — model card, artifact SHA-256, text name and SHA-256, tokens, the float
  type of the recording forward (``forward_dtype``), the neuron groups (graph order: name,
  size, steps), spiking settings, and every data file with its SHA-256;
* ``codes-NNNNN.npy`` — chunks of (t, N) uint8 integer codes, one row per token, the
  groups side by side (memory-mappable);
* ``salient.npy`` (N,) bool and ``token_ids.npy`` (tokens,) int64.

A row holds each channel's integer code: the base code of a non-salient channel, the capped
high code of a salient one.  :meth:`SpikeTrace.codes` expands a row into graded GIF spikes
(:func:`neurosim.traffic.gif.gif_steps`).  Writing is streamed chunk by chunk into a
temporary directory that is renamed into place only when complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim._files import file_sha256, read_manifest, replace_dir, seal, verify_files
from neurosim._read import numpy_problem
from neurosim.errors import InputError
from neurosim.graph.ir import EventGraph
from neurosim.traffic.gif import gif_steps

# version 2: codes recorded by an FP64 forward (version 1: FP32, whose codes depend on the
# CPU's vector ISA); the file layout is unchanged
FORMAT, VERSION = "neurosim.SpikeTrace", 2


def group_table(graph: EventGraph) -> list[dict[str, Any]]:
    return [{"name": g.name, "size": g.size, "max_steps": g.max_steps} for g in graph.groups]


class TraceWriter:
    """Streams (t, N) uint8 code rows into a trace directory; use as a context manager."""

    def __init__(self, out: str | Path, header: dict[str, Any], salient: np.ndarray,
                 token_ids: np.ndarray, chunk_tokens: int = 64) -> None:
        self.out = Path(out)
        if self.out.exists() and not (self.out / "trace.json").is_file():
            raise InputError(str(self.out), None, "exists and is not a spike trace; not overwriting")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", dir=self.out.parent))
        self.header, self.chunk_tokens = header, chunk_tokens
        self.width = int(salient.shape[0])
        self.files: dict[str, str] = {}
        self.chunks: list[dict[str, Any]] = []
        self._buf: list[np.ndarray] = []
        self._rows = 0
        try:
            self._save("salient.npy", np.asarray(salient, np.bool_))
            self._save("token_ids.npy", np.asarray(token_ids, np.int64))
        except BaseException:
            self.abort()
            raise

    def _save(self, name: str, arr: np.ndarray) -> str:
        np.save(self.tmp / name, arr, allow_pickle=False)
        digest = file_sha256(self.tmp / name)
        self.files[name] = digest
        return digest

    def append(self, rows: np.ndarray) -> None:
        if rows.ndim != 2 or rows.shape[1] != self.width or rows.dtype != np.uint8:
            raise ValueError(f"rows must be (t, {self.width}) uint8")
        self._buf.append(rows)
        self._rows += rows.shape[0]
        while self._rows >= self.chunk_tokens:
            self._flush(self.chunk_tokens)

    def _flush(self, n: int) -> None:
        data = np.concatenate(self._buf, axis=0)
        head, rest = data[:n], data[n:]
        self._buf, self._rows = ([rest] if len(rest) else []), len(rest)
        start = self.chunks[-1]["stop"] if self.chunks else 0
        name = f"codes-{len(self.chunks):05d}.npy"
        self.chunks.append({"file": name, "start": start, "stop": start + len(head),
                            "sha256": self._save(name, np.ascontiguousarray(head))})
        del self.files[name]

    def close(self) -> Path:
        if self._rows:
            self._flush(self._rows)
        tokens = self.chunks[-1]["stop"] if self.chunks else 0
        meta = seal({"format": FORMAT, "version": VERSION, **self.header, "tokens": tokens,
                     "width": self.width, "chunks": self.chunks, "files": self.files})
        (self.tmp / "trace.json").write_text(json.dumps(meta, indent=1))
        replace_dir(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            self.abort()
            raise


def _count(value: Any, low: int, high: int | None = None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _check_manifest(where: Path, meta: dict[str, Any]) -> None:
    """Refuse a ``trace.json`` whose claims do not hold together (types, counts, chunk
    ranges covering every token, group sizes adding up to the width), naming the key."""
    def bad(key: str, problem: str, got: Any, expected: str) -> InputError:
        return InputError(str(where), key, problem, got=got, expected=expected)

    tokens, width = meta.get("tokens"), meta.get("width")
    if not _count(tokens, 1):
        raise bad("tokens", "not a token count", tokens, "an integer >= 1")
    if not _count(width, 1):
        raise bad("width", "not a channel count", width, "an integer >= 1")
    files = meta.get("files")
    if not isinstance(files, dict) or set(files) != {"salient.npy", "token_ids.npy"} \
            or not all(isinstance(v, str) for v in files.values()):
        raise bad("files", "not the trace's file table", files,
                  "salient.npy and token_ids.npy with their SHA-256")
    chunks = meta.get("chunks")
    if not isinstance(chunks, list) or not chunks:
        raise bad("chunks", "not a list of chunks", chunks, "at least one chunk")
    stop = 0
    for i, c in enumerate(chunks):
        key = f"chunks[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("file"), str) \
                or not isinstance(c.get("sha256"), str) or Path(c["file"]).name != c["file"] \
                or c["file"] in ("", ".", ".."):
            raise bad(key, "not a chunk of this directory", c,
                      "{file: a file name here, start, stop, sha256}")
        if c.get("start") != stop or not _count(c.get("stop"), stop + 1):
            raise bad(key, "chunks do not cover the tokens in order",
                      (c.get("start"), c.get("stop")), f"start {stop} and a larger stop")
        stop = c["stop"]
    if stop != tokens:
        raise bad("tokens", "differs from the tokens the chunks hold", tokens, str(stop))
    groups = meta.get("groups")
    if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("name"), str) and _count(g.get("size"), 1)
            and _count(g.get("max_steps"), 1) for g in groups):
        raise bad("groups", "not a table of neuron groups", groups,
                  "[{name, size >= 1, max_steps >= 1}, ...]")
    if sum(g["size"] for g in groups) != width:
        raise bad("groups", "group sizes do not add up to the width",
                  sum(g["size"] for g in groups), str(width))
    spiking = meta.get("spiking")
    if not isinstance(spiking, dict) or not _count(spiking.get("abits"), 1, 8):
        raise bad("spiking.abits", "not activation bits",
                  spiking.get("abits") if isinstance(spiking, dict) else spiking, "1 to 8")
    for key in ("addbit", "kv_addbit"):
        if not _count(spiking.get(key), 0, 4):
            raise bad(f"spiking.{key}", "not a number of added bits", spiking.get(key), "0 to 4")
    for key in ("model", "artifact_sha256", "neurosim_version"):
        if not isinstance(meta.get(key), str):
            raise bad(key, "missing or not text", meta.get(key), "a string")
    text = meta.get("text")
    if not isinstance(text, dict) or not all(isinstance(text.get(k), str) for k in ("name", "sha256")):
        raise bad("text", "not the recorded text", text, "{name, sha256}")


@dataclass
class SpikeTrace:
    """A recorded trace, checked against its checksums, chunks memory-mapped."""

    path: Path
    meta: dict[str, Any]
    salient: np.ndarray
    token_ids: np.ndarray
    _chunks: list[np.ndarray]

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> SpikeTrace:
        path = Path(path)
        meta = read_manifest(path, "trace.json", FORMAT, VERSION, "neurosim spike trace",
                             "neurosim trace")
        _check_manifest(path / "trace.json", meta)
        entries = [(c["file"], c["sha256"]) for c in meta["chunks"]] + list(meta["files"].items())
        verify_files(path, entries, verify, "record again")
        try:
            salient = np.load(path / "salient.npy", allow_pickle=False)
            ids = np.load(path / "token_ids.npy", allow_pickle=False)
            chunks = [np.load(path / c["file"], mmap_mode="r", allow_pickle=False)
                      for c in meta["chunks"]]
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(str(path), None, f"cannot read trace data: {numpy_problem(exc)}",
                             expected="the files the trace was recorded with; record again") from None
        for name, arr, want in (("salient.npy", salient, (meta["width"],)),
                                ("token_ids.npy", ids, (meta["tokens"],))):
            if arr.shape != want:
                raise InputError(str(path / name), None, "wrong shape for the manifest",
                                 got=arr.shape, expected=str(want))
        for c, arr in zip(meta["chunks"], chunks):
            if arr.dtype != np.uint8:
                raise InputError(str(path / c["file"]), None, "chunk has the wrong dtype",
                                 got=str(arr.dtype), expected="uint8 codes")
            if arr.shape != (c["stop"] - c["start"], meta["width"]):
                raise InputError(str(path / c["file"]), None, "chunk has the wrong shape",
                                 got=arr.shape, expected=f"({c['stop'] - c['start']}, {meta['width']})")
        return cls(path, meta, salient, ids, chunks)

    @property
    def tokens(self) -> int:
        return int(self.meta["tokens"])

    @property
    def width(self) -> int:
        return int(self.meta["width"])

    @property
    def max_steps(self) -> int:
        return max((g["max_steps"] for g in self.meta["groups"]), default=1)

    def rows(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Integer codes of tokens ``start:stop``, (t, N) uint8 (a copy)."""
        stop = self.tokens if stop is None else stop
        parts = []
        for c, arr in zip(self.meta["chunks"], self._chunks):
            lo, hi = max(start, c["start"]), min(stop, c["stop"])
            if lo < hi:
                parts.append(np.asarray(arr[lo - c["start"]:hi - c["start"]]))
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, self.width), np.uint8)

    def codes(self, token: int) -> np.ndarray:
        """GIF spikes of one token: (max_steps, N) int8."""
        if not 0 <= token < self.tokens:
            raise IndexError(f"token {token} outside the trace's 0..{self.tokens - 1}")
        return gif_steps(self.rows(token, token + 1)[0], self.meta["spiking"]["abits"],
                         self.max_steps)

    def check_graph(self, graph: EventGraph) -> None:
        """Refuse a trace whose neuron groups differ from ``graph``'s."""
        if self.meta["groups"] != group_table(graph):
            raise InputError(str(self.path / "trace.json"), "groups",
                             f"the trace was recorded for a different graph than {graph.model}'s",
                             expected="a trace recorded from the same card and artifact")


class RealTraffic:
    """Traffic source replaying a SpikeTrace from token ``start``."""

    kind = "real"

    def __init__(self, trace: SpikeTrace, graph: EventGraph, start: int = 0) -> None:
        trace.check_graph(graph)
        self.trace, self.start = trace, start

    def codes(self, token: int) -> np.ndarray:
        return self.trace.codes(self.start + token)

    def provenance(self) -> dict[str, Any]:
        m = self.trace.meta
        return {"kind": "real", "trace": str(self.trace.path), "artifact_sha256": m["artifact_sha256"],
                "text": m["text"], "tokens_recorded": m["tokens"], "start": self.start}
