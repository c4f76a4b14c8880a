"""The Tune side of the Ray executor: a searcher that asks the run's search loop for
architectures, a scheduler (ASHA, or the run's Optuna pruner), a callback that tells the loop
each finished Ray trial's outcome, and a stopper; they share one :class:`TuneState`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from nas.errors import NasError
from nas.evaluators.base import Pruned
from nas.executors.workers import DONE, EPOCH, ERROR, FATAL, METRICS
from nas.search.loop import Pending, RemoteError, SearchLoop
from nas.search.pruners import REPORTED_METRIC, reported_metric

#: Pruners that become Ray's ASHA scheduler (the others decide in the driver).
ASHA_PRUNERS = ("successive_halving", "hyperband")


@dataclass
class TuneState:
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

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        """Pickled as nothing: Tune snapshots its searcher, scheduler and callbacks (in RUN/ray/), which
        nas never restores (a resume reads the study); the live state (the study's storage, a shared
        study's heartbeat thread, trackers' open files) stays out of the snapshot."""
        return (type(None), ())

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


def outcome(
    result: dict[str, Any], metric: str = REPORTED_METRIC
) -> Callable[[Any], dict[str, Any]]:
    """``evaluate`` for ``SearchLoop.finish``: what a finished Ray trial's last result says; a
    pruned trial's last score is filed under ``metric``, the name the task reports it by."""

    def evaluate(report: Any) -> dict[str, Any]:
        if FATAL in result:
            raise NasError(result[FATAL])
        if ERROR in result:
            raise RemoteError(result[ERROR])
        if result.get(DONE):
            return json.loads(result[METRICS])
        epoch = int(result.get(EPOCH, 0))  # stopped by the scheduler after this epoch
        raise Pruned(epoch, {metric: result.get(REPORTED_METRIC), "epochs": epoch})

    return evaluate


def failure(message: str) -> Callable[[Any], dict[str, Any]]:
    """``evaluate`` for ``SearchLoop.finish``: a Ray trial that failed with ``message``."""

    def evaluate(report: Any) -> dict[str, Any]:
        raise RemoteError(message)

    return evaluate


def error_text(trial: Any) -> str | None:
    """The failed Ray trial's error log (written by Tune in its trial folder)."""
    path = trial.error_file
    if path and Path(path).is_file():
        return Path(path).read_text(errors="replace")
    return trial.get_error()


def last_line(error: str | None, retries: int) -> str:
    """The last line of a failed trial's error, with how many retries it had."""
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "the worker died"
    return f"{last} (after {retries} retries)" if retries else last


def searcher(state: TuneState) -> Any:
    """A Tune searcher that proposes what the run's loop asks the strategy for."""
    from ray.tune.search import Searcher

    class LoopSearcher(Searcher):
        """Each suggestion is a new architecture from ``SearchLoop.ask``; known ones are told on the spot."""

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            loop = state.loop
            while state.stopped is None:
                asked = state.ready.pop(0) if state.ready else loop.ask()
                if asked is None:  # the rest of a shared study's budget is on other workers
                    return Searcher.FINISHED if loop.remaining() <= 0 else None  # type: ignore[return-value]
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


def scheduler(state: TuneState) -> Any:
    """ASHA for successive halving and hyperband; any other pruner decides in the driver."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

    config = state.loop.config
    name, options = config.pruner.name, config.pruner.options
    if name == "none":
        return FIFOScheduler()
    if name in ASHA_PRUNERS:
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


def callback(state: TuneState) -> Any:
    """A Tune callback that tells the study each finished Ray trial's outcome."""
    from ray import tune

    class Recorder(tune.Callback):
        """Tells the study each finished Ray trial's outcome (the driver's side of ``SearchLoop.step``)."""

        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            state.report(trial.trial_id, result)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            last = dict(trial.last_result or {})
            state.finish(trial.trial_id, outcome(last, reported_metric(state.loop.config)))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            state.finish(trial.trial_id, failure(last_line(error_text(trial), state.max_retries)))

    return Recorder()


def stopper(state: TuneState) -> Any:
    """A Tune stopper that ends the whole run once the loop says stop."""
    from ray.tune.stopper import Stopper

    class StopWhenTold(Stopper):
        """Ends the whole Tune run once the loop says stop (fatal error, exhausted space)."""

        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return state.fatal is not None

    return StopWhenTold()
