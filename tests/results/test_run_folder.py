"""Run folders written by earlier versions still load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nas.config import resolve_config
from nas.results.run_folder import RunFolder

#: The executor section nas 0.1 wrote into every run folder's config.yaml.
V01_EXECUTOR = {
    "address": None,
    "cpus_per_trial": 1.0,
    "gpus_per_trial": 0.0,
    "max_concurrent": None,
    "max_retries": 2,
    "train_workers": 1,
}


@pytest.mark.parametrize("name", ["local", "ray"])
def test_a_run_folder_of_nas_0_1_loads_with_its_executor(
    tmp_path: Path, tiny_config: dict, name: str
) -> None:
    run = RunFolder.create(resolve_config(tiny_config), "cpu")
    saved = yaml.safe_load(run.config_path.read_text())
    saved["executor"] = {"name": name, **V01_EXECUTOR}
    run.config_path.write_text(yaml.safe_dump(saved, sort_keys=False))
    executor = RunFolder.open(run.path).load_config().executor
    assert executor.name == name
    assert executor.options == ({} if name == "local" else V01_EXECUTOR)
