"""Numba kernels: private, pure functions on plain arrays, one module per client stage.

``replay``: events per chunk, every block's counters and critical-path fronts of a batch of
tokens; ``net``: the numba backend's integer neurons and synapses; ``cluster``: LTE's
balanced k-means assignment; ``sample``: fitted synthetic codes, or their events per chunk,
from a counter-based generator.  Validation, dtypes and units live in the
callers' wrappers (:mod:`neurosim.replay`, :mod:`neurosim.backends`,
:mod:`neurosim.convert.lte`, :mod:`neurosim.traffic.fitted`).
"""
