"""The names of what ``nas show`` and ``nas plot`` can write, kept free of heavy imports so that
the command line offers them without loading pandas or plotly."""

from __future__ import annotations

#: Output formats of a trial table.
FORMATS = ("table", "csv", "json", "markdown")
#: Kinds of plot page, each written as ``<kind>.html``.
PLOT_KINDS = ("pareto", "progress", "alphas")
#: What the points of a plot may be coloured by.
COLOR_BY = ("run", "strategy")
