"""Grad-CAM views for a run report: a fixed grid of validation images, and for each top
architecture whose trained weights the run holds, its heat maps beside its predictions.

Weights come from ``RUN/weights/<arch_id>.pt`` (a search with ``evaluator.save_weights: true``)
or from ``nas train`` output in ``RUN/trained/`` (matched by the architecture id in its summary).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.arch import Choice, arch_id
from nas.data import DataSplits, Split, resize
from nas.errors import NasError
from nas.results.gradcam import gradcam
from nas.results.weights import load_state_checked, load_weights, weights_path
from nas.space import SearchSpace

#: Side of one image tile on the page, in pixels.
TILE = 96
#: Colour map of the heat maps (jet): positions and RGB anchors.
JET_AT = (0.0, 0.125, 0.375, 0.625, 0.875, 1.0)
JET_RGB = ((0, 0, 0.5), (0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0), (0.5, 0, 0))


@dataclass(frozen=True)
class Candidate:
    """One architecture of the report: its rank, trial and architecture."""

    rank: int
    trial: int
    arch: Mapping[str, Choice]


@dataclass(frozen=True)
class TrainedNet:
    """A trained network of a trial, where its weights came from, and its input shape."""

    model: nn.Module
    source: str
    input_shape: tuple[int, int, int] | None


def trained_network(
    run_dir: Path, space: SearchSpace, arch: Mapping[str, Choice]
) -> TrainedNet | None:
    """The trained network of ``arch`` from the run folder's weights or ``nas train`` output."""
    path = weights_path(run_dir, arch)
    if path.is_file():
        saved = load_weights(path)
        model = space.build(arch, num_classes=saved.num_classes, input_shape=saved.input_shape)
        load_state_checked(model, saved.state_dict, f"the weights in {str(path)!r}")
        return TrainedNet(model, f"{path.parent.name}/{path.name}", saved.input_shape)
    wanted = arch_id(arch)
    for summary in sorted((run_dir / "trained").glob("*.json")):
        try:
            found = json.loads(summary.read_text(encoding="utf-8")).get("arch_id")
        except (OSError, ValueError, AttributeError):
            continue  # not a summary nas train wrote
        module = summary.with_suffix(".py")
        if found == wanted and module.is_file() and module.with_suffix(".pt").is_file():
            from nas.deploy.export import rebuild_exported  # reads literals; runs no module code

            return TrainedNet(rebuild_exported(module), f"trained/{module.name}", None)
    return None


def image_grid(split: Split, count: int) -> torch.Tensor:
    """Indices of ``count`` images: the first of each class in turn (class 0, 1, ..., 0, 1, ...)."""
    labels = split.y.numpy()
    per_class = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    picked: list[int] = []
    depth = 0
    while len(picked) < min(count, len(labels)):
        for indices in per_class:
            if depth < len(indices) and len(picked) < count:
                picked.append(int(indices[depth]))
        depth += 1
    return torch.tensor(picked, dtype=torch.long)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """Images scaled to [0, 1] (uint8 images are divided by 255)."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def normalise(x: torch.Tensor, data: DataSplits) -> torch.Tensor:
    """Images as the network saw them in training: scaled, minus the mean, over the std."""
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    return (as_float(x) - mean) / std


def tile_uri(image: torch.Tensor, heat: torch.Tensor | None = None) -> str:
    """A PNG data URI of one (C, H, W) image in [0, 1], upscaled, the heat map blended over it."""
    from PIL import Image

    rgb = image.clamp(0, 1)
    rgb = rgb.expand(3, -1, -1) if rgb.shape[0] == 1 else rgb[:3]
    pixels = (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels).resize((TILE, TILE), Image.Resampling.NEAREST)
    if heat is not None:
        h = heat.clamp(0, 1).numpy()
        colours = np.stack([np.interp(h, JET_AT, [c[i] for c in JET_RGB]) for i in range(3)], -1)
        overlay = Image.fromarray((colours * 255).round().astype(np.uint8))
        overlay = overlay.resize((TILE, TILE), Image.Resampling.BILINEAR)
        picture = Image.blend(picture.convert("L").convert("RGB"), overlay, 0.5)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(uri: str, caption: str, css: str = "") -> str:
    return (
        f'<figure class="tile{css}"><img src="{uri}" width="{TILE}" height="{TILE}" alt="">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def cam_row(net: TrainedNet, images: Split, data: DataSplits) -> str:
    """One architecture's heat maps over the image grid, each captioned with its prediction."""
    split = images
    if net.input_shape is not None and net.input_shape[1:] != tuple(images.x.shape[2:]):
        split = resize(images, min(net.input_shape[1:]))
    cam = gradcam(net.model, normalise(split.x, data))
    tiles = []
    for i in range(len(split)):
        predicted, truth = int(cam.classes[i]), int(split.y[i])
        p = float(cam.probabilities[i, predicted])
        ok = predicted == truth
        caption = f"{'&#10003;' if ok else '&#10007;'} {predicted} ({p:.0%})"
        tiles.append(
            _img(
                tile_uri(as_float(split.x[i]), cam.heatmaps[i]),
                caption,
                " right" if ok else " wrong",
            )
        )
    return "".join(tiles) + f'<p class="note">from <code>{html.escape(cam.layer)}</code></p>'


def cam_section(
    run_dir: Path, space: SearchSpace, config: Any, candidates: Sequence[Candidate], count: int
) -> str:
    """The Grad-CAM block of one run (a note where weights or a data set are missing)."""
    nets = {c.trial: trained_network(run_dir, space, c.arch) for c in candidates}
    if not any(nets.values()):
        return (
            '<p class="note">No trained weights for these architectures in the run folder: search '
            "with <code>evaluator.save_weights: true</code>, or train one with "
            "<code>nas train RUN --trial N</code>, to see Grad-CAM heat maps here.</p>"
        )
    try:
        data = load_data(config)
    except NasError as exc:
        return f'<p class="note">Grad-CAM needs the run\'s data set: {html.escape(str(exc))}</p>'
    if data is None:
        return '<p class="note">Grad-CAM needs the run\'s data set; its config names none.</p>'
    index = image_grid(data.val, count)
    images = Split(data.val.x[index], data.val.y[index])
    head = "".join(
        _img(tile_uri(as_float(images.x[i])), f"label {int(images.y[i])}")
        for i in range(len(images))
    )
    rows = [f'<div class="camrow"><div class="camlabel">validation images</div>{head}</div>']
    for c in candidates:
        net = nets[c.trial]
        body = cam_row(net, images, data) if net else '<p class="note">no trained weights</p>'
        source = f"<br><small>{html.escape(net.source)}</small>" if net else ""
        rows.append(
            f'<div class="camrow"><div class="camlabel">#{c.rank} trial {c.trial}{source}</div>{body}</div>'
        )
    return "".join(rows)


def load_data(config: Any) -> DataSplits | None:
    """The run's data set, as its config describes it (None when it names none)."""
    from nas.registry import DATASETS

    if config.dataset is None:
        return None
    return DATASETS.get(config.dataset.name)(**config.dataset.options)
