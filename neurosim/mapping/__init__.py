"""Mapping: place an EventGraph's synapse tiles and neuron groups on cores and chips."""

from neurosim.mapping.place import BlockPlacement, Mapping, map_graph

__all__ = ["BlockPlacement", "Mapping", "map_graph"]
