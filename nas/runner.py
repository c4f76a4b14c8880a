"""The in-process runner: ask the strategy, evaluate, tell the study, log the trial."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
import torch
from optuna.trial import FrozenTrial, Trial, TrialState
from tqdm.auto import tqdm

from nas.arch import arch_id
from nas.components import Components, build_components
from nas.config import ExperimentConfig
from nas.constraints import VIOLATIONS_ATTR, violations
from nas.errors import NasError
from nas.evaluators import Pruned
from nas.pruners import REPORTED_METRIC
from nas.run_folder import STUDY_NAME, RunFolder
from nas.time_limit import shielded, time_limit
from nas.trials import FINISHED, TrialLog, rows_frame, write_pareto

#: A run of this many already-evaluated proposals in a row ends the search (space exhausted).
MAX_DUPLICATES_IN_A_ROW = 1000


@dataclass
class SearchResult:
    """A finished search: its folder, its trials best first, and how long it took."""

    run: RunFolder
    frame: pd.DataFrame
    evaluated: int
    wall_seconds: float
    stopped_early: str | None = None


class RemoteError(Exception):
    """A trial that failed in another process; its message is the remote error, as recorded."""


@dataclass
class Pending:
    """An asked trial whose (new) architecture awaits evaluation."""

    trial: Trial
    arch: dict[str, Any]
    aid: str
    extra: dict[str, Any]


@dataclass
class _Outcome:
    """What evaluating one architecture gave: objective values, or the error it failed with."""

    number: int
    values: list[float] | None
    metrics: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, t: FrozenTrial) -> _Outcome:
        """The outcome recorded in a finished trial."""
        values = list(t.values) if t.state == TrialState.COMPLETE else None
        return cls(t.number, values, t.user_attrs.get("metrics", {}), t.user_attrs.get("error"))


class _Loop:
    """State of one search loop (kept out of the public API)."""

    def __init__(self, config: ExperimentConfig, parts: Components, study: optuna.Study, log: TrialLog | None):
        self.config, self.parts, self.study, self.log = config, parts, study, log
        self.objectives = dict(config.objectives)
        self.constraints = config.constraint_list()
        self.sign = 1.0 if next(iter(self.objectives.values())) == "maximize" else -1.0
        self.decisions = {name: list(choices) for name, choices in parts.space.decisions().items()}
        self.cache: dict[str, _Outcome] = {}
        self._best: float | None = None
        self.evaluated = 0
        self.failures_in_a_row = 0
        self.duplicates_in_a_row = 0
        for t in study.get_trials(deepcopy=False, states=FINISHED):
            self._account(t)

    def _account(self, t: FrozenTrial) -> None:
        if t.user_attrs.get("interrupted"):
            return
        if "duplicate_of" not in t.user_attrs:
            self.evaluated += 1
            if t.state in (TrialState.COMPLETE, TrialState.FAIL):
                outcome = self.cache.setdefault(t.user_attrs["arch_id"], _Outcome.of(t))
                self._note_best(outcome)

    def _note_best(self, outcome: _Outcome) -> None:
        if outcome.values and all(v <= 0 for v in violations(self.constraints, outcome.metrics)):
            value = outcome.values[0]
            if self._best is None or self.sign * value > self.sign * self._best:
                self._best = value

    def best(self) -> float | None:
        """Best value of the first objective so far (among architectures that meet the constraints)."""
        return self._best

    def step(self, extra: dict[str, Any] | None = None) -> FrozenTrial:
        """Ask for one architecture, evaluate it (or reuse an earlier result) and tell the study.

        ``extra``: metrics of this trial besides the evaluator's (a one-shot search's own figures).
        """
        asked = self.ask(extra)
        if isinstance(asked, FrozenTrial):
            return asked
        evaluator, space = self.parts.evaluator, self.parts.space

        def evaluate(report: Callable[[int, float], None] | None) -> dict:
            with time_limit(self.config.trial_time_limit):
                return evaluator.evaluate(asked.arch, space, None, report)

        return self.finish(asked, evaluate)

    def ask(self, extra: dict[str, Any] | None = None) -> Pending | FrozenTrial:
        """Ask for one architecture: a new one is returned to be evaluated (then :meth:`finish`);
        one evaluated before is told at once with its earlier outcome (its finished trial is returned)."""
        trial = self.study.ask()
        space = self.parts.space
        arch = space.validate({name: trial.suggest_categorical(name, c) for name, c in self.decisions.items()})
        aid = arch_id(arch)
        trial.set_user_attr("arch_id", aid)
        trial.set_user_attr("arch", space.format(arch))
        pending = Pending(trial, arch, aid, extra or {})
        if aid in self.cache:
            return self.tell_known(pending)
        self.duplicates_in_a_row = 0
        return pending

    def tell_known(self, pending: Pending) -> FrozenTrial:
        """Tell a trial of an architecture evaluated before: its outcome (result or failure) is reused."""
        trial, known = pending.trial, self.cache[pending.aid]
        trial.set_user_attr("duplicate_of", known.number)
        trial.set_user_attr("metrics", {**known.metrics, **pending.extra})
        self._record_violations(trial, known.metrics)
        if known.error is not None:
            trial.set_user_attr("error", known.error)
            frozen = self.study.tell(trial, state=TrialState.FAIL)
        else:
            frozen = self.study.tell(trial, known.values)
        self.duplicates_in_a_row += 1
        return self._logged(frozen)

    def finish(self, pending: Pending, evaluate: Callable[[Callable[[int, float], None] | None], dict]) -> FrozenTrial:
        """Evaluate a pending architecture with ``evaluate(report)`` and tell the study its outcome.

        ``evaluate`` returns the metrics, or raises ``optuna.TrialPruned`` (stopped early), a
        ``NasError`` (a mistake in the config: the search stops) or any other error (the trial fails).
        """
        try:
            frozen = self._evaluate(pending.trial, pending.aid, pending.extra, evaluate)
        finally:
            self.evaluated += 1
        return self._logged(frozen)

    def _logged(self, frozen: FrozenTrial) -> FrozenTrial:
        if self.log is not None:
            self.log.append(frozen)
        return frozen

    def _record_violations(self, trial: Trial, metrics: dict[str, Any]) -> None:
        if self.constraints:
            found = violations(self.constraints, metrics)
            trial.set_user_attr(VIOLATIONS_ATTR, found)
            for constraint, value in zip(self.constraints, found):
                trial.set_constraint(str(constraint), value)  # what Optuna's samplers read

    def _evaluate(self, trial: Trial, aid: str, extra: dict[str, Any], evaluate: Callable) -> FrozenTrial:
        try:
            metrics = evaluate(self._reporter(trial))
        except optuna.TrialPruned as exc:  # stopped early: recorded with the metrics it reached
            metrics = {k: _plain(v) for k, v in getattr(exc, "metrics", {}).items()}
            if metrics:
                trial.set_user_attr("metrics", metrics)
            self.failures_in_a_row = 0
            return self.study.tell(trial, state=TrialState.PRUNED)
        except NasError:
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # a candidate that crashes is recorded, and the search goes on
            return self._fail(trial, aid, str(exc) if isinstance(exc, RemoteError) else failure_reason(exc))
        metrics = {k: _plain(v) for k, v in {**metrics, **extra}.items()}
        trial.set_user_attr("metrics", metrics)
        missing = [k for k in self.objectives if k not in metrics]
        if missing:
            self.study.tell(trial, state=TrialState.FAIL)
            raise NasError(f"objective {missing[0]!r} is not a metric of evaluator "
                           f"{self.config.evaluator.name!r} (it returns: {', '.join(metrics)})")
        values = [metrics[k] for k in self.objectives]
        bad = [k for k, v in zip(self.objectives, values) if not math.isfinite(v)]
        if bad:
            return self._fail(trial, aid, f"objective {bad[0]} is {metrics[bad[0]]}")
        self.failures_in_a_row = 0
        self._record_violations(trial, metrics)
        self.cache[aid] = outcome = _Outcome(trial.number, values, metrics, None)
        self._note_best(outcome)
        return self.study.tell(trial, values)

    def _fail(self, trial: Trial, aid: str, reason: str) -> FrozenTrial:
        reason = reason[:500]
        trial.set_user_attr("error", reason)
        self.cache[aid] = _Outcome(trial.number, None, trial.user_attrs.get("metrics", {}), reason)
        self.failures_in_a_row += 1
        frozen = self.study.tell(trial, state=TrialState.FAIL)
        if self.failures_in_a_row >= self.config.max_consecutive_failures:
            self._logged(frozen)
            raise NasError(f"{self.failures_in_a_row} trials failed in a row (last: {reason[:200]}); "
                           "fix the cause (see the error column of trials.csv) and resume with --resume")
        return frozen

    def _reporter(self, trial: Trial) -> Callable[[int, float], None] | None:
        if list(self.objectives) != [REPORTED_METRIC]:
            return None

        def report(epoch: int, value: float) -> None:
            with shielded():
                trial.report(value, epoch)
                prune = trial.should_prune()
            if prune:
                raise Pruned(epoch)

        return report


def failure_reason(exc: BaseException) -> str:
    """What a failed candidate's error column says: the exception, and for running out of memory
    what to change (the memory is handed back first, so the next candidate starts clean)."""
    reason = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        reason = (f"out of memory ({reason[:300]}); lower training.batch_size, or constrain the "
                  "candidates' size (constraints: {params: '<= ...'})")
    return reason


def _plain(value: Any) -> Any:
    """Numpy and torch scalars as plain Python numbers, so that storage and CSV keep them exact."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return value


