"""Once-for-all style weight sharing for the MBConv space.

The supernet holds the largest network (largest kernel, expansion, depth and width of every
stage, SE on if SE is a choice) and runs any architecture by slicing it: a smaller kernel is the
centre of the largest one, fewer expanded or output channels are the first ones, fewer layers
skip a stage's trailing blocks, SE off skips the SE weights. The same slicing function serves
``forward`` and ``subnet_state_dict``, so a standalone network given the sliced weights computes
what the supernet computes for its architecture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import Arch, Choice
from nas.space import validate_arch
from nas.supernet import Supernet
from search_spaces.mbconv.blocks import BN_EPS, EfficientNet, MBConv, drop_path
from search_spaces.mbconv.plan import NUM_STAGES, BlockSpec, NetworkPlan
from search_spaces.mbconv.planner import Planner

_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def _bn_slices(bn: torch.nn.BatchNorm2d, name: str, channels: int) -> dict[str, torch.Tensor]:
    out = {f"{name}.{f}": getattr(bn, f)[:channels] for f in _BN_FIELDS}
    out[f"{name}.num_batches_tracked"] = bn.num_batches_tracked
    return out


def block_tensors(block: MBConv, spec: BlockSpec, se_ratio: float) -> dict[str, torch.Tensor]:
    """The slices of the largest block that make up ``spec``, keyed as in a standalone MBConv.

    They are views, so gradients and BatchNorm running-statistics updates reach the shared weights.
    """
    mid, k = spec.mid, spec.kernel
    out: dict[str, torch.Tensor] = {}
    if spec.expand != 1:
        assert block.expand_conv is not None and block.bn0 is not None  # the largest block expands
        out["expand_conv.weight"] = block.expand_conv.weight[:mid, : spec.c_in]
        out.update(_bn_slices(block.bn0, "bn0", mid))
    start = (block.dw_conv.kernel_size[0] - k) // 2
    out["dw_conv.weight"] = block.dw_conv.weight[:mid, :, start : start + k, start : start + k]
    out.update(_bn_slices(block.bn1, "bn1", mid))
    if spec.se:
        assert block.se is not None  # the largest block has SE
        sq = spec.squeezed(se_ratio)
        reduce, expand = block.se.reduce, block.se.expand
        assert reduce.bias is not None and expand.bias is not None
        out["se.reduce.weight"] = reduce.weight[:sq, :mid]
        out["se.reduce.bias"] = reduce.bias[:sq]
        out["se.expand.weight"] = expand.weight[:mid, :sq]
        out["se.expand.bias"] = expand.bias[:mid]
    out["project_conv.weight"] = block.project_conv.weight[: spec.c_out, :mid]
    out.update(_bn_slices(block.bn2, "bn2", spec.c_out))
    return out


def _batch_norm(
    t: dict[str, torch.Tensor], name: str, x: torch.Tensor, training: bool, momentum: float
) -> torch.Tensor:
    return F.batch_norm(
        x,
        t[f"{name}.running_mean"],
        t[f"{name}.running_var"],
        t[f"{name}.weight"],
        t[f"{name}.bias"],
        training,
        momentum,
        BN_EPS,
    )


def run_block(
    t: dict[str, torch.Tensor], spec: BlockSpec, x: torch.Tensor, training: bool, bn_momentum: float
) -> torch.Tensor:
    """One MBConv block computed from sliced tensors (the functional twin of ``MBConv.forward``)."""

    def bn(name: str, h: torch.Tensor) -> torch.Tensor:
        return _batch_norm(t, name, h, training, bn_momentum)

    h = x
    if spec.expand != 1:
        h = F.silu(bn("bn0", F.conv2d(h, t["expand_conv.weight"])))
    h = F.conv2d(h, t["dw_conv.weight"], None, spec.stride, spec.kernel // 2, 1, spec.mid)
    h = F.silu(bn("bn1", h))
    if spec.se:
        s = F.silu(
            F.conv2d(h.mean((2, 3), keepdim=True), t["se.reduce.weight"], t["se.reduce.bias"])
        )
        h = h * torch.sigmoid(F.conv2d(s, t["se.expand.weight"], t["se.expand.bias"]))
    h = bn("bn2", F.conv2d(h, t["project_conv.weight"]))
    if spec.has_skip:
        h = drop_path(h, spec.drop_path, training) + x
    return h


def _block(net: EfficientNet, stage: int, index: int) -> MBConv:
    """Block ``index`` of stage ``stage`` of the largest network."""
    return cast(MBConv, cast(nn.ModuleList, net.blocks[stage])[index])


class MBConvSupernet(Supernet):
    """The largest network of an MBConv space; ``forward`` runs the architecture last set.

    ``decisions``, ``space_name`` and ``planner`` are the space's, so that an architecture is
    validated and laid out exactly as the space does it.
    """

    def __init__(
        self,
        *,
        decisions: Mapping[str, Sequence[Choice]],
        space_name: str,
        planner: Planner,
        num_classes: int,
        input_shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.decisions = dict(decisions)
        self.space_name = space_name
        self.planner = planner
        c, h, w = input_shape
        self.input_shape = (c, h, w)
        largest: Arch = {}
        for name, choices in self.decisions.items():
            # SE on is the larger network; numeric choices take their maximum
            largest[name] = True if name.endswith("_se") and True in choices else max(choices)
        self.largest = largest
        self.net = EfficientNet(self.plan(largest), num_classes)
        self._plan: NetworkPlan = self.plan(largest)

    def plan(self, arch: Mapping[str, Choice]) -> NetworkPlan:
        """The blocks of ``arch`` (validated as the space does) for the supernet's input shape."""
        valid = validate_arch(arch, self.decisions, self.space_name)
        return self.planner.plan(valid, self.input_shape)

    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        """Make ``arch`` the path that ``forward`` follows."""
        self._plan = self.plan(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the current architecture."""
        net, plan = self.net, self._plan
        if net.resize_to is not None:
            x = F.interpolate(x, size=net.resize_to, mode="bilinear", align_corners=False)
        x = net.stem(x)
        for s in range(NUM_STAGES):
            for j, spec in enumerate(plan.stages[s]):
                tensors = block_tensors(_block(net, s, j), spec, plan.se_ratio)
                x = run_block(tensors, spec, x, self.training, plan.bn_momentum)
        c_last = plan.blocks[-1].c_out
        head_conv, head_bn, act = net.head
        x = act(head_bn(F.conv2d(x, cast(nn.Conv2d, head_conv).weight[:, :c_last]))).mean((2, 3))
        return net.classifier(net.dropout(x))

    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        """The shared weights of ``arch``, keyed to load into ``space.build(arch, ...)`` with strict=True."""
        plan = self.plan(arch)
        net = self.net
        out = {f"stem.{k}": v for k, v in net.stem.state_dict().items()}
        for s, stage in enumerate(plan.stages):
            for j, spec in enumerate(stage):
                tensors = block_tensors(_block(net, s, j), spec, plan.se_ratio)
                out.update({f"blocks.{s}.{j}.{k}": v for k, v in tensors.items()})
        out["head.0.weight"] = cast(nn.Conv2d, net.head[0]).weight[:, : plan.blocks[-1].c_out]
        out.update({f"head.1.{k}": v for k, v in net.head[1].state_dict().items()})
        out.update({f"classifier.{k}": v for k, v in net.classifier.state_dict().items()})
        return {k: v.detach().clone() for k, v in out.items()}
