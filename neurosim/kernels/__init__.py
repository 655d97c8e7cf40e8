"""Numba kernels: private, pure functions on plain arrays, one module per client stage.

``replay``: events and synops per chunk and tile, critical-path fronts; ``net``: the numba
backend's integer neurons and synapses; ``cluster``: LTE's balanced k-means assignment;
``sample``: synthetic codes from inverse CDFs.  Validation, dtypes and units live in the
callers' wrappers (:mod:`neurosim.replay`, :mod:`neurosim.backends`,
:mod:`neurosim.convert.lte`, :mod:`neurosim.traffic.fitted`).
"""
