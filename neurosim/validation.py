"""Measured checks: neurosim's figures beside published measurements of real hardware.

Each :class:`Measurement` names its source, the setup that was measured, the card and
profile that model it, the measured figure and the band of ratios (neurosim / measured) it
must fall in.  A profile number fitted to a measurement (``calibrated:`` in the profile) is
named by the check it was fitted to (``calibrates``): that check is *in sample*, every other
one *out of sample*.  :func:`validate` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from neurosim.api import run

Quantity = Literal["energy_j", "latency_s", "tokens_per_s"]
UNITS = {"energy_j": "J/token", "latency_s": "s/token", "tokens_per_s": "tokens/s"}


@dataclass(frozen=True)
class Measurement:
    """One measured figure and the run that models it.

    ``band``: (lowest, highest) allowed ratio of neurosim's figure to ``measured``;
    ``calibrates``: the dotted path of the profile number fitted to this measurement, or
    None (out of sample); ``gap``: why neurosim is known to fall outside the band (the
    check is reported, and the tests hold it outside until the reason is fixed);
    ``position`` and ``batch``: the decode the run replays."""

    check: str
    source: str
    setup: str
    model: str
    profile: str
    quantity: Quantity
    measured: float
    band: tuple[float, float]
    calibrates: str | None = None
    gap: str | None = None
    position: int = 256
    batch: int = 1


_MLENERGY = ("ML.ENERGY leaderboard v1, ml-energy/leaderboard data/A100_chat_benchmark.csv "
             "@ 4717739, chat task")
_MLENERGY_SETUP = ("1x A100 80 GB, batch 1, FP16, PyTorch 2.0.1 + FastChat, ~3,000 ShareGPT "
                   "prompts, GPU energy by Zeus (NVML)")
_ABREU = ("Abreu et al. 2025, arXiv 2503.18002, Jetson Orin Nano baseline, as quoted by "
          "secondary notes (the paper's table could not be read offline)")
_ABREU_SETUP = "Jetson Orin Nano, Qwen2-500M, batch 1 (precision, stack, power mode not stated)"
_LOIHI = ("Abreu et al. 2025, arXiv 2503.18002, and Zhu et al. 2024, arXiv 2406.02528, as "
          "quoted by secondary sources (the papers' tables could not be read offline)")
_LOIHI_SETUP = ("Loihi 2, MatMul-free LM 370M, 8-bit weights, 24-bit activations, batch 1, "
                "generation: 59.4 tokens/s at about 4.2 W (one block measured, +20 % for "
                "inter-chip traffic)")

MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("Llama-2-7B-chat on A100, latency", _MLENERGY, _MLENERGY_SETUP, "llama-2-7b",
                "gpu-a100", "latency_s", 9.4421 / 420.07, (0.75, 1.25),
                calibrates="gpu.serving.step_overhead_ms"),
    Measurement("Llama-2-7B-chat on A100, energy", _MLENERGY, _MLENERGY_SETUP, "llama-2-7b",
                "gpu-a100", "energy_j", 1828.77 / 420.07, (0.75, 1.25),
                calibrates="gpu.serving.power_w"),
    Measurement("Llama-2-13B-chat on A100, latency", _MLENERGY, _MLENERGY_SETUP, "llama-2-13b",
                "gpu-a100", "latency_s", 12.984 / 379.49, (1 / 1.5, 1.5)),
    Measurement("Llama-2-13B-chat on A100, energy", _MLENERGY, _MLENERGY_SETUP, "llama-2-13b",
                "gpu-a100", "energy_j", 3050.13 / 379.49, (1 / 1.5, 1.5)),
    Measurement("Qwen2-500M on Jetson Orin Nano, throughput", _ABREU, _ABREU_SETUP,
                "qwen2-0.5b", "jetson-orin-nano", "tokens_per_s", 13.75, (0.5, 2.0),
                calibrates="gpu.serving.step_overhead_ms"),
    Measurement("Qwen2-500M on Jetson Orin Nano, energy", _ABREU, _ABREU_SETUP,
                "qwen2-0.5b", "jetson-orin-nano", "energy_j", (0.785 + 0.912) / 2, (0.5, 2.0)),
    Measurement("MatMul-free 370M on Loihi 2, throughput", _LOIHI, _LOIHI_SETUP,
                "matmulfree-370m", "loihi2", "tokens_per_s", 59.4, (0.5, 2.0)),
    Measurement("MatMul-free 370M on Loihi 2, energy", _LOIHI, _LOIHI_SETUP,
                "matmulfree-370m", "loihi2", "energy_j", 0.0708, (0.5, 2.0),
                calibrates="chip.static_power_mw"),
)
"""The shipped checks.  Bands: 25 % where a number was fitted to the measurement, 1.5x for
the data-centre GPU out of sample, 2x for the edge and neuromorphic figures quoted
second-hand."""


def _figure(m: Measurement, tokens: int) -> float:
    s = run(m.model, m.profile, tokens=tokens, position=m.position, batch=m.batch,
                     baselines=()).summary()
    return float(s["tokens_per_s"] if m.quantity == "tokens_per_s" else s["per_token"][m.quantity])


def validate(tokens: int = 4, checks: tuple[Measurement, ...] = MEASUREMENTS,
             progress: Callable[[str, int, int], None] | None = None) -> pd.DataFrame:
    """One row per check: check, model, profile, quantity, unit, measured, neurosim, ratio
    (neurosim / measured), low, high, ok, sample ("in: <number fitted>" or "out"), gap
    (the known reason a check falls outside, or None), source, setup; each run replays
    ``tokens`` tokens from the check's position."""
    rows = []
    for i, m in enumerate(checks):
        if progress is not None:
            progress("validate", i, len(checks))
        got = _figure(m, tokens)
        ratio = got / m.measured
        rows.append({"check": m.check, "model": m.model, "profile": m.profile,
                     "quantity": m.quantity, "unit": UNITS[m.quantity], "measured": m.measured,
                     "neurosim": got, "ratio": ratio, "low": m.band[0], "high": m.band[1],
                     "ok": bool(m.band[0] <= ratio <= m.band[1]),
                     "sample": f"in: {m.profile} {m.calibrates}" if m.calibrates else "out",
                     "gap": m.gap,
                     "source": m.source, "setup": m.setup})
    if progress is not None:
        progress("validate", len(checks), len(checks))
    return pd.DataFrame(rows)
