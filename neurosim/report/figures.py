"""Figures a reviewer can use: units on every axis, one colour per series everywhere,
legible at A4 width (17 cm), a caption saying what was assumed.  Each function takes plain
frames and returns a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state, any
backend; a notebook displays it); :func:`save_figure` writes it as PNG and SVG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

A4_WIDTH_IN = 6.7
COLORS = ["#1b6ca8", "#d1495b", "#66a182", "#edae49", "#6c4f99", "#00798c", "#8d6a9f",
          "#c05746", "#3d405b", "#81b29a"]
"""Series colours, in order (colour-blind distinguishable first four)."""

UNITS = {"energy_j": "energy per token (J)", "latency_s": "latency per token (s)",
         "tokens_per_s": "tokens per second", "chips": "chips", "cores": "cores",
         "synops": "synaptic operations per token", "events": "spike events per token"}


def axis_label(column: str) -> str:
    """A column's axis label with its unit (from the name's unit suffix)."""
    if column in UNITS:
        return UNITS[column]
    for suffix, unit in (("_j", "J"), ("_s", "s"), ("_pj", "pJ"), ("_ns", "ns"), ("_mw", "mW"),
                         ("_kib", "KiB"), ("_gb_s", "GB/s"), ("_gflop_s", "GFLOP/s")):
        if column.endswith(suffix):
            return f"{column} ({unit})"
    return column


def pareto_figure(points: pd.DataFrame, front: pd.DataFrame, x: str, y: str,
                  by: str | None = None, caption: str | None = None):
    """Every point (light) and the Pareto front (joined, dark) of ``y`` against ``x``, one
    colour per ``by`` group; log axes when a column spans more than two decades."""
    fig = Figure(figsize=(A4_WIDTH_IN, 4.2), layout="constrained")
    ax = fig.subplots()
    groups = sorted(points[by].astype(str).unique()) if by else [None]
    for i, g in enumerate(groups):
        color = COLORS[i % len(COLORS)]
        pts = points if g is None else points[points[by].astype(str) == g]
        fr = front if g is None else front[front[by].astype(str) == g]
        ax.scatter(pts[x], pts[y], s=10, color=color, alpha=0.25, linewidths=0)
        ax.plot(fr[x], fr[y], "o-", color=color, ms=4, lw=1.2,
                label=f"{g} front ({len(fr)})" if g is not None else f"front ({len(fr)})")
    for col, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        v = points[col].to_numpy(float)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v) and v.max() / v.min() > 100:
            setter("log")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    if caption:
        fig.text(0.01, -0.02, caption, fontsize=7, wrap=True, va="top")
    return fig


def tornado_figure(table: pd.DataFrame, factor: float, top: int = 15,
                   caption: str | None = None):
    """Bars of the relative change in energy per token and in latency when each assumption
    is divided (left colour) or multiplied (right colour) by ``factor``, largest first."""
    t = table.head(top).iloc[::-1]
    fig = Figure(figsize=(A4_WIDTH_IN, 0.28 * len(t) + 1.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    labels = [p.replace("profile.", "").replace("model.", "card: ") for p in t["path"]]
    y = np.arange(len(t))
    for ax, what, title in ((axes[0], "energy", "energy per token"),
                            (axes[1], "latency", "latency per token")):
        low = 100 * t[f"{what}_low"].to_numpy(float)
        high = 100 * t[f"{what}_high"].to_numpy(float)
        ax.barh(y, np.nan_to_num(low), color=COLORS[0], height=0.7, label=f"value / {factor:g}")
        ax.barh(y, np.nan_to_num(high), color=COLORS[1], height=0.7, alpha=0.85,
                label=f"value x {factor:g}")
        ax.axvline(0, color="black", lw=0.6)
        ax.set_xlabel(f"change in {title} (%)")
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=7)
    axes[1].legend(fontsize=7, frameon=False, loc="lower right")
    if caption:
        fig.text(0.01, -0.01, caption, fontsize=7, wrap=True, va="top")
    return fig


def save_figure(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``fig`` as ``stem.png`` (150 dpi) and ``stem.svg``; returns the paths."""
    from neurosim.errors import InputError

    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        for p in paths:
            fig.savefig(p, dpi=150, bbox_inches="tight")
    except OSError as exc:
        raise InputError(str(stem), None, f"cannot write the figure: {exc.strerror or exc}",
                         expected="a writable path") from None
    return paths


# --- a run's figures -------------------------------------------------------------------------

_KNOWN = ["synapses", "neurons", "spikes", "noc", "links", "transfer", "dense", "static",
          "compute"]
_MEMORY = ["#7f7f7f", "#a0522d", "#bcbd22", "#17becf"]


def component_color(name: str, memory_levels: list[str] | None = None) -> str:
    """The colour of an energy component, the same in every figure and report."""
    if name in _KNOWN:
        return COLORS[_KNOWN.index(name) % len(COLORS)]
    if name.startswith("memory:"):
        levels = memory_levels or []
        level = name.split(":", 1)[1]
        i = levels.index(level) if level in levels else sum(map(ord, level))
        return _MEMORY[i % len(_MEMORY)]
    return "#444444"


def components_figure(energy_j: dict[str, float], memory_levels: list[str], caption: str | None = None):
    """Horizontal bars of energy per token by component (J), largest at the top."""
    items = sorted(energy_j.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(A4_WIDTH_IN, 0.3 * len(items) + 1.2), layout="constrained")
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items],
            color=[component_color(k, memory_levels) for k, _ in items])
    ax.set_xlabel("energy per token (J)")
    positive = [v for _, v in items if v > 0]
    if positive and max(positive) / min(positive) > 1e3:
        ax.set_xscale("log")
    ax.grid(True, axis="x", alpha=0.3)
    if caption:
        fig.text(0.01, -0.02, caption, fontsize=7, wrap=True, va="top")
    return fig


def bars_figure(labels: list[str], values: list[float], xlabel: str, color: str = COLORS[0],
                caption: str | None = None, log: bool | None = None):
    """Horizontal bars, one per label (in the order given, first at the top)."""
    fig = Figure(figsize=(A4_WIDTH_IN, 0.22 * len(labels) + 1.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=color)
    ax.set_yticks(y, labels, fontsize=7 if len(labels) > 20 else 9)
    ax.set_xlabel(xlabel)
    positive = [v for v in values if v > 0]
    if log or (log is None and positive and max(positive) / min(positive) > 1e3):
        ax.set_xscale("log")
    ax.grid(True, axis="x", alpha=0.3)
    if caption:
        fig.text(0.01, -0.02, caption, fontsize=7, wrap=True, va="top")
    return fig


def position_figure(frame: pd.DataFrame, caption: str | None = None):
    """Energy and latency per token against token position (KV cache length)."""
    fig = Figure(figsize=(A4_WIDTH_IN, 2.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, col, label, color in ((axes[0], "energy_j", "energy per token (J)", COLORS[0]),
                                  (axes[1], "latency_s", "latency per token (s)", COLORS[1])):
        ax.plot(frame["position"], frame[col], "o-", ms=3, color=color)
        ax.set_xlabel("token position (KV cache length)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    if caption:
        fig.text(0.01, -0.03, caption, fontsize=7, wrap=True, va="top")
    return fig


def svg_text(fig, salt: str) -> str:
    """``fig`` as an inline ``<svg>`` element: no XML prolog, doctype or metadata, element
    ids salted so that several figures can share one page."""
    import io
    import re

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
