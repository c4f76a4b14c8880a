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

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import Field

from nas.config import ExperimentConfig
from nas.errors import NasError
from nas.executors.base import Executor
from nas.executors.tune import TuneState, callback, scheduler, searcher, stopper
from nas.executors.workers import oneshot_search, run_trial
from nas.oneshot.base import SearchJob
from nas.search.loop import SearchLoop
from nas.training.supernet import SupernetRecipe, TrainedSupernet

#: Ray Tune's own files (experiment state, trial folders, error logs) live in RUN/ray/.
RAY_DIR = "ray"


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
            state = TuneState(loop, bar, self.max_retries)
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
                    search_alg=searcher(state),
                    scheduler=scheduler(state),
                    num_samples=loop.remaining(),
                    max_concurrent_trials=self.max_concurrent,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name="tune",
                    storage_path=str((run_dir / RAY_DIR).resolve()),
                    verbose=0,
                    failure_config=tune.FailureConfig(max_failures=self.max_retries),
                    callbacks=[callback(state)],
                    stop=stopper(state),
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
