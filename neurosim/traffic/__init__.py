"""Traffic: per-token spike codes of every neuron group, real (recorded traces) or synthetic."""

MAX_SEED = 2**63 - 1
"""The largest traffic seed: seeds key 64-bit counter-based streams."""
