"""What a search leaves behind and how it is read back: the run folder, the trial log, weights,
trial tables for ``nas show`` and the plotly pages."""
