"""Which assumption does the answer hang on?  One at a time, every number a profile marks
``assumed`` and every assumed knob of the card is divided and multiplied by a factor; the
points run through the sweep engine (price-only changes are re-pricings of one replay) and
are ranked by their effect on energy per token and on latency.

Card knobs: fitted SpikeLLM traffic's ``traffic.nonzero_scale`` (the width-scaling rule
keeps the fitted histograms unchanged, i.e. 1), LTE's synthetic ``spiking.sparsity``, and
the synthetic ``spiking.firing_rate`` of SpikeGPT and SpikeLM; fractions are capped at 1.
Integer numbers are rounded (at least 1); tables and lists are scaled entry by entry.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from neurosim.cards import ModelCard, load_card
from neurosim.errors import InputError
from neurosim.hardware import Profile, load_profile, quantities
from neurosim.sweeps import Progress, run_points
from neurosim.sweeps.points import Point
from neurosim.sweeps.spec import Sweep, SweepSpec, load_baselines

CARD_KNOBS = {
    "traffic.nonzero_scale": "fitted traffic: the traced model's code histograms are used "
                             "unchanged at this width (the fit's width-scaling rule)",
    "spiking.sparsity": "synthetic LTE traffic: each expert is active with probability "
                        "1 - sparsity",
    "spiking.firing_rate": "synthetic rate traffic: the firing rate of every spiking site",
}


def _scaled(value: Any, factor: float, fraction: bool = False) -> Any:
    """``value`` times ``factor``: integers rounded (>= 1), fractions capped at 1, tables
    and lists entry by entry."""
    if isinstance(value, dict):
        return {k: _scaled(v, factor, fraction) for k, v in value.items()}
    if isinstance(value, list):
        return [_scaled(v, factor, fraction) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return max(1, round(value * factor))
    out = float(value) * factor
    return min(out, 1.0) if fraction else out


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def assumptions(card: ModelCard, profile: Profile) -> list[dict[str, Any]]:
    """Every assumed number of ``profile`` and assumed knob of ``card``: ``path`` (as in a
    sweep spec), ``value`` and the ``assumed`` text."""
    out = [{"path": f"profile.{path}", "value": q.value, "assumed": q.assumed, "fraction": False}
           for path, q in quantities(profile).items() if q.assumed]
    s, t = card.spiking, card.traffic
    knobs: list[tuple[str, Any]] = []
    if s.scheme == "spikellm" and t.default == "synthetic" and t.fit:
        knobs.append(("traffic.nonzero_scale", t.nonzero_scale if t.nonzero_scale is not None else 1.0))
    if s.scheme == "lte" and t.default == "synthetic" and s.sparsity is not None:
        knobs.append(("spiking.sparsity", s.sparsity))
    if s.scheme in ("spikegpt", "spikelm") and t.default == "synthetic":
        knobs.append(("spiking.firing_rate", s.firing_rate))
    for path, value in knobs:
        out.append({"path": f"model.{path}", "value": value, "assumed": CARD_KNOBS[path],
                    "fraction": path != "traffic.nonzero_scale"})
    return out


def _effect(low: float, high: float) -> float:
    """The larger absolute relative change of the two variants that ran (NaN if none)."""
    ran = [abs(v) for v in (low, high) if not np.isnan(v)]
    return max(ran) if ran else np.nan


def sensitivity(model: str | ModelCard, profile: str | Profile, *, factor: float = 2.0,
                tokens: int = 4, position: int = 0, seed: int = 0,
                out: str | os.PathLike | None = None, scheduler: str | None = None,
                workers: int | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """A row per assumption, ranked by its effect on energy per token (then latency).

    Columns: ``rank``, ``path``, ``value`` (current), ``assumed`` (its text), ``low`` and
    ``high`` (value / factor and x factor), ``energy_low``/``energy_high`` and
    ``latency_low``/``latency_high`` (relative change against the unchanged point),
    ``energy_effect``/``latency_effect`` (the larger absolute change of the two), ``error``
    (why a variant could not run, if one could not).  A variant equal to the current value
    (an integer that rounds back, a fraction at its cap) is not run: its changes are NaN.
    ``out``: the points' sweep directory.  The unchanged point's ``energy_j`` and
    ``latency_s`` are in ``frame.attrs``.
    """
    card = model if not isinstance(model, str) else load_card(model)
    prof = profile if not isinstance(profile, str) else load_profile(profile)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not (
            math.isfinite(factor) and factor > 1):
        raise InputError("sensitivity", "factor", "must be a number > 1", got=factor)
    spec = SweepSpec(schema_version=1, models=[card.name], profiles=[prof.name], tokens=tokens,
                     positions=[position], seed=seed)
    items = assumptions(card, prof)
    sw = Sweep("sensitivity", spec, {card.name: card}, {prof.name: prof},
               load_baselines(spec.baselines, "sensitivity"), {}, extra={"factor": factor},
               record=(("varied", "str"), ("factor", "float")))
    points = [Point(0, card.name, prof.name, position, tokens, seed, None, {},
                    {"varied": None, "factor": 1.0})]
    variants: list[dict[str, Any]] = []   # per assumption: {"low"|"high": (value, point index)}
    for a in items:
        v = {}
        for name, f in (("low", 1 / factor), ("high", factor)):
            value = _scaled(a["value"], f, a["fraction"])
            index = None
            if value != a["value"]:  # a variant that rounding or a cap left unchanged is not run
                index = len(points)
                points.append(Point(index, card.name, prof.name, position, tokens, seed, None,
                                    {a["path"]: value}, {"varied": a["path"], "factor": f}))
            v[name] = (value, index)
        variants.append(v)
    frame = run_points(points, sw, {"sensitivity": {"model": card.name, "profile": prof.name,
                                                    "factor": factor}},
                       out=out, scheduler=scheduler, workers=workers, progress=progress)
    by_point = frame.set_index("point")
    base = by_point.loc[0]
    if base["status"] != "ok":
        raise InputError(f"{card.name} on {prof.name}", None,
                         f"the unchanged point fails: {base['error']}")
    e0, l0 = float(base["energy_j"]), float(base["latency_s"])
    rows = []
    for a, v in zip(items, variants):
        rel, errors = {}, []
        for name, (_, index) in v.items():
            r = by_point.loc[index] if index is not None else None
            ok = r is not None and r["status"] == "ok"
            if r is not None and not ok:
                errors.append(str(r["error"]))
            rel[f"energy_{name}"] = float(r["energy_j"]) / e0 - 1 if ok else np.nan
            rel[f"latency_{name}"] = (float(r["latency_s"]) / l0 - 1
                                      if ok and l0 and np.isfinite(l0) else np.nan)
        rows.append({"path": a["path"], "value": _show(a["value"]), "assumed": a["assumed"],
                     "low": _show(v["low"][0]), "high": _show(v["high"][0]), **rel,
                     "energy_effect": _effect(rel["energy_low"], rel["energy_high"]),
                     "latency_effect": _effect(rel["latency_low"], rel["latency_high"]),
                     "error": "; ".join(errors) or None})
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values(["energy_effect", "latency_effect"], ascending=False,
                                  na_position="last", kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table.attrs.update({"model": card.name, "profile": prof.name, "factor": factor,
                        "tokens": tokens, "position": position, "energy_j": e0, "latency_s": l0})
    return table
