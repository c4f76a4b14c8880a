"""One-shot strategies through the runner: trials, run folder, resume after a kill."""

from __future__ import annotations

import glob
import json
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from nas import NasError
from nas.cli.main import main
from nas.config import resolve_config
from nas.oneshot.base import OneShotResult, SearchEnv
from nas.oneshot.enas import Enas
from nas.results.reading import load_trials
from nas.search.components import build_components
from nas.search.runner import run_search
from tests.oneshot.toy import ToyCellSpace, ToyMixedSupernet, ToySupernet, toy_data
from tests.results.test_plots import figures_in
from tests.search.test_resume_after_kill import searching


def toy_config(tmp_path: Path, **strategy: object) -> dict:
    return {
        "name": "oneshot",
        "seed": 0,
        "trials": 2,
        "space": {"name": "tests.oneshot.toy:ToyCellSpace"},
        "dataset": {"name": "tests.oneshot.toy:toy_data", "task": "circles"},
        "strategy": {
            "name": "darts",
            "epochs": 8,
            "batch_size": 32,
            "lr": 0.05,
            "arch_lr": 0.01,
            **strategy,
        },
        "evaluator": {"name": "partial", "epochs": 2},
        "training": {"threads": 1, "batch_size": 32},
        "output": str(tmp_path / "results"),
    }


def test_each_search_is_a_trial_evaluated_and_logged_like_any_other(
    tmp_path: Path, one_thread
) -> None:
    result = run_search(resolve_config(toy_config(tmp_path, order=2)), progress=False)
    run = result.run.path
    frame = pd.read_csv(run / "trials.csv")
    assert len(frame) == 2 and set(frame["state"]) == {"complete"}
    assert list(frame["search"]) == [0, 1]
    assert frame["supernet_val_accuracy"].gt(50).all() and frame["search_epochs"].eq(8).all()
    assert (
        frame["val_accuracy"].notna().all() and frame["params"].gt(0).all()
    )  # the evaluator's metrics
    for k in (0, 1):
        folder = run / "oneshot" / f"search-{k}"
        stored = json.loads((folder / "result.json").read_text())
        arch = {"e0": "square", "e1": "square"}
        assert stored["arch"] == arch and json.loads(frame.loc[k, "arch"]) == arch
        assert (
            folder / "alphas.html"
        ).stat().st_size > 1_000_000  # plotly.js inside: opens offline
        assert len(pd.read_csv(folder / "alphas.csv")) == 9 * 2 * 3  # epochs 0..8, 2 edges, 3 ops
    assert (
        frame.loc[1, "duplicate_of"] == 0
    )  # the second search found the same cell: not re-trained
    shown, _ = load_trials(run)
    assert len(shown) == 2

    # nas plot re-draws the alpha history of every search from the run folder
    assert main(["plot", str(run), "--kind", "alphas", "--out", str(tmp_path / "plots")]) == 0
    figures = figures_in(tmp_path / "plots" / "alphas.html")
    assert len(figures) == 2
    lines = {(t["name"], t["xaxis"]): t["y"] for t in figures[0]["data"]}
    assert len(lines) == 2 * 3 and all(len(y) == 9 for y in lines.values())
    alphas = pd.read_csv(run / "oneshot" / "search-0" / "alphas.csv")
    last = alphas[(alphas["epoch"] == 8) & (alphas["choice"] == "square")]["weight"].tolist()
    assert sorted(y[-1] for (name, _), y in lines.items() if name == "square") == pytest.approx(
        sorted(last)
    )


