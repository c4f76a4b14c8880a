"""Measuring a device for its latency profile (what ``nas profile`` runs on the target machine).

Every timing goes through :func:`nas.costs.measure.measure_latency` (warm-up, median of repeats)
with the thread count fixed; ``backend="onnxruntime"`` times the exported ONNX graph in an
ONNX Runtime session instead of the PyTorch module, through the same timer.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from nas.costs.measure import measure_latency
from nas.costs.profile import LatencyProfile, Method
from nas.costs.units import LatencyUnit, profilable
from nas.errors import NasError

Backend = Literal["torch", "onnxruntime"]
Clock = Literal["wall", "thread"]
#: Called after each measurement with a short description of it.
Progress = Callable[[str], None]


class OnnxRuntimeModule(nn.Module):
    """A module whose forward pass runs ``model`` exported to ONNX in an ONNX Runtime session
    (fixed batch size and input shape), so that the usual timer times ONNX Runtime."""

    def __init__(
        self, model: nn.Module, shape: tuple[int, ...], device: torch.device, threads: int
    ) -> None:
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise NasError(
                "--backend onnxruntime needs onnxruntime: pip install onnxruntime"
            ) from None
        from nas.deploy.export_run import quiet_exporter, require_onnx

        require_onnx()
        chatter = io.StringIO()  # the exporter prints notes on its optimisation passes
        with (
            quiet_exporter(),
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
        ):
            program = torch.onnx.export(
                model.eval(), (torch.zeros(*shape),), dynamo=True, verbose=False
            )
        if program is None:
            raise NasError("torch.onnx.export returned no program; update torch and onnxscript")
        graph = program.model_proto.SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise NasError("onnxruntime here has no CUDA provider: pip install onnxruntime-gpu")
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(graph, options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: x.detach().cpu().numpy()})
        return torch.from_numpy(np.asarray(out[0]))


def time_module(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    batch_size: int,
    *,
    device: torch.device,
    backend: Backend = "torch",
    threads: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    clock: Clock = "wall",
) -> float:
    """Median latency (ms) of ``model`` on ``device`` through ``backend`` (``clock``: see
    :func:`nas.costs.measure.measure_latency`)."""
    model = model.eval()
    on: torch.device | None = None  # ONNX Runtime takes its inputs from the host
    if backend == "onnxruntime":
        model = OnnxRuntimeModule(model, (batch_size, *input_shape), device, threads)
    else:
        model, on = model.to(device), device  # a unit without weights (pooling) runs there too
    return measure_latency(
        model,
        input_shape,
        batch_size=batch_size,
        repeats=repeats,
        warmup=warmup,
        clock=clock,
        device=on,
    )


def describe_device(device: torch.device, backend: Backend, threads: int) -> dict[str, Any]:
    """What the profile says about the machine it was measured on."""
    info: dict[str, Any] = {
        "type": device.type,
        "backend": backend,
        "threads": threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
    }
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    if backend == "onnxruntime":
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fit_overhead(sums: Sequence[float], measured: Sequence[float]) -> list[float]:
    """(scale, offset) with measured ~ scale * sum + offset (least squares); with fewer than
    three samples, or a fit that would not grow with the sum, the scale stays 1."""
    s, m = np.asarray(sums, dtype=float), np.asarray(measured, dtype=float)
    if len(s) == 0:
        return [1.0, 0.0]
    if len(s) >= 3 and np.ptp(s) > 0:
        scale, offset = np.polyfit(s, m, 1)
        if scale > 0:
            return [float(scale), float(offset)]
    return [1.0, float(np.mean(m - s))]


def profile_device(
    space: Any,
    input_shape: tuple[int, int, int],
    *,
    method: Method = "lookup",
    device: torch.device | None = None,
    backend: Backend = "torch",
    batch_sizes: Sequence[int] = (1,),
    samples: int = 10,
    threads: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    seed: int = 0,
    clock: Clock = "wall",
    progress: Progress | None = None,
) -> LatencyProfile:
    """Measure this machine for ``space`` and return its profile (nothing is written).

    ``lookup``: every latency unit of the space, then ``samples`` random whole networks for the
    overhead fit. ``transfer`` (nb201 only): the ``samples`` architectures of the fixed design.
    """
    device = device or torch.device("cpu")
    if method == "transfer" and space.name != "nb201":
        raise NasError(
            f"few-shot transfer needs meta-training latencies, which exist only for the nb201 "
            f"space (the NAS-Bench-201 table), not {space.name!r}; use --method lookup"
        )
    if clock == "thread" and (device.type != "cpu" or threads != 1):
        raise NasError("--clock thread times one CPU thread: use it with --device cpu --threads 1")
    profile = LatencyProfile(
        device={**describe_device(device, backend, threads), "clock": clock},
        space=space.name,
        space_repr=repr(space),
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        batch_sizes=sorted(set(batch_sizes)),
        method=method,
    )

    def timed(model: nn.Module, shape: tuple[int, int, int], batch: int, what: str) -> float:
        ms = time_module(
            model,
            shape,
            batch,
            device=device,
            backend=backend,
            threads=threads,
            repeats=repeats,
            warmup=warmup,
            clock=clock,
        )
        if progress is not None:
            progress(what)
        return ms

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if method == "transfer":
            _measure_transfer(space, profile, samples, timed)
        else:
            _measure_lookup(space, profile, samples, seed, timed)
    finally:
        torch.set_num_threads(before)
    return profile


Timer = Callable[[nn.Module, tuple[int, int, int], int, str], float]


def planned_steps(
    space: Any, input_shape: tuple[int, int, int], method: Method, batches: int, samples: int
) -> int:
    """How many measurements :func:`profile_device` makes (for a progress bar)."""
    units = 0 if method == "transfer" else len(profilable(space).all_latency_units(input_shape))
    return batches * (units + samples)


def _whole(space: Any, arch: Any, shape: tuple[int, int, int]) -> nn.Module:
    return space.build(arch, num_classes=10, input_shape=shape)


def _measure_lookup(
    space: Any, profile: LatencyProfile, samples: int, seed: int, timed: Timer
) -> None:
    units: list[LatencyUnit] = list(profilable(space).all_latency_units(profile.input_shape))
    archs = [space.sample(np.random.default_rng([seed, i])) for i in range(samples)]
    for b in profile.batch_sizes:
        profile.units[str(b)] = {
            u.key(): timed(space.build_latency_unit(u), u.input_shape, b, f"{u.op} b{b}")
            for u in units
        }
    rows = []
    for arch in archs:
        row: dict[str, Any] = {"arch": space.format(arch), "ms": {}, "sum_ms": {}}
        parts = space.latency_units(arch, profile.input_shape)
        for b in profile.batch_sizes:
            row["ms"][str(b)] = timed(
                _whole(space, arch, profile.input_shape), profile.input_shape, b, f"network b{b}"
            )
            row["sum_ms"][str(b)] = profile.unit_sum(parts, b)
        rows.append(row)
    profile.samples = rows
    for b in profile.batch_sizes:
        key = str(b)
        profile.overhead[key] = fit_overhead(
            [r["sum_ms"][key] for r in rows], [r["ms"][key] for r in rows]
        )


def _measure_transfer(space: Any, profile: LatencyProfile, samples: int, timed: Timer) -> None:
    from nas.costs.transfer import design, fit_transfer

    archs = design(samples)
    rows: list[dict[str, Any]] = []
    for text in archs:
        arch = space.parse(text)
        ms = {
            str(b): timed(
                _whole(space, arch, profile.input_shape), profile.input_shape, b, f"network b{b}"
            )
            for b in profile.batch_sizes
        }
        rows.append({"arch": text, "ms": ms})
    profile.samples = rows
    for b in profile.batch_sizes:
        model = fit_transfer({r["arch"]: r["ms"][str(b)] for r in rows})
        profile.transfer[str(b)] = model.to_dict()


def space_from_config(path: str, overrides: Sequence[str] = ()) -> Any:
    """The search space a YAML file describes: an experiment config's ``space`` section, or a
    file that is only that section (``name: nb201`` and its options)."""
    from nas.config import apply_overrides, read_yaml
    from nas.config.options import validate_options
    from nas.registry import SPACES

    data = apply_overrides(read_yaml(path), overrides)
    section = data.get("space", data)
    if isinstance(section, str):
        section = {"name": section}
    if not isinstance(section, dict) or not isinstance(section.get("name"), str):
        raise NasError(
            f"{path!r} names no search space: give an experiment config with a 'space:' section "
            "or a file with 'name: SPACE' and its options"
        )
    factory = SPACES.get(section["name"])
    options = {k: v for k, v in section.items() if k != "name"}
    return factory(**validate_options(factory, options, "space"))


def parse_shape(text: str) -> tuple[int, int, int]:
    """``3x32x32`` as (3, 32, 32)."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise NasError(
            f"--input-shape must be CxHxW with positive integers, e.g. 3x32x32; got {text!r}"
        )
    return int(parts[0]), int(parts[1]), int(parts[2])


