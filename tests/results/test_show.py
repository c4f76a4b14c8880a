"""nas show: formats, sorting and several runs side by side."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from nas import NasError
from nas.cli.main import main
from nas.results.reading import load_trials


def show(capsys: pytest.CaptureFixture, *args: str) -> str:
    assert main(["--debug", "show", *args]) == 0
    return capsys.readouterr().out


def test_csv_and_json_hold_every_column_and_row(searched_run: Path, capsys) -> None:
    frame, _ = load_trials(searched_run)
    table = pd.read_csv(io.StringIO(show(capsys, str(searched_run), "--format", "csv")))
    assert list(table.columns) == list(frame.columns) and len(table) == len(frame)
    assert table["val_accuracy"].tolist() == pytest.approx(frame["val_accuracy"].tolist())
    assert table["params"].dtype.kind == "i"
    records = json.loads(show(capsys, str(searched_run), "--format", "json", "--limit", "2"))
    assert [r["trial"] for r in records] == frame["trial"].head(2).tolist()
    assert records[0]["duplicate_of"] is None and records[0]["arch"] == frame["arch"].iloc[0]


def test_markdown_escapes_the_pipes_of_architecture_strings(searched_run: Path, capsys) -> None:
    lines = (
        show(capsys, str(searched_run), "--format", "markdown", "--limit", "3").strip().splitlines()
    )
    assert lines[0].startswith("| trial | state | val_accuracy |") and set(lines[1]) <= set("|-: ")
    assert len(lines) == 5
    row = lines[2]
    assert "\\|" in row and row.count(" | ") == lines[0].count(" | ")  # pipes in cells are escaped


def test_sort_by_any_column_either_way(searched_run: Path, capsys) -> None:
    def column(*args: str) -> list:
        return pd.read_csv(io.StringIO(show(capsys, str(searched_run), "--format", "csv", *args)))[
            "params"
        ].tolist()

    assert column("--sort", "params") == sorted(column())
    assert column("--sort", "params:desc") == sorted(column(), reverse=True)
    accuracy = pd.read_csv(
        io.StringIO(show(capsys, str(searched_run), "--format", "csv", "--sort", "val_accuracy"))
    )
    finished = accuracy["val_accuracy"].dropna().tolist()
    assert finished == sorted(finished, reverse=True)  # an objective sorts best first
    with pytest.raises(NasError, match="cannot sort by 'param'.*did you mean 'params'"):
        main(["--debug", "show", str(searched_run), "--sort", "param"])


def test_several_runs_share_one_table_with_a_run_column(
    searched_run: Path, tmp_path: Path, capsys
) -> None:
    import shutil

    copy = tmp_path / "other" / "run-b"
    shutil.copytree(searched_run, copy)
    frame, _ = load_trials(searched_run)
    table = pd.read_csv(io.StringIO(show(capsys, str(searched_run), str(copy), "--format", "csv")))
    assert table.columns[0] == "run" and len(table) == 2 * len(frame)
    assert set(table["run"]) == {f"{searched_run.parent.name}/{searched_run.name}", "other/run-b"}
    best = table["val_accuracy"].dropna().tolist()
    assert best == sorted(best, reverse=True)
    text = show(capsys, str(searched_run), str(copy), "--limit", "3")
    header, *rows = text.strip().splitlines()
    assert header.split()[:4] == ["run", "trial", "state", "val_accuracy"] and len(rows) == 3


@pytest.mark.parametrize("command", ["show", "plot", "export", "train"])
def test_help_of_the_result_commands(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: nas {command}" in capsys.readouterr().out
