"""The Ray Tune executor: the driver asks and tells the run's study; Ray Tune runs the evaluations.

Why not Ray's ``OptunaSearch``: it can take our sampler and the run's storage, but it tells the
study the raw reported value only. The run's layout needs more at tell time: the architecture
and its id, every metric, the error of a failed trial, constraint values (set before the tell,
for the samplers), and the duplicate and failure bookkeeping of the one search loop. So a small
``Searcher`` asks :class:`nas.search.loop.SearchLoop` for architectures, and a Tune ``Callback``
hands each finished Ray trial back to ``SearchLoop.finish``, exactly where the in-process loop
hands it its result.

Workers (:mod:`nas.executors.workers`) rebuild space and evaluator from the config (registry
names, never pickled models), run one architecture with ``training.threads`` =
``executor.cpus_per_trial``, and report the validation accuracy each epoch when a pruner is
configured: ``successive_halving`` and ``hyperband`` become Ray's ASHA scheduler, any other
pruner decides in the driver from the study as in-process.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from optuna.trial import FrozenTrial
from pydantic import Field

from nas.config import ExperimentConfig
from nas.errors import NasError
from nas.evaluators.base import Pruned
from nas.executors.base import Executor
from nas.executors.workers import DONE, EPOCH, ERROR, FATAL, METRICS, oneshot_search, run_trial
from nas.oneshot.base import SearchJob
from nas.search.loop import Pending, RemoteError, SearchLoop
from nas.search.pruners import REPORTED_METRIC
from nas.training.supernet import SupernetRecipe, TrainedSupernet

#: Ray Tune's own files (experiment state, trial folders, error logs) live in RUN/ray/.
RAY_DIR = "ray"
_ASHA = ("successive_halving", "hyperband")


@dataclass
class _State:
    """What the driver's searcher, scheduler and callback share during one Tune run."""

    loop: SearchLoop
    bar: Any
    max_retries: int
    pending: dict[str, Pending] = field(default_factory=dict)  # by Tune trial id
    waiting: dict[str, list[Pending]] = field(default_factory=dict)  # same arch as a running trial
    ready: list[Pending] = field(default_factory=list)  # to run as new Ray trials
    reported: dict[str, set[int]] = field(default_factory=dict)
    stopped: str | None = None
    fatal: NasError | None = None

    def report(self, trial_id: str, result: dict[str, Any]) -> Pending | None:
        """Record an epoch's accuracy in the study (as the in-process reporter does); the pending trial."""
        p = self.pending.get(trial_id)
        if p is None or result.get(DONE) or EPOCH not in result:
            return None
        steps = self.reported.setdefault(trial_id, set())
        if int(result[EPOCH]) not in steps:
            steps.add(int(result[EPOCH]))
            p.trial.report(float(result[REPORTED_METRIC]), int(result[EPOCH]))
        return p

    def finish(self, trial_id: str, evaluate: Callable[[Any], dict[str, Any]]) -> None:
        """Tell the study a Ray trial's outcome, then the trials that waited for the same architecture."""
        p = self.pending.pop(trial_id, None)
        if p is None or self.fatal is not None:
            return
        loop = self.loop
        try:
            loop.finish(p, evaluate)
        except NasError as exc:  # a config mistake, or too many failures in a row: stop everything
            self.fatal, self.stopped = exc, str(exc)
            return
        for w in self.waiting.pop(p.aid, []):
            if p.aid in loop.cache:
                loop.tell_known(w)
            else:  # the first was stopped early: evaluate this one (as a later proposal would be)
                self.ready.append(w)
        self.bar.update()