def parse_batch_sizes(text: str) -> list[int]:
    """``1,32`` as [1, 32]."""
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise NasError(
            f"--batch-sizes must be positive integers separated by commas, e.g. 1,32; got {text!r}"
        )
    return sorted({int(p) for p in parts})


def summary(profile: LatencyProfile) -> list[str]:
    """What a profile holds and how far the plain unit sum is from the measured networks."""
    lines = [
        f"{profile.method} profile of {profile.space_repr} on {profile.device.get('cpu')} "
        f"({profile.device['type']}, {profile.device['backend']}, {profile.device['threads']} thread(s))"
    ]
    for b in profile.batch_sizes:
        key = str(b)
        measured = np.asarray([r["ms"][key] for r in profile.samples], dtype=float)
        if profile.method == "lookup":
            sums = np.asarray([r["sum_ms"][key] for r in profile.samples], dtype=float)
            scale, offset = profile.overhead[key]
            line = f"batch {b}: {len(profile.units[key])} units"
            if len(measured):
                sum_err = 100 * np.mean(np.abs(sums - measured) / measured)
                fitted = scale * sums + offset
                fit_err = 100 * np.mean(np.abs(fitted - measured) / measured)
                line += (
                    f"; {len(measured)} whole networks {measured.min():.3g}-{measured.max():.3g} ms: "
                    f"plain sum off by {sum_err:.1f}% (MAPE), with the fitted overhead "
                    f"(x{scale:.3g} {offset:+.3g} ms) {fit_err:.1f}%"
                )
        else:
            span = f"{measured.min():.3g}-{measured.max():.3g} ms"
            line = f"batch {b}: transfer fitted on {len(measured)} networks, {span}"
        lines.append(line)
    return lines
