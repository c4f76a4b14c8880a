"""A .pt file whose unpickling would run code is refused wherever nas loads weights, and the code
never runs (the README: "weights load with torch.load(weights_only=True)")."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from nas import NasError, create_space, load_model
from nas.cli.main import main
from nas.deploy.export import export_model
from nas.oneshot.loop import load_checkpoint
from nas.results.reading import load_trials
from nas.results.weights import load_weights, weights_path

OPTIONS = {"channels": 4, "cells_per_stage": 1}


class Payload:
    """Unpickling this calls ``os.mkdir(marker)``: the code execution a weights file must never get."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def plant(path: Path, marker: Path) -> Path:
    """Write at ``path`` a file shaped like a nas weights file whose state dict runs the payload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": {"weight": Payload(marker)}, "num_classes": 10, "input_shape": [1, 8, 8]},
        path,
    )
    return path


#: The one line every loader refuses such a file with (the file named before it).
REFUSED = (
    r"refusing '.*{}': it is not tensors and plain values only "
    r"\(it names posix\.mkdir, which loading would call\)"
)


def one_line(error: pytest.ExceptionInfo) -> None:
    """The refusal is one line (not torch's paragraph that suggests weights_only=False)."""
    assert "\n" not in str(error.value) and "weights_only" not in str(error.value)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """The directory the payload would create; it must never appear."""
    return tmp_path / "PWNED"


def search(tmp_path: Path, **sections: Any) -> None:
    """``nas search`` of a one-trial config with ``sections`` replaced (raises what the CLI raises)."""
    config = {
        "name": "evil",
        "seed": 0,
        "trials": 1,
        "space": {"name": "nb201", **OPTIONS},
        "dataset": {"name": "digits"},
        "strategy": {"name": "random"},
        "evaluator": {"name": "partial", "epochs": 1, "data_fraction": 0.3},
        "training": {"batch_size": 64, "threads": 1},
        "output": str(tmp_path / "results"),
        **sections,
    }
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["--debug", "search", str(path)])


def test_the_planted_file_runs_its_code_when_unpickled_without_weights_only(
    tmp_path: Path, marker: Path
) -> None:
    torch.load(
        plant(tmp_path / "evil.pt", marker), weights_only=False
    )  # so the refusals below mean something
    assert marker.is_dir()


def test_nas_export_refuses_a_run_whose_kept_weights_are_malicious(
    searched_run: Path,
    tmp_path: Path,
    marker: Path,
    one_thread: None,
) -> None:
    run = tmp_path / "run"
    shutil.copytree(searched_run, run)
    frame, _ = load_trials(run)
    space = create_space("nb201", **OPTIONS)
    plant(
        weights_path(run, space.parse(frame[frame["state"] == "complete"]["arch"].iloc[0])), marker
    )
    with pytest.raises(NasError, match=REFUSED.format(r"weights/[0-9a-f]+\.pt")) as error:
        main(["--debug", "export", str(run), "--best", "--out", str(tmp_path / "nets")])
    one_line(error)
    assert not marker.exists() and not (tmp_path / "nets").exists()


@pytest.fixture
def exported_teacher(tmp_path: Path, marker: Path) -> Path:
    """An exported nb201 module whose weights file beside it is the payload."""
    space = create_space("nb201", **OPTIONS)
    arch = space.sample(np.random.default_rng(0))
    model = space.build(arch, num_classes=10, input_shape=(1, 8, 8))
    module = export_model(
        space,
        arch,
        tmp_path / "teacher",
        "teacher",
        num_classes=10,
        input_shape=(1, 8, 8),
        space_name="nb201",
        space_options=OPTIONS,
        state_dict=model.state_dict(),
    )
    plant(module.with_suffix(".pt"), marker)
    return module


def test_a_distillation_teacher_module_with_malicious_weights_is_refused(
    exported_teacher: Path,
    tmp_path: Path,
    marker: Path,
    one_thread: None,
) -> None:
    with pytest.raises(NasError, match=REFUSED.format(r"teacher/teacher\.pt")) as error:
        search(
            tmp_path,
            training={
                "batch_size": 64,
                "threads": 1,
                "distill": {"teacher": str(exported_teacher)},
            },
        )
    one_line(error)
    assert not marker.exists()


def test_a_distillation_teacher_weights_file_that_is_malicious_is_refused(
    tmp_path: Path,
    marker: Path,
    one_thread: None,
) -> None:
    teacher = plant(tmp_path / "weights" / "teacher.pt", marker)
    space = create_space("nb201", **OPTIONS)
    arch = space.format(space.sample(np.random.default_rng(0)))
    with pytest.raises(NasError, match=REFUSED.format(r"weights/teacher\.pt")) as error:
        search(
            tmp_path,
            training={
                "batch_size": 64,
                "threads": 1,
                "distill": {"teacher": str(teacher), "teacher_arch": arch},
            },
        )
    one_line(error)
    assert not marker.exists()


def test_a_malicious_supernet_checkpoint_is_refused(
    tmp_path: Path, marker: Path, one_thread: None
) -> None:
    checkpoint = plant(tmp_path / "supernet.pt", marker)
    with pytest.raises(
        NasError,
        match=r"cannot read supernet checkpoint .*supernet\.pt.*\(UnpicklingError\); "
        "delete it to retrain",
    ) as error:
        search(
            tmp_path,
            evaluator={"name": "weight_sharing", "epochs": 1, "checkpoint": str(checkpoint)},
        )
    one_line(error)
    assert not marker.exists()


def test_a_malicious_one_shot_checkpoint_is_refused(tmp_path: Path, marker: Path) -> None:
    plant(tmp_path / "search" / "checkpoint.pt", marker)
    with pytest.raises(NasError, match=REFUSED.format(r"search/checkpoint\.pt")) as error:
        load_checkpoint(tmp_path / "search", torch.device("cpu"))
    one_line(error)
    assert not marker.exists()


def test_an_exported_module_refuses_malicious_weights_beside_it(
    exported_teacher: Path, marker: Path
) -> None:
    # the module depends on torch alone, so torch's own refusal is what its users get
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_model(exported_teacher)
    assert not marker.exists()


def test_a_damaged_file_is_refused_in_one_line_too(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(
        NasError, match=r"it is not tensors and plain values only \(it is damaged, or names code"
    ) as error:
        load_weights(path)
    one_line(error)
