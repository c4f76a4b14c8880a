"""Plots: self-contained HTML pages whose figures hold every trial, parsed back from the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from nas import NasError
from nas.pareto import non_dominated
from nas.results.plots import write_plots
from nas.results.reading import load_trials
from nas.results.runs import PlotOptions, load_run


def figures_in(page: Path) -> list[dict]:
    """The data and layout of every plotly figure on a page, as plotly.js receives them."""
    text = page.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    figures = []
    for match in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", text):
        data, end = decoder.raw_decode(text, match.end())
        layout, _ = decoder.raw_decode(text, end + len(text[end:]) - len(text[end:].lstrip(", \n")))
        figures.append({"data": data, "layout": layout})
    return figures


def trace(figure: dict, suffix: str) -> dict:
    (found,) = [t for t in figure["data"] if t["name"].endswith(suffix)]
    return found


def test_pareto_and_progress_pages_hold_every_trial(searched_run: Path, tmp_path: Path) -> None:
    written = write_plots([load_run(searched_run)], tmp_path, options=PlotOptions(x=["params"]))
    assert [p.name for p in written if p.suffix == ".html"] == ["pareto.html", "progress.html"]
    page = (tmp_path / "pareto.html").read_text()
    # plotly.js is embedded (no script fetched from a network), once per page
    assert not re.search(r"<script[^>]+src=", page) and page.count("plotly.js v") >= 1
    frame, _ = load_trials(searched_run)
    done = frame[(frame["state"] == "complete") & frame["duplicate_of"].isna()]

    (pareto,) = figures_in(tmp_path / "pareto.html")
    points = trace(pareto, "all trials")
    assert sorted(zip(points["x"], points["y"], strict=False)) == sorted(
        zip(done["params"], done["val_accuracy"], strict=False)
    )
    for arch in done["arch"]:
        assert any(arch in text for text in points["text"])  # hover shows the architecture
    front = trace(pareto, "Pareto front")
    values = done[["params", "val_accuracy"]].to_numpy(dtype=float)
    expected = values[non_dominated(values, ["minimize", "maximize"])]
    assert sorted(zip(front["x"], front["y"], strict=False)) == sorted(map(tuple, expected))
    assert front["x"] == sorted(front["x"])

    by_trial, by_time = figures_in(tmp_path / "progress.html")
    best = trace(by_trial, "best so far")
    complete = frame[frame["state"] == "complete"].sort_values("trial")
    assert best["x"] == complete["trial"].tolist()
    assert best["y"] == np.maximum.accumulate(complete["val_accuracy"].to_numpy()).tolist()
    assert by_time["layout"]["xaxis"]["title"]["text"] == "seconds since the run started"
    assert len(trace(by_time, "best so far")["y"]) == len(complete)


def test_several_runs_are_compared_coloured_by_run_or_strategy(
    searched_run: Path, tmp_path: Path
) -> None:
    run = load_run(searched_run)
    other = load_run(searched_run)
    other.label, other.strategy = "other/run", "random"
    write_plots(
        [run, other], tmp_path / "by_run", kinds=["pareto"], options=PlotOptions(x=["flops"])
    )
    (figure,) = figures_in(tmp_path / "by_run" / "pareto.html")
    names = {t["name"] for t in figure["data"]}
    assert names == {
        f"{run.label}: all trials",
        f"{run.label}: Pareto front",
        "other/run: all trials",
        "other/run: Pareto front",
    }
    write_plots(
        [run, other],
        tmp_path / "by_strategy",
        kinds=["pareto"],
        options=PlotOptions(x=["flops"], color="strategy"),
    )
    (figure,) = figures_in(tmp_path / "by_strategy" / "pareto.html")
    assert {t["name"] for t in figure["data"]} >= {"evolution: all trials", "random: all trials"}


def test_default_axes_and_bad_metrics(searched_run: Path, tmp_path: Path) -> None:
    write_plots([load_run(searched_run)], tmp_path, kinds=["pareto"])
    titles = [f["layout"]["title"]["text"] for f in figures_in(tmp_path / "pareto.html")]
    assert titles[:2] == [
        "Pareto front: val_accuracy (maximize) vs params (minimize)",
        "Pareto front: val_accuracy (maximize) vs flops (minimize)",
    ]
    with pytest.raises(NasError, match="no completed trial has both 'nope' and 'val_accuracy'"):
        write_plots(
            [load_run(searched_run)], tmp_path, kinds=["pareto"], options=PlotOptions(x=["nope"])
        )


def test_nas_plot_command_writes_into_the_run_folder(
    searched_run: Path, tmp_path: Path, capsys
) -> None:
    from nas.cli.main import main

    assert main(["plot", str(searched_run), "--out", str(tmp_path), "--kind", "progress"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'progress.html'}" in out and "open in a browser: file://" in out
