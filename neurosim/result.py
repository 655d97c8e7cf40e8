"""Result: tidy pandas frames plus provenance; JSON + Parquet on disk.

Frames (one row per token unless noted):

``tokens``     token, position, energy_j, latency_s (between two tokens of one sequence of
               the batch), spikes (a simulated network only: a token is one time step, and
               this is the spikes its populations emitted), events, synops, synops_graded,
               dense_equivalent_macs, dense_macs (MACs the dense units run: non-spiking
               projections, heads; LTE experts only when active), neuron_updates, messages,
               hops, chip_crossings,
               ``memory_bytes:<level>`` and ``energy_j:<component>`` columns
``sites``      token, layer, site, block: events, synops, messages, energy_j (row per block)
``baselines``  token, profile, baseline (its profile), variant, kind, energy_j, latency_s
``stages``     token, stage, layer (-1: outside the decoder layers), latency_s (row per stage;
               profiles that model stages only, else None)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neurosim._files import check_seal, strict_json, verify_files, write_dir
from neurosim._read import read_regular
from neurosim.errors import InputError
from neurosim.replay.counters import Counters

FRAMES = ("tokens", "sites", "baselines")
RESULT_FORMAT = "neurosim.Result"
"""``result.json``'s ``format``: the summary, and every other file's SHA-256 under ``files``."""
COUNTERS = "counters.npz"
PROFILE = "profile.yaml"


@dataclass(eq=False)
class Result:
    """Outcome of :func:`neurosim.run`."""

    model: str
    profile: str
    backend: str
    traffic: str
    tokens: pd.DataFrame
    sites: pd.DataFrame
    baselines: pd.DataFrame
    mapping: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    counters: Counters | None = field(default=None, repr=False)
    profile_yaml: str | None = field(default=None, repr=False)
    stages: pd.DataFrame | None = field(default=None, repr=False)
    """The canonical YAML of the profile that priced the result (its sha256 is
    ``provenance["profile_sha256"]``): every number used, with its source or assumption."""

    # --- summaries --------------------------------------------------------------------

    def per_token(self) -> dict[str, Any]:
        """Means over the replayed tokens."""
        t = self.tokens
        mem = {c.split(":", 1)[1]: float(t[c].mean()) for c in t if c.startswith("memory_bytes:")}
        return {
            "energy_j": float(t["energy_j"].mean()),
            "latency_s": _mean_or_none(t["latency_s"]),
            "events": float(t["events"].mean()),
            "synops": float(t["synops"].mean()),
            "dense_equivalent_macs": float(t["dense_equivalent_macs"].mean()),
            "dense_macs": float(t["dense_macs"].mean()) if "dense_macs" in t else None,
            "neuron_updates": float(t["neuron_updates"].mean()),
            "messages": float(t["messages"].mean()),
            "hops": float(t["hops"].mean()),
            "chip_crossings": float(t["chip_crossings"].mean()),
            "memory_bytes": mem,
        }

    def energy_by_component(self) -> dict[str, float]:
        t = self.tokens
        return {c.split(":", 1)[1]: float(t[c].mean()) for c in t if c.startswith("energy_j:")}

    def _pipelined(self) -> float | None:
        """Tokens/s with layer pipelining, when the profile enables it."""
        if not self.provenance.get("layer_pipelining") or "bottleneck_s" not in self.tokens:
            return None
        return 1.0 / float(self.tokens["bottleneck_s"].mean())

    def latency_by_layer(self) -> pd.Series | None:
        """Mean latency per token of each layer's stages (layer -1: embedding, final norm,
        head), or None when the profile models no stages."""
        if self.stages is None or self.stages.empty:
            return None
        return self.stages.groupby("layer")["latency_s"].sum() / self.tokens.shape[0]

    def latency_breakdown(self) -> dict[str, float]:
        """Mean latency per token by part; ``spiking:noc`` and ``spiking:barrier`` are parts
        of ``spiking``."""
        t = self.tokens
        return {c.split(":", 1)[1]: float(t[c].mean()) for c in t if c.startswith("latency_s:")}

    def top_sites(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` site types (over layers) with the most energy per token."""
        cols = ["energy_j", "events", "synops"]
        if self.sites.empty:  # a dense model has no spiking sites
            return pd.DataFrame(columns=cols)
        s = self.sites.groupby("site")[cols].sum()
        return (s / self.tokens.shape[0]).sort_values("energy_j", ascending=False).head(n)

    def summary(self) -> dict[str, Any]:
        pt = self.per_token()
        lat = pt["latency_s"]
        base = {}
        for prof, g in self.baselines.groupby("profile"):
            base[prof] = {"kind": g["kind"].iloc[0], "energy_j": float(g["energy_j"].mean()),
                          "latency_s": _mean_or_none(g["latency_s"])}
        batch = int(self.provenance.get("batch", 1))
        out = {
            "model": self.model,
            "profile": self.profile,
            "backend": self.backend,
            "tokens": int(self.tokens.shape[0]),
            "batch": batch,
            "traffic": self.traffic,
            "per_token": pt,
            "tokens_per_s": None if not lat else batch / lat,
            "tokens_per_s_pipelined": self._pipelined(),
            "chips": self.mapping.get("chips"),
            "cores": self.mapping.get("cores"),
            "energy_by_component_j": self.energy_by_component(),
            "latency_breakdown_s": self.latency_breakdown(),
            "baselines": base,
            "mapping": self.mapping,
            "notes": self.notes,
            "provenance": self.provenance,
        }
        nb = self.neurobench()
        if nb is not None:
            out["neurobench"] = nb
        if "spikes" in self.tokens:  # a simulated network: a token is a time step
            t = self.tokens
            out["per_inference"] = {
                "steps": int(t.shape[0]), "energy_j": float(t["energy_j"].sum()),
                "latency_s": None if t["latency_s"].isna().any() else float(t["latency_s"].sum()),
                "spikes": int(t["spikes"].sum()), "synops": int(t["synops"].sum())}
        if "roofline_energy_j" in self.tokens:  # a GPU as served, its roofline beside it
            out["roofline"] = {"energy_j": float(self.tokens["roofline_energy_j"].mean()),
                               "latency_s": float(self.tokens["roofline_latency_s"].mean())}
        return out

    def neurobench(self) -> dict[str, Any] | None:
        """NeuroBench 2.3's metrics under its names, per sample (a token; a simulated
        network's inference, all its steps): ``Effective_ACs`` (synops of binary or ternary
        codes), ``Effective_MACs`` (synops of graded codes, one per weight, plus the dense
        units' MACs), ``Dense`` (dense-equivalent MACs), ``ActivationSparsity`` (zero codes
        over all codes of the groups that drive weights; a network's: its spiking
        populations' outputs), and the static ``ParameterCount``, ``Footprint`` (bytes) and
        ``ConnectionSparsity``; None for a result without these counters."""
        t = self.tokens
        if "effective_acs" not in t:
            return None
        per = float(len(t)) if "spikes" in t else 1.0  # a network's sample is its inference
        act = int(t["activations"].sum())
        meta = self.counters.meta if self.counters is not None else {}
        return {
            "sample": "inference" if "spikes" in t else "token",
            "Effective_ACs": float(t["effective_acs"].mean()) * per,
            "Effective_MACs": float(t["effective_macs"].mean()) * per,
            "Dense": float(t["dense_equivalent_macs"].mean()) * per,
            "ActivationSparsity": 1 - int(t["activations_nonzero"].sum()) / act if act else None,
            "ParameterCount": meta.get("parameters"),
            "Footprint": meta.get("footprint_bytes"),
            "ConnectionSparsity": meta.get("connection_sparsity"),
        }

    # --- files ------------------------------------------------------------------------

    def save(self, out: str | os.PathLike) -> Path:
        """Write ``result.json``, one Parquet file per frame and ``counters.npz`` (the run's
        counters, which :func:`neurosim.reprice` prices on another profile) into ``out``.

        The files are written into a temporary sibling directory, ``result.json`` last with
        every other file's SHA-256, and the directory is renamed into place whole
        (:func:`neurosim._files.write_dir`): a failure or a kill leaves no partial result,
        and an existing directory that is not a result is refused.
        """
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise InputError(str(out), None, "exists and is not a directory",
                             expected="a directory path for the results")

        def write(tmp: Path) -> list[str]:
            names = []
            for name in FRAMES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
                names.append(f"{name}.parquet")
            if self.stages is not None:
                self.stages.to_parquet(tmp / "stages.parquet", index=False)
                names.append("stages.parquet")
            if self.counters is not None:
                self.counters.save(tmp / COUNTERS)
                names.append(COUNTERS)
            if self.profile_yaml is not None:
                (tmp / PROFILE).write_text(self.profile_yaml)
                names.append(PROFILE)
            return names

        summary = self.summary()
        strict_json(summary, "result.json")  # a non-finite figure: refused before writing
        try:
            write_dir(out, "result.json", {"format": RESULT_FORMAT, **summary}, write,
                             "neurosim result")
        except OSError as exc:
            raise InputError(str(out), None, f"cannot write results: {exc.strerror or exc}",
                             expected="a writable directory") from None
        return out

    @classmethod
    def load(cls, out: str | os.PathLike, *, counters: bool = True) -> Result:
        """Read a result directory; ``counters``: also its ``counters.npz`` (checked against
        the SHA-256 in ``result.json``), which must then exist."""
        out = Path(out)
        if not out.is_dir():
            raise InputError(str(out), None, "not a directory",
                             expected="a result directory written by neurosim run --out")
        try:
            meta = json.loads(read_regular(out / "result.json", what="result manifest"))
            files = meta.get("files") if isinstance(meta, dict) else None
            if meta.get("format") != RESULT_FORMAT or not isinstance(files, dict):
                raise InputError(str(out / "result.json"), "format", "not a neurosim result "
                                 "manifest", got=meta.get("format"), expected=RESULT_FORMAT)
            check_seal(meta, str(out / "result.json"), "run again with --out")
            verify_files(out, sorted(files.items()), True, "run again with --out")
            frames = {n: pd.read_parquet(out / f"{n}.parquet") for n in FRAMES}
            if (out / "stages.parquet").is_file():
                frames["stages"] = pd.read_parquet(out / "stages.parquet")
            head = (meta["model"], meta["profile"], meta["backend"], meta["traffic"])
            prov = meta["provenance"]
        except InputError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(str(out), None,
                             f"not a neurosim result directory: {str(exc)[:120]}") from None
        profile_yaml = None
        if (out / PROFILE).is_file():
            profile_yaml = (out / PROFILE).read_text()
            sha = hashlib.sha256(profile_yaml.encode()).hexdigest()
            if sha != prov.get("profile_sha256"):
                raise InputError(str(out / PROFILE), None, "checksum does not match result.json",
                                 got=sha[:12], expected=f"sha256 {str(prov.get('profile_sha256'))[:12]}")
        c = None
        if counters:
            sha = files.get(COUNTERS)
            if not sha or not (out / COUNTERS).is_file():
                raise InputError(str(out), COUNTERS, "the result has no saved counters",
                                 expected="a directory written by neurosim run --out")
            c = Counters.load(out / COUNTERS, sha256=sha)
        return cls(*head, mapping=meta.get("mapping", {}), provenance=prov,
                   notes=meta.get("notes", []), counters=c, profile_yaml=profile_yaml, **frames)


def _mean_or_none(col: pd.Series) -> float | None:
    col = col.dropna()
    return None if col.empty else float(col.mean())
