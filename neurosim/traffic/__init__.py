"""Traffic: per-token spike codes of every neuron group, real (recorded traces) or synthetic."""