def _requeue_interrupted(study: optuna.Study) -> int:
    """Trials left running by a killed process: queue their architectures again, then mark them
    failed ('interrupted'). In that order, so that a kill in between loses nothing."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        # an enqueued trial keeps its architecture in 'fixed_params' until it is suggested
        params = {**t.system_attrs.get("fixed_params", {}), **t.params}
        study.enqueue_trial(params, skip_if_exists=False)
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted; re-run on resume")
        study.tell(t.number, state=TrialState.FAIL)
    return len(stale)


def run_search(
    config: ExperimentConfig, *, resume: RunFolder | None = None, progress: bool = True,
    on_run: Callable[[RunFolder], None] | None = None,
) -> SearchResult:
    """Run (or resume) a search to its trial budget; returns the run folder and its trial table."""
    parts = build_components(config)
    if config.dataset is not None:
        parts.context.data  # noqa: B018 - load it now: a missing or corrupt data set creates no run folder
    run = resume or RunFolder.create(config, parts.device)
    parts.context.output = run.path
    if on_run is not None:
        on_run(run)
    lock = run.lock()
    try:
        return _search(config, parts, run, progress)
    finally:
        lock.close()


def _search(config: ExperimentConfig, parts: Components, run: RunFolder, progress: bool) -> SearchResult:
    if not config.storage:
        run.repair_journal()
    try:
        study = _study(config, parts, run.storage(config.storage), run.study_name)
        _requeue_interrupted(study)
    except ValueError as exc:  # a journal line that is not JSON (a database reports its own errors)
        if config.storage:
            raise
        raise run.corrupt_journal_error(exc) from None
    if config != run.load_config():  # a resume that changed what may change (the budget)
        run.save_config(config)
    log = TrialLog(run.trials_csv, config.objectives)
    log.rewrite(study.get_trials(deepcopy=False))
    loop = _Loop(config, parts, study, log)
    start = time.perf_counter()
    if parts.oneshot is not None:
        from nas.oneshot.run import drive_oneshot

        if config.executor.name == "ray":  # the searches in parallel, then recorded in order as below
            from nas.executors.ray import run_oneshot_searches

            run_oneshot_searches(loop, run)
        drive_oneshot(loop, run, progress)
        stopped = None
    elif config.executor.name == "ray":
        from nas.executors.ray import drive_ray

        stopped = drive_ray(loop, run, progress)
    else:
        stopped = _drive(loop, progress)
    frame = rows_frame(log.rows, config.objectives)
    write_pareto(run.pareto_csv, frame, config.objectives)
    return SearchResult(run, frame, loop.evaluated, time.perf_counter() - start, stopped)


def _study(config: ExperimentConfig, parts: Components, storage: optuna.storages.BaseStorage | None,
           name: str = STUDY_NAME) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna.create_study(
        storage=storage, study_name=name, sampler=parts.sampler,
        pruner=parts.pruner, directions=list(config.objectives.values()),
        load_if_exists=True,
    )


def _drive(loop: _Loop, progress: bool) -> str | None:
    """Step the loop to the trial budget; returns why it stopped early, if it did."""
    config = loop.config
    budget = min(config.trials, loop.parts.space.size())
    stopped = None
    bar = tqdm(total=budget, initial=min(loop.evaluated, budget), unit="trial", disable=not progress,
               dynamic_ncols=True, desc=config.name)
    with bar:
        while loop.evaluated < budget:
            loop.step()
            if progress:
                bar.n = loop.evaluated
                best = loop.best()
                bar.set_postfix_str(f"best {next(iter(config.objectives))}={best:.2f}" if best is not None else "")
            if loop.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                stopped = (f"the strategy proposed {MAX_DUPLICATES_IN_A_ROW} already-evaluated "
                           "architectures in a row (is the space exhausted?)")
                break
    if budget < config.trials:
        stopped = f"the space holds only {budget} architectures, fewer than trials={config.trials}"
    return stopped


def search_in_memory(config: ExperimentConfig, parts: Components | None = None) -> optuna.Study:
    """Run a search in an in-memory study (no run folder, no files); for benchmarks and notebooks.

    The loop is the one :func:`run_search` runs: the same duplicate handling, budget and
    constraint records; only the storage and the trial log differ.
    """
    parts = parts or build_components(config)
    loop = _Loop(config, parts, _study(config, parts, None), None)
    _drive(loop, progress=False)
    return loop.study
