"""nas show --all-columns prints every column of the trial table; the default table a short set."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.cli.main import main
from nas.results.reading import load_trials
from nas.results.trials import column_cells


def table(capsys: pytest.CaptureFixture, *args: str) -> tuple[list[str], list[str]]:
    """The header's column names and the row lines of ``nas show ARGS``."""
    assert main(["--debug", "show", *args]) == 0
    header, *rows = capsys.readouterr().out.rstrip("\n").splitlines()
    return header.split(), rows


def test_all_columns_prints_every_metric_column(
    searched_run: Path, capsys: pytest.CaptureFixture
) -> None:
    frame, _ = load_trials(searched_run)
    short, _ = table(capsys, str(searched_run))
    full, rows = table(capsys, str(searched_run), "--all-columns")
    assert full == list(frame.columns)
    hidden = [c for c in frame.columns if c not in short]
    assert {"val_loss", "train_accuracy", "train_loss", "activation_bytes"} <= set(hidden)
    assert len(rows) == len(frame)  # fewer than the default limit of 20
    for column in hidden:  # the values, not only the names
        for row, cell in zip(rows, column_cells(frame[column]), strict=False):
            assert cell in row
