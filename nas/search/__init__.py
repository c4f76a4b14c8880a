"""Running a search: the runner (:mod:`nas.search.runner`), the search loop every executor drives
(:mod:`nas.search.loop`), what a config builds (:mod:`nas.search.components`), the study
(:mod:`nas.search.study`), pruners and the per-trial time limit."""
