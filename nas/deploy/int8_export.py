"""``nas export --int8``: an int8 module beside an exported float module.

``NAME_int8.py`` needs only torch, like ``NAME.py``: its ``build_model()`` builds the float network
from ``NAME.py`` (without weights), applies the fixed quantization recipe of nas.costs.int8 (FX
graph mode, ``x86`` CPU backend) and loads the calibrated int8 state dict ``NAME_int8.pt`` with
``torch.load(..., weights_only=True)``. Nothing pickled is executed: the state dict holds tensors
(quantized ones included) and numbers only. TorchScript was the other choice; it is deprecated
and its archives carry code of their own, where this re-uses the reviewed float module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nas.costs.int8 import BACKEND, accuracy, calibration_batches, quantize_int8, serialized_bytes
from nas.data import DataSplits, resize
from nas.deploy.export import check_module_name, load_model
from nas.errors import NasError


def export_int8(
    module: str | Path, data: DataSplits, *, calibration: int = 4, batch_size: int = 64
) -> tuple[Path, dict[str, Any]]:
    """Quantize the exported module's trained network (calibrated on ``data``'s first training
    batches) and write ``NAME_int8.py`` + ``NAME_int8.pt`` beside it; returns the new module's path
    and what was measured (validation accuracy of float and int8, serialized sizes)."""
    module = Path(module)
    name = check_module_name(module.stem)
    if not module.with_suffix(".pt").is_file():
        raise NasError(
            f"{str(module)!r} has no trained weights to quantize; search with "
            "evaluator.save_weights=true or train the architecture with nas train"
        )
    float_model = load_model(module).eval()
    shape = _input_shape(module)
    if data.input_shape != shape:  # trained at another resolution: calibrate and score at that one
        data = _resized(data, min(shape[1:]))
    quantized = quantize_int8(float_model, calibration_batches(data, calibration, batch_size))
    weights = module.with_name(f"{name}_int8.pt")
    torch.save(quantized.state_dict(), weights)
    path = module.with_name(f"{name}_int8.py")
    path.write_text(_TEMPLATE.format(name=name, backend=BACKEND))
    rebuilt = load_model(path)
    float_acc, int8_acc = (
        accuracy(float_model, data, batch_size),
        accuracy(rebuilt, data, batch_size),
    )
    return path, {
        "val_accuracy": float_acc,
        "int8_val_accuracy": int8_acc,
        "size_bytes": serialized_bytes(float_model),
        "int8_size_bytes": weights.stat().st_size,
    }


def _input_shape(module: Path) -> tuple[int, int, int]:
    import ast

    for node in ast.parse(module.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "INPUT_SHAPE"
        ):
            shape = ast.literal_eval(node.value)
            return int(shape[0]), int(shape[1]), int(shape[2])
    raise NasError(f"{str(module)!r} has no INPUT_SHAPE; is it a module nas export wrote?")


def _resized(data: DataSplits, side: int) -> DataSplits:
    import dataclasses

    return dataclasses.replace(
        data,
        train=resize(data.train, side),
        val=resize(data.val, side),
        test=resize(data.test, side),
    )


_TEMPLATE = '''"""{name}_int8: the network of {name}.py quantized to int8 by nas (post-training, CPU only).

``build_model()`` builds the float network from ``{name}.py`` beside this file (without its
weights), prepares it with the quantization recipe nas used (torch.ao FX graph mode, default
qconfig of the ``{backend}`` backend, BatchNorm folded into convolutions), and loads the calibrated
int8 weights and scales from ``{name}_int8.pt`` (``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

import torch

FLOAT_MODULE = "{name}.py"
WEIGHTS_FILE = "{name}_int8.pt"
BACKEND = "{backend}"


def _float_module():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), FLOAT_MODULE)
    name = f"{{__name__}}_float"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _recipe():
    """The backend's default QConfigMapping with min/max activation observers (as nas quantized)."""
    from torch.ao.quantization import HistogramObserver, MinMaxObserver, QConfig, get_default_qconfig_mapping

    mapping = get_default_qconfig_mapping(BACKEND)

    def fast(qconfig):
        observer = getattr(qconfig.activation, "p", None)
        if getattr(observer, "func", None) is not HistogramObserver:
            return qconfig
        return QConfig(activation=MinMaxObserver.with_args(**observer.keywords), weight=qconfig.weight)

    mapping.set_global(fast(mapping.global_qconfig))
    for kind, qconfig in list(mapping.object_type_qconfigs.items()):
        if qconfig is not None:
            mapping.set_object_type(kind, fast(qconfig))
    return mapping


def build_model() -> torch.nn.Module:
    """The int8 network (a torch.fx.GraphModule running quantized CPU kernels)."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    float_module = _float_module()
    model = float_module.build_model(pretrained=False).eval()
    example = torch.zeros(1, *float_module.INPUT_SHAPE)
    torch.backends.quantized.engine = BACKEND
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), WEIGHTS_FILE)
    with warnings.catch_warnings():  # torch deprecates torch.ao.quantization and quantized storages
        warnings.simplefilter("ignore")
        prepared = prepare_fx(model, _recipe(), (example,))
        prepared(example)  # placeholder statistics; the calibrated scales come with the weights
        quantized = convert_fx(prepared)
        quantized.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return quantized
'''
