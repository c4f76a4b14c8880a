"""The README's two set-up commands stay true: CI runs the second one exactly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    return blocks[:2]


def test_readme_opens_with_the_two_commands() -> None:
    run, test = readme_commands()
    assert run.endswith("nas search experiments/quickstart.yaml")
    assert "torch==2.13.0" in run and "torch==2.13.0" in test
    assert test.endswith("python -m pytest tests")
    assert (ROOT / "experiments" / "quickstart.yaml").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    _, test = readme_commands()
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_quickstart_config_is_valid() -> None:
    from nas.config import load_config

    config = load_config(ROOT / "experiments" / "quickstart.yaml")
    assert config.dataset.name == "digits" and config.strategy.name == "evolution"
    assert (
        yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())["trials"]
        == config.trials
    )


def readme_python() -> str:
    """The code block of the README's "From Python" section."""
    section = (ROOT / "README.md").read_text().split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)\n```", section, flags=re.DOTALL).group(1)


def test_the_from_python_snippet_runs_as_written(tmp_path: Path) -> None:
    code = readme_python()
    assert (
        'nas.load_config("experiments/quickstart.yaml", ["trials=4"])' in code
    )  # what this test costs
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")  # the snippet runs from a checkout
    # one torch thread: tiny networks train fastest on one, and the machine may be shared
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "results" / "quickstart").iterdir()
    assert done.stdout.rstrip().endswith(
        str(run.relative_to(tmp_path))
    )  # print(..., result.run.path)
    trials = pd.read_csv(run / "trials.csv")
    assert len(trials[trials["duplicate_of"].isna()]) == 4 and (trials["state"] == "complete").all()
    assert trials["val_accuracy"].max() > 50  # it learned: ten digits, chance is 10%
