"""Synthetic SpikeLLM traffic: a seeded statistical model of activations, coded as GIF spikes.

Activation model, per site input (``C`` channels), token ``t``, channel ``c``:

    x[t, c] = mu + sigma_c · g_t · e[t, c],    e ~ Student-t(dof), g_t ~ LogNormal(0, token_sd)

``sigma_c`` is a per-channel scale drawn once per site: ``LogNormal(0, channel_sd)``, times
``outlier_scale`` for a fraction ``outlier_fraction`` of channels (the outlier channels of
LLM activations).  The input of ``down_proj`` (SiLU(gate)·up) has its own, heavier tail.

Salient channels (per group, a fraction ``p`` = the card's ``salient_fraction``) are the top
channels by the proxy saliency ``sigma_c² · w_c``, where ``w_c ~ LogNormal(0, weight_sd)``
stands for the column energy of ``WᵀW`` that the released code's score
``mean_t x·(x WᵀW)`` weighs (seed-methods §1.3); groups sharing an input (q/k/v, gate/up)
therefore get different masks, as in the released code.

K and V are coded per token (causal) with per-(head, channel) masks; the released code
quantizes K per channel over the whole sequence, which a decoder cannot do.

All parameters live in :class:`ActivationModel`; issue-5 style fitting replaces the
defaults with values measured on real traces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from neurosim.graph.ir import EventGraph, NeuronGroup
from neurosim.traffic.gif import _gif_codes_into

INPUT_OF_SITE = {
    "q_proj": "attn_in", "k_proj": "attn_in", "v_proj": "attn_in",
    "o_proj": "attn_out", "gate_proj": "ffn_in", "up_proj": "ffn_in",
    "down_proj": "down_in", "k_cache": "k", "v_cache": "v",
}


@dataclass(frozen=True)
class SiteStats:
    """Distribution parameters of one kind of site input."""

    mu: float = 0.0
    dof: float = 4.0
    channel_sd: float = 0.5
    outlier_fraction: float = 0.005
    outlier_scale: float = 20.0
    token_sd: float = 0.2


@dataclass(frozen=True)
class ActivationModel:
    """Parameters of the synthetic activation model, by site input kind."""

    sites: dict[str, SiteStats] = field(default_factory=lambda: {
        "attn_in": SiteStats(),
        "attn_out": SiteStats(dof=5.0, outlier_fraction=0.002, outlier_scale=8.0),
        "ffn_in": SiteStats(),
        "down_in": SiteStats(dof=2.5, channel_sd=0.3, outlier_fraction=0.001,
                             outlier_scale=30.0),
        "k": SiteStats(dof=6.0, channel_sd=0.6, outlier_fraction=0.01, outlier_scale=5.0),
        "v": SiteStats(dof=6.0, channel_sd=0.3, outlier_fraction=0.0, outlier_scale=1.0),
    })
    weight_sd: float = 0.5
    source: str = "defaults (not yet fitted to real traces)"

    def to_dict(self) -> dict:
        return asdict(self)


class SyntheticTraffic:
    """Token-by-token GIF codes for every neuron group of a SpikeLLM graph.

    ``codes(token)`` returns one flat int8 array ``(max_steps, N)``; group ``g`` occupies
    columns ``offsets[g] : offsets[g] + size``.
    """

    kind = "synthetic"

    def __init__(self, graph: EventGraph, abits: int, addbit: int, kv_addbit: int,
                 seed: int, model: ActivationModel | None = None) -> None:
        self.graph, self.seed = graph, seed
        self.model = model or ActivationModel()
        self.abits, self.addbit, self.kv_addbit = abits, addbit, kv_addbit
        self.groups: list[NeuronGroup] = list(graph.groups)
        sizes = np.array([g.size for g in self.groups], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.width = int(self.offsets[-1])
        self.max_steps = max((g.max_steps for g in self.groups), default=1)
        rng = np.random.default_rng([seed, 0])
        # one set of channel scales per (layer, input) and one salient mask per group
        self._sigma: dict[tuple[int, str], np.ndarray] = {}
        self._salient: list[np.ndarray] = []
        for g in self.groups:
            kind = INPUT_OF_SITE[g.site]
            key = (g.layer, kind)
            if key not in self._sigma:
                st = self.model.sites[kind]
                sigma = rng.lognormal(0.0, st.channel_sd, g.size)
                n_out = int(round(st.outlier_fraction * g.size))
                if n_out:
                    sigma[rng.choice(g.size, n_out, replace=False)] *= st.outlier_scale
                self._sigma[key] = sigma
            sigma = self._sigma[key]
            w = rng.lognormal(0.0, self.model.weight_sd, g.size)
            mask = np.zeros(g.size, np.bool_)
            if g.salient:
                mask[np.argsort(-(sigma**2) * w, kind="stable")[: g.salient]] = True
            self._salient.append(mask)

    def provenance(self) -> dict:
        return {"kind": "synthetic", "seed": self.seed, "model": self.model.to_dict()}

    def activations(self, token: int) -> dict[tuple[int, str], np.ndarray]:
        """Activation vectors of one token, by (layer, input kind)."""
        rng = np.random.default_rng([self.seed, 1, token])
        out = {}
        for key, sigma in self._sigma.items():
            st = self.model.sites[key[1]]
            g = rng.lognormal(0.0, st.token_sd)
            out[key] = st.mu + sigma * g * rng.standard_t(st.dof, sigma.shape[0])
        return out

    def codes(self, token: int) -> np.ndarray:
        """GIF codes of every group for ``token``: (max_steps, N) int8."""
        acts = self.activations(token)
        buf = np.zeros((self.max_steps, self.width), np.int8)
        for i, g in enumerate(self.groups):
            x = acts[(g.layer, INPUT_OF_SITE[g.site])]
            addbit = self.kv_addbit if g.site in ("k_cache", "v_cache") else self.addbit
            lo, hi = self.offsets[i], self.offsets[i + 1]
            steps = g.max_steps
            view = np.zeros((steps, g.size), np.int8)
            _gif_codes_into(x, self._salient[i], self.abits, addbit if steps > 1 else 0, view)
            buf[:steps, lo:hi] = view
        return buf
