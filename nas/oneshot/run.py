"""How the runner drives a one-shot strategy: one search per trial, each derived architecture
evaluated by the configured evaluator and recorded in the study like any other trial.

``trials: N`` runs N independent searches (seeds derived from the run seed), as the DARTS paper
ran its search four times and kept the cell that trained best. Search ``k`` lives in
``RUN/oneshot/search-k/`` (checkpoint, ``alphas.csv``, ``epochs.csv``, ``alphas.html`` and, once it
has finished, ``result.json``). Its architecture is enqueued in the study, so the runner's own
loop evaluates it, reuses the result of an identical earlier architecture, logs it to
``trials.csv`` and re-runs it after a kill. The search's own figures (``search``,
``supernet_val_accuracy``, ``search_seconds``, ...) join the evaluator's metrics in its row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from optuna.trial import TrialState

from nas.errors import NasError
from nas.oneshot.base import OneShotResult, SearchEnv
from nas.run_folder import RunFolder
from nas.training import CandidateError
from nas.trials import FINISHED

if TYPE_CHECKING:
    from nas.runner import _Loop

ONESHOT_DIR = "oneshot"


def search_folder(run: RunFolder, k: int) -> Path:
    """The folder of the run's ``k``-th one-shot search."""
    return run.path / ONESHOT_DIR / f"search-{k}"


def search_seed(seed: int, k: int) -> int:
    """The seed of the ``k``-th search of a run with seed ``seed``."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def drive_oneshot(loop: _Loop, run: RunFolder, progress: bool) -> None:
    """Run the searches the run still lacks, each ending in one recorded trial."""
    parts, study = loop.parts, loop.study
    context, strategy = parts.context, parts.oneshot
    assert context is not None and strategy is not None
    if context.training.threads:
        torch.set_num_threads(context.training.threads)
    finished = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if not t.user_attrs.get("interrupted")]
    for k in range(len(finished), loop.config.trials):
        folder = search_folder(run, k)
        folder.mkdir(parents=True, exist_ok=True)
        result = OneShotResult.load(folder)
        if result is None:
            env = SearchEnv(context.data, folder, search_seed(loop.config.seed, k), context.device,
                            context.training.eval_batch_size, progress)
            try:
                result = strategy.search(env)
            except CandidateError as exc:
                raise NasError(f"one-shot search {k} failed: {exc}; lower the strategy's lr or "
                               f"arch_lr, or delete {str(folder)!r} and resume") from None
            result.save(folder)
        arch = parts.space.validate(result.arch)
        # a trial enqueued before a kill (or re-queued after one) already holds this architecture
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            study.enqueue_trial(arch, user_attrs={"oneshot_search": k})
        loop.step(extra={"search": k, **result.metrics})
