"""Exporting a run's chosen trials (best, listed, Pareto front) as standalone modules, with their
weights when the search kept them, optionally as ONNX and int8 (what ``nas export`` does)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nas.config import ExperimentConfig
from nas.deploy.export import check_export_targets, check_module_name, export_model
from nas.errors import NasError
from nas.results.weights import load_weights, weights_path
from nas.space import SearchSpace

#: Columns of the trial table that are bookkeeping, not metrics of the network.
NOT_METRICS = {
    "trial",
    "state",
    "arch_id",
    "arch",
    "duplicate_of",
    "error",
    "started",
    "duration_s",
    "run",
}


@dataclass(frozen=True)
class Chosen:
    """One trial to export and the module name to give it."""

    trial: int
    arch_text: str
    name: str
    metrics: dict[str, Any]


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``3x32x32`` -> (3, 32, 32)."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise NasError(f"input shape {text!r} must look like CxHxW, e.g. 3x32x32")
    return int(parts[0]), int(parts[1]), int(parts[2])


def row_metrics(row: pd.Series) -> dict[str, Any]:
    """The numeric metrics of a trial-table row as plain Python numbers (NaN and bookkeeping left out)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if (
            key in NOT_METRICS
            or isinstance(value, (bool, str))
            or not pd.api.types.is_number(value)
        ):
            continue
        value = value.item() if hasattr(value, "item") else value
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and not math.isnan(value)
        ):
            out[str(key)] = value
    return out


def choose_trials(
    frame: pd.DataFrame,
    objectives: dict[str, str],
    *,
    best: bool = False,
    trials: Sequence[int] = (),
    pareto: bool = False,
    name: str | None = None,
) -> list[Chosen]:
    """The trials ``--best``, ``--trial N ...`` or ``--pareto`` select (frame: best first)."""
    from nas.results.trials import pareto_front

    done = frame[frame["state"] == "complete"] if not frame.empty else frame
    if "duplicate_of" in done:
        done = done[done["duplicate_of"].isna()]
    if best:
        if done.empty:
            raise NasError("the run has no completed trial yet; wait for one or pass --trial N")
        rows = [done.iloc[0]]
    elif pareto:
        front = pareto_front(frame, objectives) if not frame.empty else frame
        if front.empty:
            raise NasError("the run has no completed trial yet, so no Pareto front")
        rows = [r for _, r in front.iterrows()]
    else:
        known = (
            {int(t): r for t, r in frame.set_index("trial", drop=False).iterrows()}
            if not frame.empty
            else {}
        )
        missing = [t for t in trials if t not in known]
        if missing:
            raise NasError(f"the run has no trial {missing[0]} (trials: 0..{len(known) - 1})")
        rows = [known[t] for t in trials]
    if name is not None and len(rows) != 1:
        raise NasError("--name names one module; it cannot be used when exporting several trials")
    return [
        Chosen(
            int(r["trial"]),
            str(r["arch"]),
            check_module_name(name) if name else ("best" if best else f"trial_{int(r['trial'])}"),
            row_metrics(r),
        )
        for r in rows
    ]


class _Shapes:
    """Number of classes and input shape: from saved weights, the command line, or the data set."""

    def __init__(
        self,
        config: ExperimentConfig,
        num_classes: int | None,
        input_shape: tuple[int, int, int] | None,
    ):
        self.config = config
        self.given = (num_classes, input_shape)
        self._data: tuple[int, tuple[int, int, int]] | None = None

    def resolve(
        self, saved: tuple[int, tuple[int, int, int]] | None
    ) -> tuple[int, tuple[int, int, int]]:
        """(num_classes, input_shape) for one trial."""
        classes, shape = self.given
        if saved is not None:
            if (classes is not None and classes != saved[0]) or (
                shape is not None and shape != saved[1]
            ):
                raise NasError(
                    f"the trial's weights were trained for {saved[0]} classes and input "
                    f"{'x'.join(map(str, saved[1]))}; drop --num-classes / --input-shape"
                )
            return saved
        if classes is not None and shape is not None:
            return classes, shape
        if self._data is None:
            from nas.registry import DATASETS

            if self.config.dataset is None:
                raise NasError("the run has no data set; pass --num-classes and --input-shape")
            data = DATASETS.get(self.config.dataset.name)(**self.config.dataset.options)
            self._data = (data.num_classes, data.input_shape)
        return classes or self._data[0], shape or self._data[1]


