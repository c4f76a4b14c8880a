"""Segmentation data: the digit scenes and a folder of images with PNG masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas import NasError
from nas.data import resize, subset
from nas.data.masks_folder import masks_folder
from nas.data.scenes import digit_scenes
from nas.tasks.segmentation import IGNORE_INDEX


def test_digit_scenes_label_each_inked_pixel_with_its_digit_and_are_reproducible() -> None:
    data = digit_scenes(scenes=20, size=16, scale=1)
    assert data.task == "segmentation" and data.num_classes == 11
    assert data.input_shape == (1, 16, 16) and data.train.y.shape == (12, 16, 16)
    assert (len(data.val), len(data.test)) == (4, 4)
    for split in (data.train, data.val):
        inked = split.x[:, 0] > 0.25
        assert torch.equal(inked, split.y > 0)  # background is class 0 exactly where no ink is
    assert 0 <= int(data.train.y.min()) and int(data.train.y.max()) <= 10
    again = digit_scenes(scenes=20, size=16, scale=1)
    assert torch.equal(again.train.x, data.train.x) and torch.equal(again.val.y, data.val.y)
    other = digit_scenes(scenes=20, size=16, scale=1, split_seed=1)
    assert not torch.equal(other.train.y, data.train.y)


def test_masks_are_resized_with_the_nearest_pixel_and_subsets_keep_them() -> None:
    data = digit_scenes(scenes=20, size=16, scale=1)
    small = resize(data.train, 8)
    assert small.x.shape == (12, 1, 8, 8) and small.y.shape == (12, 8, 8)
    assert set(small.y.unique().tolist()) <= set(data.train.y.unique().tolist())
    half = subset(data.train, 0.5, 0)
    assert half.y.shape == (6, 16, 16) and torch.equal(half.y, subset(data.train, 0.5, 0).y)


def _write(root: Path, names: list[str], size: int = 6, mode: str = "L") -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"{name}.png")
        mask = np.full((size, size), i % 3, dtype=np.uint8)
        mask[0, 0] = 255  # an unlabelled pixel
        Image.fromarray(mask).convert(mode).save(root / "masks" / f"{name}.png")


def test_a_masks_folder_loads_with_ignored_pixels_classes_and_a_fixed_split(tmp_path: Path) -> None:
    names = [f"img{i:02d}" for i in range(10)]
    _write(tmp_path / "set", names)
    data = masks_folder(root=str(tmp_path / "set"), validation_fraction=0.2, test_fraction=0.1)
    assert data.task == "segmentation" and data.num_classes == 3
    assert (len(data.train), len(data.val), len(data.test)) == (7, 2, 1)
    assert data.input_shape == (3, 6, 6)
    assert int(data.train.y[0, 0, 0]) == IGNORE_INDEX and int(data.train.y[0, 1, 1]) in (0, 1, 2)
    again = masks_folder(root=str(tmp_path / "set"), validation_fraction=0.2, test_fraction=0.1)
    assert torch.equal(again.val.x, data.val.x)
    resized = masks_folder(root=str(tmp_path / "set"), image_size=4, num_classes=5, grayscale=True)
    assert resized.input_shape == (1, 4, 4) and resized.num_classes == 5
    assert set(resized.train.y.unique().tolist()) <= {IGNORE_INDEX, 0, 1, 2}


def test_masks_folder_problems_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="needs sub-folders images/ and masks/"):
        masks_folder(root=str(tmp_path))
    _write(tmp_path / "a", ["x", "y", "z", "w"])
    (tmp_path / "a" / "masks" / "w.png").unlink()
    with pytest.raises(NasError, match="has no mask .*w.png'; add it or remove the image"):
        masks_folder(root=str(tmp_path / "a"))
    _write(tmp_path / "rgb", ["x", "y", "z"], mode="RGB")
    with pytest.raises(NasError, match="is a RGB image; masks hold one class index per pixel"):
        masks_folder(root=str(tmp_path / "rgb"))
    _write(tmp_path / "b", ["x", "y", "z"])
    with pytest.raises(NasError, match=r"mask values must be below num_classes \(2\)"):
        masks_folder(root=str(tmp_path / "b"), num_classes=2)
