from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

from nas import NasError
from nas.config import resolve_config
from nas.results.reading import load_trials
from nas.results.run_folder import STUDY_NAME, RunFolder
from nas.search.runner import run_search

TOY = {
    "space": {"name": "tests.plugins:ToySpace"},
    "evaluator": {"name": "tests.plugins:ToyEvaluator"},
    "strategy": {"name": "random"},
}


def test_search_writes_a_complete_run_folder(tiny_config: dict) -> None:
    result = run_search(resolve_config(tiny_config), progress=False)
    run = result.run.path
    assert {p.name for p in run.iterdir()} >= {
        "config.yaml",
        "run.json",
        "study.journal",
        "trials.csv",
    }
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["strategy"] == {
        "name": "evolution",
        "population_size": 2,
        "sample_size": 2,
        "warm_start": None,
    }
    frame = pd.read_csv(run / "trials.csv")
    assert len(frame) == result.evaluated == 4
    assert frame["val_accuracy"].dtype == float and frame["params"].dtype == int
    assert set(frame["state"]) == {"complete"} and frame["arch"].str.startswith("|").all()
    assert list(result.frame["val_accuracy"]) == sorted(result.frame["val_accuracy"], reverse=True)
    assert result.frame["val_accuracy"].max() > 10  # better than chance after one epoch
    shown, objectives = load_trials(run)
    assert objectives == ["val_accuracy"] and list(shown["trial"]) == list(result.frame["trial"])


def test_resume_extends_the_budget_without_re_evaluating(tiny_config: dict) -> None:
    config = resolve_config({**tiny_config, **TOY, "trials": 3})
    first = run_search(config, progress=False)
    before = pd.read_csv(first.run.path / "trials.csv")
    second = run_search(config.model_copy(update={"trials": 5}), resume=first.run, progress=False)
    after = pd.read_csv(second.run.path / "trials.csv")
    assert second.evaluated == 5
    unique = after[after["duplicate_of"].isna()]
    assert len(unique) == 5 and unique["arch_id"].is_unique
    pd.testing.assert_frame_equal(after.head(len(before))[before.columns], before)


def test_interrupted_trials_are_re_run_on_resume(tiny_config: dict) -> None:
    config = resolve_config({**tiny_config, **TOY, "trials": 2})
    result = run_search(config, progress=False)
    # what a killed process leaves behind: a trial that started and never finished
    study = optuna.load_study(study_name=STUDY_NAME, storage=result.run.storage(None))
    orphan = study.ask()
    orphan.suggest_categorical("a", [0, 1, 2])
    orphan.suggest_categorical("b", ["relu", "tanh"])
    resumed = run_search(config.model_copy(update={"trials": 3}), resume=result.run, progress=False)
    frame = pd.read_csv(resumed.run.path / "trials.csv")
    dead = frame[frame["trial"] == orphan.number].iloc[0]
    assert dead["state"] == "fail" and "interrupted" in dead["error"]
    rerun = frame[(frame["trial"] > orphan.number) & (frame["state"] == "complete")].iloc[0]
    assert (rerun["trial"], resumed.evaluated) == (orphan.number + 1, 3)


def test_duplicates_reuse_results_and_a_small_space_caps_the_budget(tiny_config: dict) -> None:
    config = resolve_config(
        {
            **tiny_config,
            **TOY,
            "trials": 10,
            "space": {"name": "tests.plugins:ToySpace", "widths": 2},
        }
    )
    result = run_search(config, progress=False)
    assert result.evaluated == 4 and "only 4 architectures" in result.stopped_early
    frame = pd.read_csv(result.run.path / "trials.csv")
    dups = frame[frame["duplicate_of"].notna()]
    for _, dup in dups.iterrows():
        original = frame[frame["trial"] == dup["duplicate_of"]].iloc[0]
        assert (dup["arch_id"], dup["val_accuracy"]) == (
            original["arch_id"],
            original["val_accuracy"],
        )


def test_failing_and_nan_candidates_are_recorded_and_the_search_goes_on(tiny_config: dict) -> None:
    evaluator = {"name": "tests.plugins:ToyEvaluator", "fail_when_a": 0, "nan_when_a": 1}
    config = resolve_config({**tiny_config, **TOY, "evaluator": evaluator, "trials": 6})
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    failed = frame[frame["state"] == "fail"]
    assert set(failed["error"]) >= {
        "RuntimeError: candidate a=0 crashed",
        "objective val_accuracy is nan",
    }
    assert (frame[frame["state"] == "complete"]["arch"].str.contains('"a":2')).all()
    assert result.frame.iloc[0]["state"] == "complete"


