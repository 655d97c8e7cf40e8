"""Reports: figures drawn from result and sweep frames.  matplotlib is imported here only."""

from neurosim.report.figures import COLORS, pareto_figure, save_figure, tornado_figure

__all__ = ["COLORS", "pareto_figure", "save_figure", "tornado_figure"]
