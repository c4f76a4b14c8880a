"""``nas report`` as a user runs it: a page in the run folder by default, or where --out says;
bad input is one ``error:`` line with status 2, and nothing is written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import ROOT


def nas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nas", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_report_writes_into_the_run_folder_and_says_where(
    searched_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "tiny" / "run"
    shutil.copytree(searched_run, run)
    out = nas("report", str(run), "--top", "2", "--images", "3", "--no-gradcam")
    assert out.returncode == 0, out.stderr
    page = run / "report.html"
    assert out.stdout.splitlines() == [
        f"wrote {page}",
        f"open in a browser: {page.resolve().as_uri()}",
    ]
    text = page.read_text()
    assert text.count('<div class="card">') == 2 and "Grad-CAM" not in text


def test_report_help_names_the_options() -> None:
    out = nas("report", "--help")
    assert out.returncode == 0
    for option in ("--out", "--top", "--images", "--no-gradcam"):
        assert option in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top", "0"], "error: --top and --images must be at least 1, got 0 and 8"),
        (["--images", "-1"], "error: --top and --images must be at least 1, got 5 and -1"),
        (["--out", "{tmp}"], "is a folder; name the page"),
        (["{tmp}/missing"], "does not exist; pass results/<experiment>/<run-id>"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    searched_run: Path, tmp_path: Path, args: list[str], message: str, capsys
) -> None:
    from nas.cli.main import main

    before = sorted(p.name for p in searched_run.iterdir())
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run = [] if args[0].endswith("missing") else [str(searched_run)]
    assert main(["report", *run, *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []
    assert sorted(p.name for p in searched_run.iterdir()) == before
