"""Tracking: a search logs every trial and its artefacts to MLflow (SQLite backend, no server) and
TensorBoard event files, read back here with MLflow's client and TensorBoard's event reader."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.config import resolve_config
from nas.errors import NasError
from nas.search.runner import run_search
from nas.tracking.mlflow_tracker import param_key

ROOT = Path(__file__).resolve().parents[2]


def test_mlflow_and_tensorboard_show_every_trial_and_the_run_artefacts(
    tiny_config: dict, tmp_path: Path, one_thread
) -> None:
    mlflow = pytest.importorskip("mlflow")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = {
        **tiny_config,
        "trials": 3,
        "strategy": {"name": "random"},
        "tracking": {
            "mlflow": {
                "tracking_uri": uri,
                "experiment": "tracked",
                "artifact_location": str(tmp_path / "artifacts"),
            },
            "tensorboard": str(tmp_path / "tb"),
        },
    }
    run = run_search(resolve_config(config), progress=False).run
    study = optuna.load_study(study_name=run.study_name, storage=run.storage(None))
    trials = {t.number: t for t in study.trials}

    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("tracked")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {int(r.data.tags["trial"]): r for r in runs if r is not parent}
    assert parent.info.status == "FINISHED" and parent.data.tags["nas.run_dir"] == str(
        run.path.resolve()
    )
    assert sorted(children) == sorted(trials) and len(children) == 3
    for number, child in children.items():
        t = trials[number]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.params == {param_key(k): str(v) for k, v in t.params.items()}  # the arch
        assert (
            child.data.tags["state"] == "complete"
            and child.data.tags["arch"] == t.user_attrs["arch"]
        )
        assert child.data.metrics["val_accuracy"] == pytest.approx(t.values[0])
        assert child.data.metrics["duration_s"] == pytest.approx(
            t.duration.total_seconds(), abs=1e-3
        )
        assert child.data.metrics["params"] > 0 and child.info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config.yaml", "pareto.csv", "plots", "best"} <= names
    best = {a.path for a in client.list_artifacts(parent.info.run_id, "best")}
    assert "best/best.py" in best
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {"plots/pareto.html"}

    logdir = tmp_path / "tb" / run.path.parent.name / run.path.name
    events = accumulator.EventAccumulator(str(logdir), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    accuracy = events.Scalars("trial/val_accuracy")
    assert [(e.step, e.value) for e in accuracy] == [
        (n, pytest.approx(t.values[0])) for n, t in sorted(trials.items())
    ]
    assert [e.step for e in events.Scalars("trial/duration_s")] == sorted(trials)
    text = tensor_util.make_ndarray(
        events.Tensors("artefacts/config.yaml/text_summary")[0].tensor_proto
    )
    assert "name: tiny" in text.item().decode()
    assert events.Tensors("artefacts/best.py/text_summary")
    for number, t in trials.items():  # TensorBoard's HParams dashboard: one session per trial
        session = accumulator.EventAccumulator(str(logdir / f"trial-{number}"))
        session.Reload()
        content = session.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        assert hparams["state"].string_value == "complete"
        assert {k: hparams[k].string_value or hparams[k].number_value for k in t.params} == t.params
    assert t.state == TrialState.COMPLETE


def test_a_tracker_not_installed_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """With mlflow unimportable (as where it is not installed), `nas search` says how to install it."""
    (tmp_path / "exp.yaml").write_text(
        "name: toy\ntrials: 2\nspace: {name: 'tests.plugins:ToySpace'}\nstrategy: random\n"
        "evaluator: {name: 'tests.plugins:ToyEvaluator'}\ntracking: {mlflow: {tracking_uri: 'sqlite:///m.db'}}\n"
    )
    code = (
        "import sys; sys.modules['mlflow'] = None; from nas.cli.main import main; sys.exit(main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "search", "exp.yaml", "--quiet"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: tracking.mlflow needs the 'mlflow' package; install it with pip install 'nas[mlflow]' "
        "(or remove tracking.mlflow from the config)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"], "nothing was written"


def test_unknown_trackers_and_options_are_refused_before_anything_is_written(
    tiny_config: dict, tmp_path: Path
) -> None:
    for tracking, message in (
        ({"mlfow": {}}, "unknown tracker 'mlfow' (did you mean 'mlflow'?)"),
        (
            {"tensorboard": {"dir": "tb", "logdir": "tb"}},
            "unknown config key 'tracking.tensorboard.logdir'",
        ),
        ({"tensorboard": {}}, "config key 'tracking.tensorboard.dir' is required"),
    ):
        with pytest.raises(NasError, match=re.escape(message)):
            run_search(resolve_config({**tiny_config, "tracking": tracking}), progress=False)
    assert not (tmp_path / "results").exists()
