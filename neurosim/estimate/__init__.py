"""Estimate: saved counters x a profile -> energy by component and block, time by stage.

One estimator per profile kind, registered by kind (:func:`register`); each prices the
same :class:`~neurosim.replay.counters.Counters`, so a profile that changes only prices
re-prices a run without replaying it.  Energies in joules, times in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neurosim.errors import InputError
from neurosim.replay.counters import Counters

PJ = 1e-12
NS = 1e-9


@dataclass(eq=False)
class Priced:
    """A profile's prices of a run's counters.

    ``tokens``: columns (T,) ``energy_j``, ``latency_s`` and the ``energy_j:<component>``,
    ``memory_bytes:<level>``, ``latency_s:<part>`` columns of the kind; ``block_energy_j``
    (T, B); ``mapping``: what the kind adds to the mapping summary; ``stage_latency_s``
    (T, G): the time of each stage, where the kind models stages.
    """

    tokens: dict[str, np.ndarray]
    block_energy_j: np.ndarray
    mapping: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stage_latency_s: np.ndarray | None = None


Price = Callable[[Counters, Any], Priced]
Baseline = Callable[[Counters, Any], list[dict[str, Any]]]
Columns = Callable[[Any], list[str]]
Fields = Callable[[Any], dict[str, list[str]]]
_PRICE: dict[str, Price] = {}
_BASELINE: dict[str, Baseline] = {}
_COLUMNS: dict[str, Columns] = {}
_FIELDS: dict[str, Fields] = {}


def register(kind: str, *, baseline: Baseline, columns: Columns,
             fields: Fields) -> Callable[[Price], Price]:
    """Register the estimator of a profile kind, its baseline rows, the names of the
    ``Priced.tokens`` columns it produces for a profile (known before any run), and the
    profile numbers (dotted paths, memory levels by name) that price each energy component."""

    def deco(fn: Price) -> Price:
        _PRICE[kind] = fn
        _BASELINE[kind] = baseline
        _COLUMNS[kind] = columns
        _FIELDS[kind] = fields
        return fn

    return deco


def columns(profile) -> list[str]:
    """Names of the per-token columns :func:`price` gives on ``profile``, in order."""
    return _COLUMNS[profile.kind](profile)


def price_fields(profile) -> dict[str, list[str]]:
    """``component -> [dotted path, ...]``: the numbers of ``profile`` that price each
    ``energy_j:<component>`` (static energy is also proportional to the latency)."""
    return _FIELDS[profile.kind](profile)


def price(counters: Counters, profile) -> Priced:
    """Price ``counters`` on ``profile`` with the estimator of its kind."""
    return _PRICE[profile.kind](counters, profile)


def baselines(counters: Counters, profiles) -> pd.DataFrame:
    """Rows (token, profile, baseline, variant, kind, energy_j, latency_s) of every baseline
    profile that can hold the model (see :func:`baselines_and_notes`)."""
    return baselines_and_notes(counters, profiles)[0]


def baselines_and_notes(counters: Counters, profiles) -> tuple[pd.DataFrame, list[str]]:
    """:func:`baselines`, and a note for each baseline left out because it cannot hold the
    model (a fixed number of devices with too little memory)."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for p in profiles:
        try:
            rows += _BASELINE[p.kind](counters, p)
        except InputError as exc:
            notes.append(f"baseline {p.name} left out: {exc.problem} ({exc.expected})")
    cols = ["token", "profile", "baseline", "variant", "kind", "energy_j", "latency_s"]
    frame = pd.DataFrame(rows, columns=cols).sort_values("token", kind="stable")
    return frame.reset_index(drop=True), notes


def check_kind(counters: Counters, profile, source: str) -> None:
    """Refuse to price counters on a profile of another kind."""
    kind = counters.meta["profile_kind"]
    if profile.kind != kind:
        raise InputError(source, "kind", f"counters of a {kind} run cannot be priced on a "
                         f"{profile.kind} profile", got=f"{profile.name} ({profile.kind})",
                         expected=f"a {kind} profile")


def interpolate(table: dict[int, float], x):
    """Piecewise-linear in the count, clamped at the ends; ``x`` a number or an array."""
    keys = sorted(table)
    out = np.interp(x, keys, [table[k] for k in keys])
    return float(out) if np.ndim(out) == 0 else out


# the kinds register themselves on import
from neurosim.estimate import accounting, gpu, neuromorphic  # noqa: E402,F401

__all__ = ["Priced", "baselines", "baselines_and_notes", "check_kind", "columns", "price_fields",
           "interpolate", "price", "register"]
