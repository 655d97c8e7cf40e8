"""Sweep specs: which models, profiles and positions, which numbers to vary, how to sample.

A spec is YAML, validated once like a profile (unknown keys with a spelling suggestion, one
located line per error)::

    schema_version: 1
    models: [spikellm-7b]
    profiles: [loihi2]
    tokens: 4
    positions: [0, 1024]
    axes:                          # dotted paths into the profile or card YAML
      profile.core.synop_energy_pj: [1.0, 2.95, 6.0]      # a quantity's .value is implied
      profile.chip.static_power_mw: {log: [1, 1000], points: 7}
      profile.memory.core_sram.capacity_kib: [96, 192]    # memory levels by name
      model.spiking.salient_fraction: [0.05, 0.1]
      profile.dense_placement.norm: [neuro_cores, dense_unit]   # a choice: names
    sample: grid                   # grid | zip | {random: N, seed: S}

An axis path names a number of every profile (``profile.``) or card (``model.``) of the
spec; a table entry is named by its key (``profile.chip.barrier_latency_ns.128``).  An axis
of names is a choice: each name must make a valid profile or card of every one named.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from neurosim._schema import (
    PROVENANCE_KEYS,
    Strict,
    _LocatedValueError,
    check_schema_version,
    to_plain,
    validate,
)
from neurosim._yaml import load_yaml_mapping
from neurosim.cards import ModelCard, card_hash, load_card
from neurosim.errors import InputError, NeurosimError
from neurosim.hardware import Profile, load_profile, profile_hash
from neurosim.traffic import MAX_SEED

MAX_POINTS = 100_000
"""Sweeps larger than this need an explicit yes (``--yes``)."""


class SpecError(InputError):
    """A sweep spec that cannot be read, is invalid, or names what does not exist."""


class Range(Strict):
    """``points`` values from ``log: [lo, hi]`` (geometric) or ``linear: [lo, hi]``."""

    log: tuple[float, float] | None = None
    linear: tuple[float, float] | None = None
    points: Annotated[int, Field(ge=2, le=MAX_POINTS, strict=True)]

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("log", "linear") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'log: [lo, hi]' or 'linear: [lo, hi]'")
        lo, hi = getattr(self, given[0])
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
            raise _LocatedValueError((given[0],), [lo, hi], "bounds must be finite and differ",
                                     "two different finite numbers")
        if given[0] == "log" and (lo <= 0 or hi <= 0):
            raise _LocatedValueError(("log",), [lo, hi], "log bounds must be > 0",
                                     "two numbers > 0")
        return self

    def values(self) -> list[float]:
        if self.log is not None:
            return [float(v) for v in np.geomspace(*self.log, self.points)]
        return [float(v) for v in np.linspace(*self.linear, self.points)]  # type: ignore[misc]


class Random(Strict):
    """``random`` distinct points of the grid, drawn uniformly with ``seed``."""

    random: Annotated[int, Field(ge=1, strict=True)]
    seed: Annotated[int, Field(ge=0, strict=True)] = 0


class SweepSpec(Strict):
    schema_version: Literal[1]
    models: list[str] = Field(min_length=1)
    profiles: list[str] = Field(min_length=1)
    tokens: Annotated[int, Field(ge=1, strict=True)] = 4
    positions: list[Annotated[int, Field(ge=0, strict=True)]] = Field([0], min_length=1)
    seed: Annotated[int, Field(ge=0, le=MAX_SEED, strict=True)] = 0
    context: Annotated[int, Field(ge=1, strict=True)] | None = None
    baselines: list[str] = Field(default_factory=lambda: ["gpu-a100", "gpu-h100"])
    axes: dict[str, list[Any] | Range] = Field(default_factory=dict)
    sample: Literal["grid", "zip"] | Random = "grid"

    @field_validator("axes", mode="before")
    @classmethod
    def _axis_kinds(cls, axes: Any) -> Any:
        """A mapping value is a range, validated here so that its own error is reported."""
        if not isinstance(axes, dict):
            return axes
        out = {}
        for path, values in axes.items():
            if isinstance(values, dict):
                try:
                    values = Range.model_validate(values)
                except ValidationError as exc:
                    err = exc.errors(include_url=False)[0]
                    inner = (err.get("ctx") or {}).get("error")
                    loc = tuple(inner.loc if isinstance(inner, _LocatedValueError) else err["loc"])
                    msg = (inner.problem if isinstance(inner, _LocatedValueError)
                           else "unknown key" if err["type"] == "extra_forbidden" else err["msg"])
                    raise _LocatedValueError(("axes", path, *loc), values, msg,
                                             "{log|linear: [lo, hi], points: n} with lo != hi") from None
            elif not isinstance(values, list):
                raise _LocatedValueError(("axes", path), values, "an axis is a list of numbers or "
                                         "a range", "[v1, v2, ...] or {log|linear: [lo, hi], points: n}")
            out[path] = values
        return out

    @field_validator("axes")
    @classmethod
    def _axes(cls, axes: dict[str, Any]) -> dict[str, Any]:
        for path, values in axes.items():
            if not (path.startswith("profile.") or path.startswith("model.")) or "" in path.split("."):
                raise _LocatedValueError(("axes", path), path, "an axis path starts with "
                                         "'profile.' or 'model.'", "e.g. profile.core.synop_energy_pj")
            if isinstance(values, list):
                if not values:
                    raise _LocatedValueError(("axes", path), values, "axis has no values",
                                             "a non-empty list, or {log|linear: [lo, hi], points: n}")
                if all(isinstance(v, str) for v in values):  # a choice, e.g. a placement
                    pass
                else:
                    for v in values:
                        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                            raise _LocatedValueError(("axes", path), v, "axis values are numbers "
                                                     "(or all names of a choice)",
                                                     "finite numbers, or names such as "
                                                     "neuro_cores and dense_unit")
                if len(set(values)) != len(values):
                    raise _LocatedValueError(("axes", path), values, "axis values repeat",
                                             "distinct values")
        return axes


@dataclass(frozen=True)
class Sweep:
    """A validated spec with its models and profiles loaded and its axis values listed."""

    file: str
    spec: SweepSpec
    cards: dict[str, ModelCard]
    profiles: dict[str, Profile]
    baselines: tuple[Profile, ...]
    axes: dict[str, list[float] | list[str]]
    extra: dict[str, Any] = field(default_factory=dict)
    """What else decides the points (a sensitivity study's factor); part of the identity."""
    record: tuple[tuple[str, str], ...] | None = None
    """(name, type) of the input columns, when points record other than their axes."""

    def inputs(self) -> list[tuple[str, str]]:
        if self.record is not None:
            return list(self.record)
        return [(a, "str" if isinstance(v[0], str) else "float") for a, v in self.axes.items()]

    @property
    def sha256(self) -> str:
        """Identifies the sweep: the spec and the content of every card and profile."""
        body = {"spec": to_plain(self.spec), "extra": self.extra,
                "cards": {n: card_hash(c) for n, c in self.cards.items()},
                "profiles": {n: profile_hash(p) for n, p in self.profiles.items()},
                "baselines": [profile_hash(p) for p in self.baselines]}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def axis_points(self) -> int:
        sizes = [len(v) for v in self.axes.values()]
        s = self.spec.sample
        if isinstance(s, Random):
            return min(s.random, math.prod(sizes))
        if s == "zip":
            return sizes[0] if sizes else 1
        return math.prod(sizes)

    def size(self) -> int:
        """Number of points: axis points x models x profiles x positions."""
        return (self.axis_points() * len(self.cards) * len(self.profiles)
                * len(self.spec.positions))


def load_spec(ref: str | Path | dict, *, file: str | None = None) -> Sweep:
    """Read and check a spec (a YAML file or a mapping): its schema, every model and
    profile, and every axis path against every profile or card it names."""
    if isinstance(ref, dict):
        data, file = ref, file or "sweep spec"
    else:
        path = Path(ref)
        file = str(path)
        data = load_yaml_mapping(path, SpecError)
    check_schema_version(data, file, SpecError)
    spec: SweepSpec = validate(SweepSpec, data, file, SpecError)
    cards = {}
    for i, name in enumerate(spec.models):
        card = _load(load_card, name, file, f"models[{i}]")
        cards[card.name] = card
    profiles = {}
    for i, name in enumerate(spec.profiles):
        prof = _load(load_profile, name, file, f"profiles[{i}]")
        profiles[prof.name] = prof
    baselines = load_baselines(spec.baselines, file)
    axes: dict[str, list] = {}
    for path, values in spec.axes.items():
        scope, rest = path.split(".", 1)
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            _check_choice(path, values, cards, profiles, file)
            axes[path] = list(values)
            continue
        docs = ({n: to_plain(p) for n, p in profiles.items()} if scope == "profile"
                else {n: to_plain(c) for n, c in cards.items()})
        for name, doc in docs.items():
            check_number(doc, rest, file=file, key=f"axes.{path}",
                         where=f"{'profile' if scope == 'profile' else 'model card'} {name}")
        axes[path] = values.values() if isinstance(values, Range) else [float(v) for v in values]
    if spec.sample == "zip" and len({len(v) for v in axes.values()}) > 1:
        raise SpecError(file, "sample", "zip needs axes of one length",
                        got={p: len(v) for p, v in axes.items()}, expected="equal lengths, or grid")
    return Sweep(file, spec, cards, profiles, baselines, axes)


def load_baselines(names: list[str], file: str) -> tuple[Profile, ...]:
    """The GPU profiles a sweep's points are set beside, by name or path."""
    out = []
    for i, name in enumerate(names):
        prof = _load(load_profile, name, file, f"baselines[{i}]")
        if prof.kind != "gpu":
            raise SpecError(file, f"baselines[{i}]", "a baseline is a GPU profile",
                            got=f"{name} ({prof.kind})", expected="e.g. gpu-a100, gpu-h100")
        out.append(prof)
    return tuple(out)


def _load(loader, name: str, file: str, key: str):
    try:
        return loader(name)
    except NeurosimError as exc:
        raise SpecError(file, key, str(exc)) from None


# --- paths into plain profile and card data ----------------------------------------------


def _is_quantity(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node and any(k in node for k in PROVENANCE_KEYS)


def _child(node: Any, part: str) -> tuple[bool, Any, list[str]]:
    """(found, child, names valid here) of ``part`` under ``node``; memory levels and other
    lists of named entries are indexed by name (or position), tables by their key."""
    if isinstance(node, dict):
        if part in node:
            return True, node[part], [str(k) for k in node]
        if part.lstrip("-").isdigit() and int(part) in node:
            return True, node[int(part)], [str(k) for k in node]
        return False, None, [str(k) for k in node]
    if isinstance(node, list):
        names = [e.get("name") for e in node if isinstance(e, dict) and "name" in e]
        for e in node:
            if isinstance(e, dict) and e.get("name") == part:
                return True, e, names
        if part.isdigit() and int(part) < len(node):
            return True, node[int(part)], names
        return False, None, names or [str(i) for i in range(len(node))]
    return False, None, []


def locate(doc: dict, path: str) -> tuple[list, Any]:
    """``(keys, value)`` of the dotted ``path`` in plain ``doc``, a quantity's ``value``
    implied; keys are the real keys (list indices as ints).  Raises KeyError(part, valid)."""
    node, keys = doc, []
    for part in path.split("."):
        if _is_quantity(node) and part not in node:
            node, keys = node["value"], [*keys, "value"]
        found, child, valid = _child(node, part)
        if not found:
            raise KeyError(part, valid)
        if isinstance(node, list):
            part = next(i for i, e in enumerate(node) if e is child)
        elif isinstance(node, dict) and part not in node:
            part = int(part)
        node, keys = child, [*keys, part]
    if _is_quantity(node):
        node, keys = node["value"], [*keys, "value"]
    return keys, node


def _check_choice(path: str, values: list[str], cards: dict[str, ModelCard],
                  profiles: dict[str, Profile], file: str) -> None:
    """Refuse a choice axis unless every value makes a valid card or profile of every one
    the spec names (e.g. ``profile.dense_placement.norm: [neuro_cores, dense_unit]``)."""
    from neurosim.sweeps.points import build

    scope = path.split(".", 1)[0]
    bases = profiles if scope == "profile" else cards
    for name, base in bases.items():
        for v in values:
            try:
                if scope == "profile":
                    build(next(iter(cards.values())), base, {path: v})
                else:
                    build(base, next(iter(profiles.values())), {path: v})
            except InputError as exc:
                raise SpecError(file, f"axes.{path}", f"{v!r} does not fit {scope} {name}: "
                                f"{exc.problem}", got=v, expected=exc.expected) from None


def check_number(doc: dict, path: str, *, file: str, key: str, where: str) -> None:
    """Refuse an axis path that does not name a number of ``doc``."""
    try:
        _, value = locate(doc, path)
    except KeyError as exc:
        part, valid = exc.args
        close = difflib.get_close_matches(part, valid, n=1, cutoff=0.6)
        expected = (f"did you mean '{close[0]}'?" if close
                    else "one of " + ", ".join(valid) if valid else "a path to a number")
        raise SpecError(file, key, f"no such key in {where}", got=part, expected=expected) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(file, key, f"not a number in {where}", got=value,
                        expected="a path to a number (a quantity's value, a count, a fraction)")


def apply(doc: dict, overrides: dict[str, Any]) -> dict:
    """A deep copy of plain ``doc`` with each ``path: value`` of ``overrides`` set."""
    out = copy.deepcopy(doc)
    for path, value in overrides.items():
        try:
            keys, _ = locate(out, path)
        except KeyError:  # an optional key left unset: set it in its parent mapping
            parent, _, last = path.rpartition(".")
            keys, node = locate(out, parent) if parent else ([], out)
            if not isinstance(node, dict):
                raise
            keys = [*keys, last]
        node = out
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return out
