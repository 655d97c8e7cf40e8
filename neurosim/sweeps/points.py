"""The points of a sweep, their identities, and the card and profile each one runs."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim._schema import to_plain, validate
from neurosim.cards import ModelCard
from neurosim.cards.schema import CARD_FAMILIES
from neurosim.errors import ModelCardError, ProfileError
from neurosim.hardware import Profile
from neurosim.hardware.schema import PROFILE_KINDS
from neurosim.sweeps.spec import Random, Sweep, apply


@dataclass(frozen=True)
class Point:
    """One (model, profile, position) with its overridden numbers, by dotted path."""

    index: int
    model: str
    profile: str
    position: int
    tokens: int
    seed: int
    context: int | None
    overrides: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    """What the point's row records of its inputs (default: the overrides by path)."""

    @property
    def id(self) -> str:
        """Content identity: equal points of two runs of a sweep have equal ids."""
        body = {"model": self.model, "profile": self.profile, "position": self.position,
                "tokens": self.tokens, "seed": self.seed, "context": self.context,
                "overrides": {k: self.overrides[k] for k in sorted(self.overrides)},
                "record": self.record}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=repr).encode()).hexdigest()[:20]


def axis_combinations(sweep: Sweep) -> list[dict[str, float]]:
    """The axis values of each point, in order: grid (every combination), zip (the i-th
    value of every axis) or random (distinct grid points, uniformly, seeded)."""
    paths = list(sweep.axes)
    values = [sweep.axes[p] for p in paths]
    s = sweep.spec.sample
    if not paths:
        return [{}]
    if s == "zip":
        return [dict(zip(paths, combo)) for combo in zip(*values)]
    if s == "grid":
        return [dict(zip(paths, combo)) for combo in itertools.product(*values)]
    assert isinstance(s, Random)
    sizes = [len(v) for v in values]
    total = math.prod(sizes)
    n = min(s.random, total)
    rng = np.random.default_rng(s.seed)
    if total <= 10_000_000:
        flat = [int(f) for f in np.sort(rng.choice(total, size=n, replace=False))]
    else:  # beyond int64 too: Python integers
        draw = random.Random(s.seed)
        chosen: set[int] = set()
        while len(chosen) < n:
            chosen.add(draw.randrange(total))
        flat = sorted(chosen)
    out = []
    for f in flat:
        idx, rest = [], int(f)
        for size in reversed(sizes):
            rest, i = divmod(rest, size)
            idx.append(i)
        idx.reverse()
        out.append({p: v[i] for p, v, i in zip(paths, values, idx)})
    return out


def enumerate_points(sweep: Sweep) -> list[Point]:
    """Every point: models x profiles x positions x axis combinations, in that order."""
    combos = axis_combinations(sweep)
    spec = sweep.spec
    out: list[Point] = []
    for model in sweep.cards:
        for prof in sweep.profiles:
            for pos in spec.positions:
                for combo in combos:
                    out.append(Point(len(out), model, prof, pos, spec.tokens, spec.seed,
                                     spec.context, combo))
    return out


def build(base_card: ModelCard, base_profile: Profile,
          overrides: dict[str, Any]) -> tuple[ModelCard, Profile]:
    """The card and profile of a point: the bases with ``overrides`` set, validated by their
    schemas (an invalid value raises the schema's one-line error)."""
    card, prof = base_card, base_profile
    on_card = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("model.")}
    on_prof = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("profile.")}
    if on_card:
        data = apply(to_plain(base_card), on_card)
        card = validate(CARD_FAMILIES[base_card.family], data, base_card.name, ModelCardError)
    if on_prof:
        data = apply(to_plain(base_profile), on_prof)
        prof = validate(PROFILE_KINDS[base_profile.kind], data, base_profile.name, ProfileError)
    return card, prof
