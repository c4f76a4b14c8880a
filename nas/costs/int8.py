"""Post-training int8 quantization of trained candidates (PyTorch's FX graph mode, CPU backend).

A network is traced with ``torch.fx``, BatchNorm folded into its convolutions, observers inserted
and fed a few training batches (calibration), then converted to quantized CPU kernels with the
``x86`` backend's default recipe (per-channel int8 weights, uint8 activations; min/max
activation observers, see ``recipe``). This works on any
FX-traceable network without changing it; a network that cannot be traced is reported, with the
reason, in the ``int8_error`` metric instead of failing the trial.

The quantized network's state dict holds only tensors and numbers, so it is saved with
``torch.save`` and read back with ``torch.load(..., weights_only=True)`` into the same quantized
graph rebuilt from the float network (the recipe is fixed; see nas/deploy/int8_export.py).
"""

from __future__ import annotations

import copy
import io
import math
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from nas.data import DataSplits, iterate_batches

#: The quantized engine (CPU backend) every int8 network in nas is built for.
BACKEND = "x86"

#: The metrics ``int8_metrics`` returns (NaN when the network could not be quantized).
INT8_METRICS = ("int8_val_accuracy", "int8_accuracy_drop", "int8_size_bytes", "int8_latency_ms")


@contextmanager
def _quiet() -> Iterator[None]:
    # torch.ao.quantization warns on every call that it is deprecated in favour of torchao; the
    # FX path still works in this torch and needs no extra dependency (see docs/deploy.md)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def recipe() -> Any:
    """The ``x86`` backend's default QConfigMapping with min/max activation observers in place of
    histogram ones: the same int8 graph, but calibration takes milliseconds rather than ~0.1 s per
    observer (the histogram search dominated a candidate's cost). NAME_int8.py repeats this."""
    from torch.ao.quantization import (
        HistogramObserver,
        MinMaxObserver,
        QConfig,
        get_default_qconfig_mapping,
    )

    mapping = get_default_qconfig_mapping(BACKEND)

    def fast(qconfig: Any) -> Any:
        observer = getattr(qconfig.activation, "p", None)
        if observer is None or getattr(observer, "func", None) is not HistogramObserver:
            return qconfig
        return QConfig(
            activation=MinMaxObserver.with_args(**observer.keywords), weight=qconfig.weight
        )

    mapping.set_global(fast(mapping.global_qconfig))
    for kind, qconfig in list(mapping.object_type_qconfigs.items()):
        if qconfig is not None:
            mapping.set_object_type(kind, fast(qconfig))
    return mapping


def _prepared(model: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    from torch.ao.quantization.quantize_fx import prepare_fx

    torch.backends.quantized.engine = BACKEND
    return prepare_fx(model, recipe(), (example,))


@torch.no_grad()
def quantize_int8(model: nn.Module, calibration: Iterable[torch.Tensor]) -> torch.fx.GraphModule:
    """An int8 CPU copy of ``model`` (left unchanged), calibrated on the input batches given."""
    from torch.ao.quantization.quantize_fx import convert_fx

    float_model = copy.deepcopy(model).cpu().eval()
    batches = [x.detach().cpu().float() for x in calibration]
    if not batches:
        raise ValueError("int8 calibration needs at least one input batch")
    with _quiet():
        prepared = _prepared(float_model, batches[0])
        for x in batches:
            prepared(x)
        return convert_fx(prepared)


def serialized_bytes(model: nn.Module) -> int:
    """Size in bytes of ``torch.save(model.state_dict())``, the model's file size on disk, leaving
    out training-only auxiliary heads (submodules named ``auxiliary*``, as params does), which the
    int8 network, traced in inference mode, does not have either."""
    state = {
        k: v
        for k, v in model.state_dict().items()
        if not any(part.startswith("auxiliary") for part in k.split("."))
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.tell()


def calibration_batches(data: DataSplits, batches: int, batch_size: int) -> list[torch.Tensor]:
    """The first ``batches`` normalised training batches (in order, so calibration is repeatable)."""
    out = []
    for x, _ in iterate_batches(
        data.train, batch_size, mean=data.mean, std=data.std, device=torch.device("cpu")
    ):
        out.append(x)
        if len(out) == batches:
            break
    return out


@torch.no_grad()
def accuracy(model: nn.Module, data: DataSplits, batch_size: int) -> float:
    """Validation accuracy in percent of a network on the CPU."""
    correct = 0
    for x, y in iterate_batches(
        data.val, batch_size, mean=data.mean, std=data.std, device=torch.device("cpu")
    ):
        correct += (model(x).argmax(1) == y).sum().item()
    return 100.0 * correct / max(1, len(data.val))


def int8_metrics(
    model: nn.Module,
    data: DataSplits,
    *,
    calibration: int = 4,
    batch_size: int = 64,
    latency_repeats: int = 30,
    latency_warmup: int = 5,
) -> dict[str, Any]:
    """Quantize a trained network and measure it on the CPU: int8 validation accuracy (%), its drop
    from the float network's on the CPU (percentage points), serialized sizes and int8 latency.

    When the network cannot be quantized the int8 metrics are NaN and ``int8_error`` says why.
    """
    from nas.costs.measure import measure_latency

    float_model = copy.deepcopy(model).cpu().eval()
    metrics: dict[str, Any] = {"size_bytes": serialized_bytes(float_model)}
    try:
        quantized = quantize_int8(float_model, calibration_batches(data, calibration, batch_size))
        int8_acc = accuracy(quantized, data, batch_size)
    except Exception as exc:  # noqa: BLE001  (an untraceable or unsupported network: record why, keep the trial)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return {
            **metrics,
            **dict.fromkeys(INT8_METRICS, math.nan),
            "int8_error": f"{type(exc).__name__}: {first}",
        }
    metrics.update(
        int8_val_accuracy=int8_acc,
        int8_accuracy_drop=accuracy(float_model, data, batch_size) - int8_acc,
        int8_size_bytes=serialized_bytes(quantized),
        int8_latency_ms=measure_latency(
            quantized, data.input_shape, repeats=latency_repeats, warmup=latency_warmup
        ),
    )
    return metrics
