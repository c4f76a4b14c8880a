"""Executors: where a search's trials run. ``local`` (the default) evaluates them one after another
in this process (:mod:`nas.executors.local`); ``ray`` runs them as Ray Tune trials on the CPUs and
GPUs of this machine or of a Ray cluster (:mod:`nas.executors.ray`). Both implement
:class:`nas.executors.base.Executor` and drive the one :class:`nas.search.loop.SearchLoop`.
"""
