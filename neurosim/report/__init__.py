"""Reports drawn from result and sweep frames: figures (:mod:`neurosim.report.figures`, the
only importer of matplotlib) and self-contained HTML pages (:mod:`neurosim.report.html`)."""
