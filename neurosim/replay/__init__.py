"""Replay: per-token spike codes x a placed graph -> counters (no prices)."""
