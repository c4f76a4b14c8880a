"""Cost metrics shared by every evaluator: parameters, FLOPs, peak activation memory, latency."""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from nas.config import CostsConfig


def count_params(model: nn.Module, *, auxiliary: bool = False) -> int:
    """Number of parameters the network infers with (trainable or not; buffers such as BN running
    stats excluded). Training-only auxiliary heads (submodules named ``auxiliary*``) are left out
    unless ``auxiliary`` is true, as the DARTS code and papers count them."""
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if auxiliary or not any(part.startswith("auxiliary") for part in name.split("."))
    )


def _device_of(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device(
        "cpu"
    )  # a module with no tensors (pooling, identity) runs where its input is


class _FlopCount(TorchDispatchMode):
    """Sums the FLOPs of each operation PyTorch's flop counter knows (convolutions, matrix
    products), without FlopCounterMode's per-module bookkeeping, which costs more than the
    forward pass itself on small networks."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.registry = FlopCounterMode(display=False).flop_registry

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = self.registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulate operations of one forward pass on one input (the convention NAS papers
    call FLOPs, e.g. EfficientNet-B0's 0.39 G): convolutions and matrix products, counted with
    PyTorch's own per-operation formulas (which count 2 per multiply-add) and halved."""
    was_training = model.training
    model.eval()
    with _FlopCount() as counter:
        model(torch.zeros(1, *input_shape, device=_device_of(model)))
    model.train(was_training)
    return counter.total // 2


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages created inside the mode while they are alive."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._tracked: set[int] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and not t._is_view():
                self._track(t.untyped_storage())
        return out

    def _track(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)
        if key in self._tracked:  # in-place results reuse their input's storage
            return
        nbytes = storage.nbytes()
        self._tracked.add(key)
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key, nbytes)

    def _free(self, key: int, nbytes: int) -> None:
        self._tracked.discard(key)
        self.live -= nbytes


@torch.no_grad()
def peak_activation_bytes(
    model: nn.Module, input_shape: tuple[int, int, int], batch_size: int = 1
) -> int:
    """Peak bytes of intermediate tensors alive at once during one inference forward pass
    (weights, buffers and the input excluded), measured by tracking every tensor the pass creates."""
    was_training = model.training
    model.eval()
    x = torch.zeros(batch_size, *input_shape, device=_device_of(model))
    mode = _LiveBytes()
    with mode:
        out = model(x)
    del out
    model.train(was_training)
    return mode.peak


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    batch_size: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    clock: Literal["wall", "thread"] = "wall",
    device: torch.device | None = None,
) -> float:
    """Median wall time in milliseconds of an inference forward pass, on ``device`` (by default the
    device of the model's parameters or buffers; a module with none, such as a pooling layer, needs
    ``device`` to be timed anywhere but the CPU).

    ``clock="thread"`` times the calling thread's CPU time instead: on a shared CPU with one torch
    thread it leaves out the time other processes hold the core (not for CUDA or several threads).
    """
    was_training = model.training
    model.eval()
    device = device or _device_of(model)
    x = torch.randn(batch_size, *input_shape, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    now = time.thread_time if clock == "thread" else time.perf_counter
    times = []
    for i in range(warmup + repeats):
        sync()
        start = now()
        model(x)
        sync()
        if i >= warmup:
            times.append(now() - start)
    model.train(was_training)
    return 1000.0 * statistics.median(times)


def cost_metrics(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    costs: CostsConfig,
    *,
    arch: Mapping[str, Any] | None = None,
    space: Any = None,
) -> dict[str, float | int]:
    """Params and FLOPs, plus peak activation memory and latency as configured (on the model's
    device), and with a latency profile, ``arch``'s predicted latency on the profiled device."""
    metrics: dict[str, float | int] = {
        "params": count_params(model),
        "flops": count_flops(model, input_shape),
    }
    if costs.memory:
        metrics["activation_bytes"] = peak_activation_bytes(model, input_shape)
    if costs.latency:
        for batch in costs.latency_batch_sizes:
            key = "latency_ms" if batch == 1 else f"latency_ms_b{batch}"
            metrics[key] = measure_latency(
                model,
                input_shape,
                batch_size=batch,
                repeats=costs.latency_repeats,
                warmup=costs.latency_warmup,
            )
    if costs.latency_profile is not None and arch is not None:
        from nas.costs.profile import predicted_latency

        metrics.update(predicted_latency(costs.latency_profile, arch, space, input_shape))
    return metrics