def _outcome(result: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """``evaluate`` for ``SearchLoop.finish``: what a finished Ray trial's last result says."""

    def evaluate(report: Any) -> dict[str, Any]:
        if FATAL in result:
            raise NasError(result[FATAL])
        if ERROR in result:
            raise RemoteError(result[ERROR])
        if result.get(DONE):
            return json.loads(result[METRICS])
        epoch = int(result.get(EPOCH, 0))  # stopped by the scheduler after this epoch
        raise Pruned(epoch, {REPORTED_METRIC: result.get(REPORTED_METRIC), "epochs": epoch})

    return evaluate


def _failure(message: str) -> Callable[[Any], dict[str, Any]]:
    def evaluate(report: Any) -> dict[str, Any]:
        raise RemoteError(message)

    return evaluate


def _error_text(trial: Any) -> str | None:
    """The failed Ray trial's error log (written by Tune in its trial folder)."""
    path = trial.error_file
    if path and Path(path).is_file():
        return Path(path).read_text(errors="replace")
    return trial.get_error()


def _last_line(error: str | None, retries: int) -> str:
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "the worker died"
    return f"{last} (after {retries} retries)" if retries else last


class RayExecutor(Executor):
    """Runs trials as Ray Tune trials on this machine's CPUs and GPUs or on a Ray cluster.

    ``address``: None starts a local Ray instance, ``auto`` or ``ray://host:10001`` joins a cluster;
    ``cpus_per_trial`` (also each trial's torch threads) and ``gpus_per_trial`` (a fraction shares a
    GPU); ``max_concurrent`` trials at once (None: as the resources allow); ``max_retries`` re-runs of
    a trial whose worker died or raised; ``train_workers`` data-parallel workers for a supernet.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        address: str | None = None,
        cpus_per_trial: Annotated[float, Field(gt=0)] = 1.0,
        gpus_per_trial: Annotated[float, Field(ge=0)] = 0.0,
        max_concurrent: Annotated[int, Field(ge=1)] | None = None,
        max_retries: Annotated[int, Field(ge=0)] = 2,
        train_workers: Annotated[int, Field(ge=1)] = 1,
    ) -> None:
        super().__init__(config)
        self.config: ExperimentConfig = config
        self.address, self.cpus_per_trial, self.gpus_per_trial = (
            address,
            cpus_per_trial,
            gpus_per_trial,
        )
        self.max_concurrent, self.max_retries, self.train_workers = (
            max_concurrent,
            max_retries,
            train_workers,
        )

    @property
    def threads(self) -> int:
        """Torch threads of each trial: its CPUs, at least one."""
        return max(1, math.floor(self.cpus_per_trial))

    def run(self, loop: SearchLoop, run_dir: Path | None, progress: bool) -> str | None:
        """Run the rest of the search's budget as Ray Tune trials; returns why it stopped early, if it did."""
        import ray

        if run_dir is None:
            raise NasError(
                "the ray executor needs a run folder (its workers read the run's files); "
                "use nas.run_search, or executor: local for an in-memory search"
            )
        started = self._connect()
        try:
            return self._tune(loop, run_dir, progress)
        finally:
            if started:
                ray.shutdown()

    def _connect(self) -> bool:
        """Join the configured Ray cluster, or start a local instance; True when this call started Ray."""
        import ray

        # trial functions run in the driver's folder (relative paths in the config stay valid)
        os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
        os.environ.setdefault(
            "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"
        )  # no TensorBoard/CSV logs per trial
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        if ray.is_initialized():
            return False
        try:
            ray.init(
                address=self.address,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
                configure_logging=True,
                runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}},
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = (
                "a local Ray instance"
                if self.address is None
                else f"the Ray cluster at {self.address!r}"
            )
            raise NasError(
                f"cannot start or reach {where} ({exc}); check executor.address "
                "('auto' for a cluster started with 'ray start', or 'ray://host:10001')"
            ) from None
        return True

    def _tune(self, loop: SearchLoop, run_dir: Path, progress: bool) -> str | None:
        from ray import tune

        config = loop.config
        if loop.remaining() <= 0:
            return loop.budget_note()
        with loop.progress(progress) as bar:
            state = _State(loop, bar, self.max_retries)
            trainable = tune.with_parameters(
                run_trial,
                config_data=config.to_yaml_dict(),
                output=str(run_dir.resolve()),
                threads=self.threads,
                report_epochs=config.pruner.name != "none",
            )
            resources = {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial}
            tuner = tune.Tuner(
                tune.with_resources(trainable, resources),
                tune_config=tune.TuneConfig(
                    search_alg=_searcher(state),
                    scheduler=_scheduler(state),
                    num_samples=loop.remaining(),
                    max_concurrent_trials=self.max_concurrent,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name="tune",
                    storage_path=str((run_dir / RAY_DIR).resolve()),
                    verbose=0,
                    failure_config=tune.FailureConfig(max_failures=self.max_retries),
                    callbacks=[_callback(state)],
                    stop=_stopper(state),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                ),
            )
            quiet = logging.getLogger("ray.tune")
            level = quiet.level
            quiet.setLevel(
                logging.CRITICAL
            )  # trial errors are recorded in trials.csv (and in RUN/ray/)
            try:
                tuner.fit()
            finally:
                quiet.setLevel(level)
        if state.fatal is not None:
            raise state.fatal
        return state.stopped or loop.budget_note()

    def run_searches(self, jobs: Sequence[SearchJob]) -> None:
        """Run one-shot searches (DARTS, ENAS seeds) as parallel Ray tasks; each saves its result in
        its folder, where the one-shot driver finds it and evaluates and records its architecture."""
        import ray

        if not jobs:
            return
        started = self._connect()
        try:
            task = ray.remote(oneshot_search).options(
                num_cpus=self.cpus_per_trial,
                num_gpus=self.gpus_per_trial,
                max_retries=self.max_retries,
                retry_exceptions=True,
            )
            data = self.config.to_yaml_dict()
            refs = {
                task.remote(data, str(job.folder.resolve()), job.seed, self.threads): job
                for job in jobs
            }
            for ref, job in refs.items():
                error = ray.get(ref)
                if error is not None:
                    raise job.failed(error)
        finally:
            if started:
                ray.shutdown()

    def train_supernet(self, recipe: SupernetRecipe, run_dir: Path) -> TrainedSupernet | None:
        """With ``train_workers`` > 1: train the supernet data-parallel on that many Ray Train workers
        (GPUs when ``gpus_per_trial`` > 0); otherwise None (trained in this process)."""
        import ray

        if self.train_workers <= 1:
            return None
        from nas.executors.ddp import train_supernet_ddp

        started = self._connect()
        try:
            return train_supernet_ddp(
                self.config.to_yaml_dict(),
                recipe,
                workers=self.train_workers,
                use_gpu=self.gpus_per_trial > 0,
                storage=run_dir / RAY_DIR,
            )
        finally:
            if started:
                ray.shutdown()