def export_run(
    run_path: str | Path,
    out_dir: str | Path | None = None,
    *,
    best: bool = False,
    trials: Sequence[int] = (),
    pareto: bool = False,
    name: str | None = None,
    num_classes: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
    onnx: bool = False,
) -> list[tuple[Path, bool]]:
    """Export the chosen trials of a run; returns each module's path and whether it has weights."""
    from nas.registry import SPACES
    from nas.results.reading import load_trials, run_objectives
    from nas.results.run_folder import RunFolder

    if onnx:
        require_onnx()  # before anything is written
    run = RunFolder.open(run_path)
    config = run.load_config()
    space: SearchSpace = SPACES.get(config.space.name)(**config.space.options)
    frame, _ = load_trials(run.path)
    chosen = choose_trials(
        frame, run_objectives(run.path), best=best, trials=trials, pareto=pareto, name=name
    )
    out = check_export_targets(
        out_dir if out_dir is not None else run.path / "exported", [item.name for item in chosen]
    )
    shapes = _Shapes(config, num_classes, input_shape)
    written = []
    for item in chosen:
        arch = space.parse(item.arch_text)
        path = weights_path(run.path, arch)
        saved = load_weights(path) if path.is_file() else None
        classes, shape = shapes.resolve((saved.num_classes, saved.input_shape) if saved else None)
        module = export_model(
            space,
            arch,
            out,
            item.name,
            num_classes=classes,
            input_shape=shape,
            space_name=config.space.name,
            space_options=config.space.options,
            state_dict=saved.state_dict if saved else None,
            metrics=item.metrics,
            trial=item.trial,
        )
        if onnx:
            export_onnx(module, shape)
        written.append((module, saved is not None))
    return written


def require_onnx() -> None:
    """NasError unless the packages torch's ONNX exporter needs (onnx, onnxscript) are installed."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError:
        raise NasError(
            "--onnx needs the onnx and onnxscript packages: pip install onnx onnxscript"
        ) from None


def export_onnx(module: Path, input_shape: tuple[int, int, int]) -> Path:
    """Write ``module``'s network (with its weights) as ONNX beside it, batch size left free;
    needs the onnx and onnxscript packages (torch's exporter)."""
    require_onnx()
    import onnx
    import torch

    from nas.deploy.export import load_model

    model = load_model(module).eval()
    path = module.with_suffix(".onnx")
    with quiet_exporter():
        torch.onnx.export(
            model,
            (torch.zeros(2, *input_shape),),
            str(path),
            dynamo=True,
            verbose=False,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            external_data=False,
        )
    onnx.checker.check_model(str(path))
    return path


class _NoTorchvisionNotice(logging.Filter):
    """Drops torch.onnx's notices that torchvision's operators are skipped (no network here uses them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("torchvision is not installed")


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """torch's exporter without the notices that say nothing about the network being exported:
    torchvision's skipped operators and the FutureWarnings torch's own internals raise."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    notice = _NoTorchvisionNotice()
    registration.addFilter(notice)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        registration.removeFilter(notice)


def export_int8_modules(
    run_path: str | Path, modules: Sequence[Path]
) -> list[tuple[Path, dict[str, Any]]]:
    """Write NAME_int8.py beside each exported module, calibrated on the run's data set; returns each
    int8 module with its measured accuracy and size (float and int8)."""
    from nas.deploy.int8_export import export_int8
    from nas.registry import DATASETS
    from nas.results.run_folder import RunFolder

    config = RunFolder.open(run_path).load_config()
    if config.dataset is None:
        raise NasError("--int8 calibrates on the run's data set, and the run has none")
    data = DATASETS.get(config.dataset.name)(**config.dataset.options)
    return [
        export_int8(
            module,
            data,
            calibration=config.costs.int8_calibration_batches,
            batch_size=config.training.batch_size,
        )
        for module in modules
    ]
