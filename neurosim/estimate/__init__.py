"""Estimate: counters x profile -> energy by component and time by stage."""

from neurosim.estimate.costs import (
    COMPONENTS,
    accounting_baseline,
    gpu_baseline,
    interpolate,
)

__all__ = ["COMPONENTS", "accounting_baseline", "gpu_baseline", "interpolate"]