def test_the_alpha_plot_of_a_black_box_run_is_refused(
    searched_run: Path, tmp_path: Path, capsys
) -> None:
    assert main(["plot", str(searched_run), "--kind", "alphas", "--out", str(tmp_path)]) == 2
    assert "one-shot run" in capsys.readouterr().err
    assert main(["plot", str(searched_run), "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "alphas.html").exists()


def test_resume_extends_by_more_searches_without_repeating_finished_ones(
    tmp_path: Path, one_thread
) -> None:
    config = resolve_config({**toy_config(tmp_path), "trials": 1})
    first = run_search(config, progress=False)
    stamp = (first.run.path / "oneshot" / "search-0" / "result.json").stat().st_mtime_ns
    second = run_search(config.model_copy(update={"trials": 2}), resume=first.run, progress=False)
    assert (first.run.path / "oneshot" / "search-0" / "result.json").stat().st_mtime_ns == stamp
    assert list(pd.read_csv(second.run.path / "trials.csv")["search"]) == [0, 1]


def test_a_one_shot_strategy_on_a_space_without_its_supernet_is_refused(tmp_path: Path) -> None:
    config = resolve_config({**toy_config(tmp_path), "space": {"name": "mbconv"}})
    with pytest.raises(NasError, match="mixed_supernet"):
        build_components(config)


class Interrupted(Exception):
    """Raised by a pausing supernet in place of a crash."""


class PausingCellSpace(ToyCellSpace):
    """The toy cell space, whose supernets stop in their ``after``-th forward pass once a file
    matching ``checkpoint`` (a glob) exists: they create ``marker``, then wait to be killed
    (``then="wait"``) or raise :class:`Interrupted` (``then="raise"``). Only once: while ``marker``
    exists they run as usual."""

    def __init__(self, *, checkpoint: str, marker: str, after: int = 5, then: str = "wait") -> None:
        self.checkpoint, self.marker, self.after, self.then = checkpoint, Path(marker), after, then
        self.seen = 0

    def pause(self, module: torch.nn.Module, inputs: object) -> None:
        """The forward pre-hook that stops the search a few steps into the epoch after a checkpoint."""
        if self.marker.exists() or not glob.glob(self.checkpoint):
            return
        self.seen += 1
        if self.seen < self.after:
            return
        self.marker.touch()
        if self.then == "raise":
            raise Interrupted
        time.sleep(600)  # until the test's SIGKILL

    def supernet(self, **options: object) -> ToySupernet:
        """The single-path supernet, pausing."""
        net = super().supernet(**options)
        net.register_forward_pre_hook(self.pause)
        return net

    def mixed_supernet(self, **options: object) -> ToyMixedSupernet:
        """The DARTS supernet, pausing."""
        net = super().mixed_supernet(**options)
        net.register_forward_pre_hook(self.pause)
        return net


def test_a_search_killed_mid_epoch_resumes_at_its_last_epoch_and_ends_as_if_never_killed(
    tmp_path: Path,
    one_thread,
) -> None:
    strategy = {
        "name": "darts",
        "order": 2,
        "epochs": 4,
        "batch_size": 32,
        "lr": 0.05,
        "arch_lr": 0.01,
    }
    raw = {
        **toy_config(tmp_path),
        "trials": 1,
        "strategy": strategy,
        "dataset": {"name": "tests.oneshot.toy:toy_data", "task": "circles", "size": 4000},
        "evaluator": {"name": "partial", "epochs": 1},
    }
    reference = run_search(
        resolve_config({**raw, "output": str(tmp_path / "reference")}), progress=False
    )
    paused = tmp_path / "paused"
    checkpoint = tmp_path / "results" / "oneshot" / "*" / "oneshot" / "search-0" / "checkpoint.pt"
    raw["space"] = {
        "name": "tests.oneshot.test_run:PausingCellSpace",
        "checkpoint": str(checkpoint),
        "marker": str(paused),
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(raw))
    with searching(["search", "exp.yaml"], tmp_path, tmp_path / "killed.log") as search:
        search.wait_for(paused.exists, "the search to pause a few steps after its first checkpoint")
    (folder,) = (path.parent for path in tmp_path.glob(str(checkpoint.relative_to(tmp_path))))
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (folder / "result.json").exists()
    with searching(
        ["search", "--resume", str(folder.parents[1])], tmp_path, tmp_path / "resumed.log"
    ) as search:
        assert search.finish() == 0, search.output()
    epochs = pd.read_csv(folder / "epochs.csv")
    assert list(epochs["epoch"]) == [1, 2, 3, 4]
    expected = reference.run.path / "oneshot" / "search-0"
    assert (folder / "alphas.csv").read_text() == (expected / "alphas.csv").read_text()
    resumed = pd.read_csv(folder.parents[1] / "trials.csv")
    original = pd.read_csv(reference.run.path / "trials.csv")
    for column in ("arch", "val_accuracy", "supernet_val_accuracy"):
        assert resumed.loc[0, column] == original.loc[0, column]


def test_an_enas_search_interrupted_mid_epoch_resumes_to_the_same_result(tmp_path: Path) -> None:
    data = toy_data(task="circles", size=4000)

    def search(folder: Path, space: ToyCellSpace | None = None) -> OneShotResult:
        strategy = Enas(
            space or ToyCellSpace(),
            epochs=4,
            batch_size=32,
            controller_steps=100,
            derive_samples=10,
        )
        return strategy.search(SearchEnv(data, folder, 0, torch.device("cpu")))

    reference = search(tmp_path / "reference")
    cut = tmp_path / "cut"
    space = PausingCellSpace(
        checkpoint=str(cut / "checkpoint.pt"), marker=str(tmp_path / "paused"), then="raise"
    )
    with pytest.raises(Interrupted):  # a few steps into the epoch after the first checkpoint
        search(cut, space)
    assert torch.load(cut / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = search(cut, space)  # the marker is there: it runs through
    assert resumed.arch == reference.arch
    assert resumed.metrics["supernet_val_accuracy"] == reference.metrics["supernet_val_accuracy"]
    assert (cut / "alphas.csv").read_text() == (tmp_path / "reference" / "alphas.csv").read_text()
    rewards = [
        list(pd.read_csv(folder / "epochs.csv")["reward"])
        for folder in (cut, tmp_path / "reference")
    ]
    assert rewards[0] == rewards[1]
