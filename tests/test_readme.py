"""The README's two set-up commands stay true: CI runs the second one exactly."""

from __future__ import annotations

import re
from pathlib import Path

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
    assert yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())["trials"] == config.trials
