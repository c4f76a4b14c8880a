"""Executors: where a search's trials run. ``local`` (the default) evaluates them one after another
in this process (:func:`nas.runner._drive`); ``ray`` runs them as Ray Tune trials on the CPUs and
GPUs of this machine or of a Ray cluster (:mod:`nas.executors.ray`).

Either way the driver keeps the run's Optuna study (the journal in the run folder) and the one
search loop (:class:`nas.runner._Loop`): ask the strategy, skip architectures evaluated before,
tell outcomes, stop after too many failures in a row. Only where ``evaluate`` runs differs.
"""
