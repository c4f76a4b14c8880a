"""What runs in Ray workers: one trial, one one-shot search; both rebuild their parts from the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.search.pruners import REPORTED_METRIC

#: Keys of the results a trial reports to Ray Tune.
EPOCH, DONE, METRICS, ERROR, FATAL = "epoch", "nas_done", "nas_metrics", "nas_error", "nas_fatal"

_WORKER_PARTS: dict[str, Any] = {}


def _worker_parts(
    config_data: dict[str, Any], output: str, threads: int, *, prepared: bool = False
) -> Any:
    """Space and evaluator, rebuilt from the config once per worker process (data loaded once);
    ``prepared``: the evaluator also prepared for the run folder, as in the driver (a supernet the
    driver trained is loaded)."""
    from nas.config import resolve_config
    from nas.executors.local import LocalExecutor
    from nas.search.components import build_components

    key = json.dumps([config_data, output, threads], sort_keys=True, default=str)
    if key not in _WORKER_PARTS:
        data = {**config_data, "training": {**config_data.get("training", {}), "threads": threads}}
        _WORKER_PARTS.clear()
        _WORKER_PARTS[key] = build_components(resolve_config(data))
    parts = _WORKER_PARTS[key]
    if prepared and parts.evaluator.run_dir is None:
        parts.evaluator.prepare(parts.space, Path(output), LocalExecutor())
    return parts


def run_trial(
    params: dict[str, Any],
    *,
    config_data: dict[str, Any],
    output: str,
    threads: int,
    report_epochs: bool,
) -> None:
    """One Ray trial: evaluate ``params['arch']`` in this worker and report the result."""
    import torch
    from ray import tune

    from nas.search.loop import plain_value
    from nas.search.time_limit import TrialTimeout, time_limit
    from nas.training.loop import CandidateError

    torch.set_num_threads(threads)
    parts = _worker_parts(config_data, output, threads, prepared=True)
    last: dict[str, Any] = {EPOCH: 0}

    def report(epoch: int, value: float) -> None:
        last.update({EPOCH: epoch, REPORTED_METRIC: value})
        tune.report(dict(last))

    try:
        with time_limit(config_data.get("trial_time_limit")):
            metrics = parts.evaluator.evaluate(
                params["arch"], parts.space, None, report if report_epochs else None
            )
    except NasError as exc:
        tune.report({**last, DONE: 1.0, FATAL: str(exc)})
        return
    except (
        CandidateError,
        TrialTimeout,
    ) as exc:  # the candidate's own fault: failed at once, not retried
        tune.report({**last, DONE: 1.0, ERROR: f"{type(exc).__name__}: {exc}"})
        return
    metrics = {k: plain_value(v) for k, v in metrics.items()}
    tune.report({**last, DONE: 1.0, METRICS: json.dumps(metrics)})


def oneshot_search(config_data: dict[str, Any], folder: str, seed: int, threads: int) -> str | None:
    """One one-shot search in a Ray worker; its result is saved in ``folder`` (None), or its error returned."""
    import torch

    from nas.oneshot.base import SearchEnv
    from nas.training.loop import CandidateError

    torch.set_num_threads(threads)
    parts = _worker_parts(config_data, str(Path(folder).parents[1]), threads)
    ctx = parts.context
    Path(folder).mkdir(parents=True, exist_ok=True)
    env = SearchEnv(ctx.data, Path(folder), seed, ctx.device, ctx.training.eval_batch_size, False)
    try:
        result = parts.oneshot.search(env)
    except CandidateError as exc:  # a diverged search: retrying it would diverge again
        return str(exc)
    result.save(Path(folder))
    return None
