"""The search loop every executor drives: ask the strategy, skip architectures evaluated before,
evaluate the rest, tell the study their outcome, log each finished trial."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import optuna
import torch
from optuna.trial import FrozenTrial, Trial, TrialState

from nas.arch import arch_id
from nas.config import ExperimentConfig
from nas.constraints import VIOLATIONS_ATTR, violations
from nas.errors import NasError
from nas.evaluators import Evaluator, Pruned
from nas.results.trials import FINISHED, TrialLog
from nas.search.progress import Progress
from nas.search.pruners import reported_metric
from nas.search.study import trial_id
from nas.search.time_limit import shielded, time_limit
from nas.space import SearchSpace

#: A run of this many already-evaluated proposals in a row ends the search (space exhausted).
MAX_DUPLICATES_IN_A_ROW = 1000


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
class Outcome:
    """What evaluating one architecture gave: objective values, or the error it failed with."""

    number: int
    values: list[float] | None
    metrics: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, t: FrozenTrial) -> Outcome:
        """The outcome recorded in a finished trial."""
        values = list(t.values) if t.state == TrialState.COMPLETE else None
        return cls(t.number, values, t.user_attrs.get("metrics", {}), t.user_attrs.get("error"))


class Coordinator(Protocol):
    """The other workers of a shared study, as a loop sees them (``nas.search.shared.SharedStudy``)."""

    def ask(self, loop: SearchLoop, extra: dict[str, Any] | None) -> Pending | FrozenTrial | None:
        """:meth:`SearchLoop.ask` in agreement with the other workers."""

    def beat(self, trial_id: int) -> None:
        """Keep a trial of this worker alive (heartbeats) until :meth:`rest`."""

    def rest(self, trial_id: int) -> None:
        """Stop the heartbeat of a finished trial."""


class TrialCallback(Protocol):
    """Told of every trial the loop records (tracking: MLflow, TensorBoard; see :mod:`nas.tracking`)."""

    def trial_finished(self, trial: FrozenTrial, loop: SearchLoop) -> None:
        """A trial was told to the study (evaluated, reused from a duplicate, pruned or failed)."""


class SearchLoop:
    """One search: ask the strategy for architectures, evaluate new ones, tell the study.

    Every executor and one-shot run drives this same loop, so that duplicate handling, the trial
    budget, failure accounting, constraint records and the trial log are written once.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        space: SearchSpace,
        evaluator: Evaluator,
        study: optuna.Study,
        log: TrialLog | None,
        *,
        shared: Coordinator | None = None,
        callbacks: Sequence[TrialCallback] = (),
    ) -> None:
        self.config, self.space, self.evaluator, self.study, self.log = (
            config,
            space,
            evaluator,
            study,
            log,
        )
        #: the study's other workers (a search in a database), or None
        self.shared = shared
        self.callbacks = list(callbacks)
        #: the config's trials (a shared study's, which a resumed worker may have raised)
        self.trials = config.trials
        self.objectives = dict(config.objectives)
        self.constraints = config.constraint_list()
        self.sign = 1.0 if next(iter(self.objectives.values())) == "maximize" else -1.0
        self.decisions = {name: list(choices) for name, choices in space.decisions().items()}
        self.cache: dict[str, Outcome] = {}
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
            self.remember(t)

    def remember(self, t: FrozenTrial) -> None:
        """Keep a finished evaluation's outcome for later proposals of its architecture."""
        if t.state in (TrialState.COMPLETE, TrialState.FAIL) and "arch_id" in t.user_attrs:
            outcome = self.cache.setdefault(t.user_attrs["arch_id"], Outcome.of(t))
            self._note_best(outcome)

    def recount(self, trials: Sequence[FrozenTrial]) -> dict[str, int]:
        """Count and remember the evaluations among ``trials`` (every worker's, in a shared study)
        afresh; returns the architectures being evaluated now, by id, with their trial numbers."""
        self.cache.clear()
        self.evaluated, self._best = 0, None
        in_flight: dict[str, int] = {}
        for t in trials:
            if t.state in FINISHED:
                self._account(t)
            elif t.state == TrialState.RUNNING and "arch_id" in t.user_attrs:
                if "duplicate_of" not in t.user_attrs:
                    in_flight.setdefault(t.user_attrs["arch_id"], t.number)
        return in_flight

    def _note_best(self, outcome: Outcome) -> None:
        if outcome.values and all(v <= 0 for v in violations(self.constraints, outcome.metrics)):
            value = outcome.values[0]
            if self._best is None or self.sign * value > self.sign * self._best:
                self._best = value

    def best(self) -> float | None:
        """Best value of the first objective so far (among architectures that meet the constraints)."""
        return self._best

    @property
    def budget(self) -> int:
        """Architectures to evaluate in all: the config's trials, or the whole space when it is smaller."""
        return min(self.trials, self.space.size())

    def remaining(self) -> int:
        """Architectures still to evaluate."""
        return max(0, self.budget - self.evaluated)

    def exhausted(self) -> str | None:
        """Why the search must stop although budget remains (the strategy proposes only known
        architectures), or None."""
        if self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
            return (
                f"the strategy proposed {MAX_DUPLICATES_IN_A_ROW} already-evaluated "
                "architectures in a row (is the space exhausted?)"
            )
        return None

    def budget_note(self) -> str | None:
        """Why the budget is smaller than the config's trials, or None."""
        if self.budget < self.trials:
            return (
                f"the space holds only {self.budget} architectures, fewer than trials={self.trials}"
            )
        return None

    def progress(self, enabled: bool) -> Progress:
        """A progress bar over the budget (trials, best so far, ETA); silent when not ``enabled``."""
        return Progress(self, enabled)

    def step(self, extra: dict[str, Any] | None = None) -> FrozenTrial | None:
        """Ask for one architecture, evaluate it (or reuse an earlier result) and tell the study;
        None when other workers of a shared study hold the rest of the budget for now.

        ``extra``: metrics of this trial besides the evaluator's (a one-shot search's own figures).
        """
        asked = self.ask(extra)
        if asked is None or isinstance(asked, FrozenTrial):
            return asked
        evaluator, space = self.evaluator, self.space

        def evaluate(report: Callable[[int, float], None] | None) -> dict:
            with time_limit(self.config.trial_time_limit):
                return evaluator.evaluate(asked.arch, space, None, report)

        return self.finish(asked, evaluate)

    def ask(self, extra: dict[str, Any] | None = None) -> Pending | FrozenTrial | None:
        """Ask for one architecture: a new one is returned to be evaluated (then :meth:`finish`);
        one evaluated before is told at once with its earlier outcome (its finished trial is returned).

        In a shared study (several workers) None means: the rest of the budget is in flight on
        other workers; ask again (they may finish it, or die and leave their trials to re-run).
        """
        if self.shared is not None:
            return self.shared.ask(self, extra)
        return self.ask_here(extra)

    def ask_here(self, extra: dict[str, Any] | None = None) -> Pending | FrozenTrial:
        """:meth:`ask` without a shared study's coordination (which calls it under its lock)."""
        trial = self.study.ask()
        if self.shared is not None:
            self.shared.beat(trial_id(trial))
        space = self.space
        suggested: dict[str, Any] = {
            name: trial.suggest_categorical(name, c) for name, c in self.decisions.items()
        }
        arch = space.validate(suggested)
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
            frozen = self._tell(trial, state=TrialState.FAIL)
        else:
            frozen = self._tell(trial, known.values)
        self.duplicates_in_a_row += 1
        return self._logged(frozen)

    def tell_skipped(self, pending: Pending, why: str) -> FrozenTrial:
        """Tell a trial that was not evaluated and does not count (marked 'interrupted', as a trial
        that a kill cut short): its architecture is proposed again later."""
        trial = pending.trial
        trial.set_user_attr("duplicate_of", None)
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("error", f"not evaluated: {why}")
        return self._logged(self._tell(trial, state=TrialState.FAIL))

    def _tell(
        self, trial: Trial, values: list[float] | None = None, state: TrialState | None = None
    ) -> FrozenTrial:
        frozen = self.study.tell(trial, values, state=state)
        if self.shared is not None:
            self.shared.rest(trial_id(trial))
        return frozen

    def finish(
        self, pending: Pending, evaluate: Callable[[Callable[[int, float], None] | None], dict]
    ) -> FrozenTrial:
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
        for callback in self.callbacks:
            callback.trial_finished(frozen, self)
        return frozen

    def _record_violations(self, trial: Trial, metrics: dict[str, Any]) -> None:
        if self.constraints:
            found = violations(self.constraints, metrics)
            trial.set_user_attr(VIOLATIONS_ATTR, found)
            for constraint, value in zip(self.constraints, found, strict=False):
                trial.set_constraint(str(constraint), value)  # what Optuna's samplers read

    def _evaluate(
        self, trial: Trial, aid: str, extra: dict[str, Any], evaluate: Callable
    ) -> FrozenTrial:
        try:
            metrics = evaluate(self._reporter(trial))
        except optuna.TrialPruned as exc:  # stopped early: recorded with the metrics it reached
            metrics = {k: plain_value(v) for k, v in getattr(exc, "metrics", {}).items()}
            if metrics:
                trial.set_user_attr("metrics", metrics)
            self.failures_in_a_row = 0
            return self._tell(trial, state=TrialState.PRUNED)
        except NasError:
            self._tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # a candidate that crashes is recorded, and the search goes on
            return self._fail(
                trial, aid, str(exc) if isinstance(exc, RemoteError) else failure_reason(exc)
            )
        metrics = {k: plain_value(v) for k, v in {**metrics, **extra}.items()}
        trial.set_user_attr("metrics", metrics)
        missing = [k for k in self.objectives if k not in metrics]
        if missing:
            self._tell(trial, state=TrialState.FAIL)
            raise NasError(
                f"objective {missing[0]!r} is not a metric of evaluator "
                f"{self.config.evaluator.name!r} (it returns: {', '.join(metrics)})"
            )
        values = [metrics[k] for k in self.objectives]
        bad = [k for k, v in zip(self.objectives, values, strict=False) if not math.isfinite(v)]
        if bad:
            return self._fail(trial, aid, f"objective {bad[0]} is {metrics[bad[0]]}")
        self.failures_in_a_row = 0
        self._record_violations(trial, metrics)
        self.cache[aid] = outcome = Outcome(trial.number, values, metrics, None)
        self._note_best(outcome)
        return self._tell(trial, values)

    def _fail(self, trial: Trial, aid: str, reason: str) -> FrozenTrial:
        reason = reason[:500]
        trial.set_user_attr("error", reason)
        self.cache[aid] = Outcome(trial.number, None, trial.user_attrs.get("metrics", {}), reason)
        self.failures_in_a_row += 1
        frozen = self._tell(trial, state=TrialState.FAIL)
        if self.failures_in_a_row >= self.config.max_consecutive_failures:
            self._logged(frozen)
            raise NasError(
                f"{self.failures_in_a_row} trials failed in a row (last: {reason[:200]}); "
                "fix the cause (see the error column of trials.csv) and resume with --resume"
            )
        return frozen

    def _reporter(self, trial: Trial) -> Callable[[int, float], None] | None:
        if list(self.objectives) != [reported_metric(self.config)]:
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
        reason = (
            f"out of memory ({reason[:300]}); lower training.batch_size, or constrain the "
            "candidates' size (constraints: {params: '<= ...'})"
        )
    return reason


def plain_value(value: Any) -> Any:
    """Numpy and torch scalars as plain Python numbers, so that storage and CSV keep them exact."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return value