def _searcher(state: _State) -> Any:
    """A Tune searcher that proposes what the run's loop asks the strategy for."""
    from ray.tune.search import Searcher

    class LoopSearcher(Searcher):
        """Each suggestion is a new architecture from ``SearchLoop.ask``; known ones are told on the spot."""

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            loop = state.loop
            while state.stopped is None:
                asked = state.ready.pop(0) if state.ready else loop.ask()
                if isinstance(asked, FrozenTrial):
                    state.stopped = loop.exhausted()
                    continue
                if any(p.aid == asked.aid for p in state.pending.values()):
                    state.waiting.setdefault(asked.aid, []).append(
                        asked
                    )  # told when the first finishes
                    loop.duplicates_in_a_row += 1
                    continue
                state.pending[trial_id] = asked
                return {"arch": asked.arch, "trial": asked.trial.number}
            return Searcher.FINISHED  # type: ignore[return-value]  # Ray's contract, though typed Optional[Dict]

        def on_trial_complete(
            self, trial_id: str, result: dict | None = None, error: bool = False
        ) -> None:
            """Outcomes are told by the callback, which also sees a failed trial's error."""

        def save(self, checkpoint_path: str) -> None:
            """Nothing to save: the run's study is the search's state (resume with ``--resume``)."""

        def restore(self, checkpoint_path: str) -> None:
            """Nothing to restore (see :meth:`save`)."""

    return LoopSearcher()


def _scheduler(state: _State) -> Any:
    """ASHA for successive halving and hyperband; any other pruner decides in the driver."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

    config = state.loop.config
    name, options = config.pruner.name, config.pruner.options
    if name == "none":
        return FIFOScheduler()
    if name in _ASHA:
        grace = options["min_epochs"]
        epochs = options.get("max_epochs") or config.evaluator.options.get("epochs") or 100
        # ASHA stops a trial at max_t itself; one more lets a trial that survives finish and return
        return ASHAScheduler(
            time_attr=EPOCH,
            metric=REPORTED_METRIC,
            mode="max",
            grace_period=grace,
            max_t=max(epochs, grace) + 1,
            reduction_factor=options["reduction_factor"],
            brackets=3 if name == "hyperband" else 1,
        )

    class PrunerScheduler(FIFOScheduler):
        """Asks the run's Optuna pruner after each epoch, as the in-process reporter does."""

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            p = state.report(trial.trial_id, result)
            return (
                TrialScheduler.STOP
                if p is not None and p.trial.should_prune()
                else TrialScheduler.CONTINUE
            )

    return PrunerScheduler()


def _callback(state: _State) -> Any:
    from ray import tune

    class Recorder(tune.Callback):
        """Tells the study each finished Ray trial's outcome (the driver's side of ``SearchLoop.step``)."""

        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            state.report(trial.trial_id, result)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            state.finish(trial.trial_id, _outcome(dict(trial.last_result or {})))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            state.finish(
                trial.trial_id, _failure(_last_line(_error_text(trial), state.max_retries))
            )

    return Recorder()


def _stopper(state: _State) -> Any:
    from ray.tune.stopper import Stopper

    class StopWhenTold(Stopper):
        """Ends the whole Tune run once the loop says stop (fatal error, exhausted space)."""

        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return state.fatal is not None

    return StopWhenTold()
