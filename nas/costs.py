"""Cost metrics shared by every evaluator: parameter count and FLOPs."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, *, auxiliary: bool = False) -> int:
    """Number of parameters the network infers with (trainable or not; buffers such as BN running
    stats excluded). Training-only auxiliary heads (submodules named ``auxiliary*``) are left out
    unless ``auxiliary`` is true, as the DARTS code and papers count them."""
    return sum(
        p.numel() for name, p in model.named_parameters()
        if auxiliary or not any(part.startswith("auxiliary") for part in name.split("."))
    )


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulate operations of one forward pass on one input (the convention NAS papers
    call FLOPs, e.g. EfficientNet-B0's 0.39 G): convolutions and matrix products, counted by
    PyTorch's own FlopCounterMode (which counts 2 per multiply-add) and halved."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, *input_shape, device=device))
    model.train(was_training)
    return counter.get_total_flops() // 2
