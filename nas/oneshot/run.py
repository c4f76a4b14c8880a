"""How the runner drives a one-shot strategy: one search per trial, each derived architecture
evaluated by the configured evaluator and recorded in the study like any other trial.

``trials: N`` runs N independent searches (seeds derived from the run seed), as the DARTS paper
ran its search four times and kept the cell that trained best. Search ``k`` lives in
``RUN/oneshot/search-k/`` (checkpoint, ``alphas.csv``, ``epochs.csv``, ``alphas.html`` and, once it
has finished, ``result.json``). Its architecture is enqueued in the study, so the search loop
evaluates it, reuses the result of an identical earlier architecture, logs it to ``trials.csv``
and re-runs it after a kill. The search's own figures (``search``, ``supernet_val_accuracy``,
``search_seconds``, ...) join the evaluator's metrics in its row. The executor may run the
searches ahead (Ray: in parallel); the evaluations are recorded here, in order.
"""

from __future__ import annotations

from pathlib import Path

import torch
from optuna.trial import TrialState

from nas.evaluators.base import EvalContext
from nas.executors.base import Executor
from nas.oneshot.base import OneShot, OneShotResult, SearchEnv, SearchJob
from nas.results.trials import FINISHED
from nas.search.loop import SearchLoop
from nas.seeds import derive_seed
from nas.training.loop import CandidateError

ONESHOT_DIR = "oneshot"


def search_jobs(run_dir: Path, seed: int, trials: int, first: int = 0) -> list[SearchJob]:
    """The one-shot searches ``first`` .. ``trials - 1`` of a run in ``run_dir`` with seed ``seed``."""
    return [
        SearchJob(k, run_dir / ONESHOT_DIR / f"search-{k}", derive_seed(seed, k))
        for k in range(first, trials)
    ]


def run_oneshot(
    loop: SearchLoop,
    strategy: OneShot,
    context: EvalContext,
    run_dir: Path,
    executor: Executor,
    progress: bool,
) -> None:
    """Run the searches the run still lacks, each ending in one recorded trial."""
    if context.training.threads:
        torch.set_num_threads(context.training.threads)
    study = loop.study
    finished = [
        t
        for t in study.get_trials(deepcopy=False, states=FINISHED)
        if not t.user_attrs.get("interrupted")
    ]
    jobs = search_jobs(run_dir, loop.config.seed, loop.config.trials, first=len(finished))
    executor.run_searches([job for job in jobs if OneShotResult.load(job.folder) is None])
    for job in jobs:
        job.folder.mkdir(parents=True, exist_ok=True)
        result = OneShotResult.load(job.folder)
        if result is None:
            env = SearchEnv(
                context.data,
                job.folder,
                job.seed,
                context.device,
                context.training.eval_batch_size,
                progress,
            )
            try:
                result = strategy.search(env)
            except CandidateError as exc:
                raise job.failed(str(exc)) from None
            result.save(job.folder)
        arch = loop.space.validate(result.arch)
        # a trial enqueued before a kill (or re-queued after one) already holds this architecture
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            study.enqueue_trial(arch, user_attrs={"oneshot_search": job.index})
        loop.step(extra={"search": job.index, **result.metrics})
