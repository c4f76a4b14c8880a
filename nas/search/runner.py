"""Running a search: build what the config names, open the run folder and its study, then let the
configured executor drive the search loop to the trial budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import pandas as pd

from nas.config import ExperimentConfig
from nas.errors import NasError
from nas.executors.local import LocalExecutor
from nas.factories import create_strategy
from nas.oneshot.run import run_oneshot
from nas.results.run_folder import STUDY_NAME, RunFolder
from nas.results.trials import TrialLog, rows_frame, write_pareto
from nas.search.components import Components, build_components
from nas.search.loop import SearchLoop
from nas.search.shared import OPENING, DatabaseLock, SharedStudy, check_joinable
from nas.search.study import open_study, requeue_interrupted
from nas.seeds import derive_seed

#: The seed stream of a shared study's workers after the first: derive_seed(seed, WORKER_STREAM, k).
WORKER_STREAM = 7919


@dataclass
class SearchResult:
    """A finished search: its folder, its trials best first, and how long it took."""

    run: RunFolder
    frame: pd.DataFrame
    evaluated: int
    wall_seconds: float
    stopped_early: str | None = None


def run_search(
    config: ExperimentConfig,
    *,
    resume: RunFolder | None = None,
    progress: bool = True,
    on_run: Callable[[RunFolder], None] | None = None,
    study: str | None = None,
) -> SearchResult:
    """Run (or resume) a search to its trial budget; returns the run folder and its trial table.

    ``study``: join the study of that name in the config's database (created by the first worker
    to start) as one more worker, in a run folder of this process's own.
    """
    if study is not None and not config.storage:
        raise NasError(
            "joining a study needs its database: set storage (e.g. --storage postgresql://...)"
        )
    parts = build_components(config)
    if config.dataset is not None:
        parts.context.data  # noqa: B018 - load it now: a missing or corrupt data set creates no run folder
    if study is not None and parts.oneshot is not None:
        raise NasError(
            f"one-shot strategy {config.strategy.name!r} runs in one process; drop --study"
        )
    if study is not None and resume is None and config.storage:
        check_joinable(config.storage, study, config.to_yaml_dict())  # before anything is written
    run = resume or RunFolder.create(config, parts.device, study)
    if on_run is not None:
        on_run(run)
    lock = run.lock()
    try:
        return _search(config, parts, run, progress)
    finally:
        lock.close()


def _search(
    config: ExperimentConfig, parts: Components, run: RunFolder, progress: bool
) -> SearchResult:
    shared = None
    if not config.storage:
        run.repair_journal()
    try:
        if config.storage:
            with DatabaseLock(config.storage, OPENING) as opening, opening.held():
                storage = run.storage(config.storage, config.heartbeat_interval)
                study = _study(config, parts, storage, run.study_name)  # workers start at once
            shared = _join(config, parts, run, study, config.storage)
        else:
            study = _study(config, parts, run.storage(None), run.study_name)
            requeue_interrupted(study)
    except ValueError as exc:  # a journal line that is not JSON (a database reports its own errors)
        if config.storage:
            raise
        raise run.corrupt_journal_error(exc) from None
    try:
        return _drive(config, parts, run, study, shared, progress)
    finally:
        if shared is not None:
            shared.close()


def _join(
    config: ExperimentConfig, parts: Components, run: RunFolder, study: optuna.Study, url: str
) -> SharedStudy:
    """This process as a worker of the study in the database; worker k > 0 proposes with its own seed."""
    shared = SharedStudy(study, url, config.heartbeat_interval)
    meta = run.meta()
    try:
        worker = shared.join(config.to_yaml_dict(), meta.get("worker"))
    except BaseException:
        shared.close()
        raise
    if "worker" not in meta:
        run.update_meta(worker=worker)
    if worker > 0 and parts.oneshot is None:
        study.sampler = create_strategy(
            config.strategy.name,
            parts.space,
            derive_seed(config.seed, WORKER_STREAM, worker),
            config.objectives,
            config.constraint_list(),
            config.strategy.options,
        )
    return shared


def _drive(
    config: ExperimentConfig,
    parts: Components,
    run: RunFolder,
    study: optuna.Study,
    shared: SharedStudy | None,
    progress: bool,
) -> SearchResult:
    if config != run.load_config():  # a resume that changed what may change (the budget)
        run.save_config(config)
    log = TrialLog(run.trials_csv, config.objectives)
    log.rewrite(study.get_trials(deepcopy=False))
    loop = SearchLoop(
        config, parts.space, parts.evaluator, study, log, shared=shared, callbacks=parts.trackers
    )
    for tracker in parts.trackers:
        tracker.start(run.path)
    try:
        start = time.perf_counter()
        parts.evaluator.prepare(parts.space, run.path, parts.executor)
        if parts.oneshot is not None:
            run_oneshot(loop, parts.oneshot, parts.context, run.path, parts.executor, progress)
            stopped = None
        else:
            stopped = parts.executor.run(loop, run.path, progress)
        if shared is not None:  # every worker's trials, as `nas show` lists them
            log.rewrite(study.get_trials(deepcopy=False))
        frame = rows_frame(log.rows, config.objectives)
        write_pareto(run.pareto_csv, frame, config.objectives)
    except BaseException as exc:
        for tracker in parts.trackers:
            tracker.run_finished(run.path, rows_frame(log.rows, config.objectives), repr(exc))
        raise
    for tracker in parts.trackers:
        tracker.run_finished(run.path, frame)
    return SearchResult(run, frame, loop.evaluated, time.perf_counter() - start, stopped)


def _study(
    config: ExperimentConfig,
    parts: Components,
    storage: optuna.storages.BaseStorage | None,
    name: str = STUDY_NAME,
) -> optuna.Study:
    return open_study(storage, name, parts.sampler, parts.pruner, list(config.objectives.values()))


def search_in_memory(config: ExperimentConfig, parts: Components | None = None) -> optuna.Study:
    """Run a search in an in-memory study (no run folder, no files), one trial after another in this
    process; for benchmarks and notebooks.

    The loop is the one :func:`run_search` runs: the same duplicate handling, budget and
    constraint records; only the storage, the trial log and the executor differ.
    """
    parts = parts or build_components(config)
    loop = SearchLoop(config, parts.space, parts.evaluator, _study(config, parts, None), None)
    local = LocalExecutor()
    parts.evaluator.prepare(parts.space, None, local)
    local.run(loop, None, progress=False)
    return loop.study