def test_out_of_memory_and_overtime_candidates_fail_with_their_reason(tiny_config: dict) -> None:
    evaluator = {"name": "tests.plugins:ToyEvaluator", "oom_when_a": 0, "hang_when_a": 1}
    config = resolve_config(
        {**tiny_config, **TOY, "evaluator": evaluator, "trials": 6, "trial_time_limit": 0.5}
    )
    result = run_search(
        config, progress=False
    )  # a candidate with a=1 sleeps an hour unless stopped
    frame = pd.read_csv(result.run.path / "trials.csv")
    errors = frame.groupby(frame["arch"].str.extract(r'"a":(\d)')[0])["error"].agg(set)
    assert errors["0"] == {
        "out of memory (OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB); "
        "lower training.batch_size, or constrain the candidates' size "
        "(constraints: {params: '<= ...'})"
    }
    assert errors["1"] == {
        "TrialTimeout: exceeded the per-trial time limit of 0.5 s "
        "(raise trial_time_limit, or make candidates cheaper)"
    }
    assert (frame.loc[frame["arch"].str.contains('"a":2'), "state"] == "complete").all()
    assert len(frame[frame["duplicate_of"].isna()]) == 6


def test_the_time_limit_stops_training_in_a_worker_thread(tiny_config: dict) -> None:
    from nas.evaluators import EvalContext
    from nas.evaluators.training import PartialTraining
    from nas.registry import SPACES
    from nas.search.time_limit import TrialTimeout, time_limit

    config = resolve_config({**tiny_config, "training": {"batch_size": 8, "threads": 1}})
    space = SPACES.get("nb201")(channels=4, cells_per_stage=1)
    context = EvalContext(config.dataset, config.training, 0, torch.device("cpu"))
    evaluator = PartialTraining(context, epochs=50)
    outcome: list[BaseException | None] = []
    epochs: list[int] = []

    def work() -> None:  # a worker thread gets no SIGALRM: the training loop checks the deadline
        try:
            with time_limit(0.3):
                evaluator.evaluate(
                    space.sample(np.random.default_rng(0)),
                    space,
                    report=lambda epoch, value: epochs.append(epoch),
                )
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(600)
    assert isinstance(outcome[0], TrialTimeout)
    assert len(epochs) < 50


def test_consecutive_failures_stop_the_search(tiny_config: dict) -> None:
    evaluator = {"name": "tests.plugins:ToyEvaluator", "fail_when_a": 0}
    space = {"name": "tests.plugins:ToySpace", "widths": 1}
    config = resolve_config(
        {
            **tiny_config,
            **TOY,
            "evaluator": evaluator,
            "space": space,
            "max_consecutive_failures": 2,
        }
    )
    with pytest.raises(NasError, match="2 trials failed in a row .*candidate a=0 crashed"):
        run_search(config, progress=False)


def test_unknown_objective_stops_with_a_clear_error(tiny_config: dict) -> None:
    config = resolve_config({**tiny_config, **TOY, "objectives": {"accuracy": "maximize"}})
    with pytest.raises(
        NasError, match="objective 'accuracy' is not a metric .* returns: val_accuracy, params"
    ):
        run_search(config, progress=False)


def test_a_run_being_searched_is_locked(tiny_config: dict) -> None:
    config = resolve_config({**tiny_config, **TOY})
    run = RunFolder.create(config, "cpu")
    held = run.lock()
    try:
        with pytest.raises(NasError, match="being searched by another process"):
            run_search(config, resume=run, progress=False)
    finally:
        held.close()


def test_bad_config_writes_no_run_folder(tiny_config: dict, tmp_path: Path) -> None:
    config = resolve_config({**tiny_config, "training": {"device": "tpu"}})
    with pytest.raises(NasError, match="not a device"):
        run_search(config, progress=False)
    assert not (tmp_path / "results").exists()


def test_database_storage_from_the_config(tiny_config: dict, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    config = resolve_config({**tiny_config, **TOY, "trials": 2, "storage": url})
    result = run_search(config, progress=False)
    assert (tmp_path / "studies.db").is_file() and not (result.run.path / "study.journal").exists()
    frame, _ = load_trials(result.run.path)
    assert len(frame) == 2
    other = run_search(
        resolve_config({**tiny_config, **TOY, "trials": 3, "storage": url}), progress=False
    )
    assert len(load_trials(other.run.path)[0]) == 3, (
        "two runs in one database keep their own studies"
    )
    assert len(load_trials(result.run.path)[0]) == 2


def test_same_config_and_seed_give_the_same_search_on_cpu(tiny_config: dict, one_thread) -> None:
    config = resolve_config({**tiny_config, "trials": 3})
    first, second = (run_search(config, progress=False) for _ in range(2))
    columns = ["trial", "arch_id", "val_accuracy", "val_loss", "params", "flops"]
    a, b = (pd.read_csv(r.run.path / "trials.csv")[columns] for r in (first, second))
    pd.testing.assert_frame_equal(a, b)
    meta = json.loads((first.run.path / "run.json").read_text())
    assert meta["seed"] == 0 and meta["device"] == "cpu"
    assert {"python", "torch", "optuna", "numpy", "nas"} <= set(meta["versions"])
    assert resolve_config(yaml.safe_load((first.run.path / "config.yaml").read_text())) == config
