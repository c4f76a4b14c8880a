"""A segmentation data set on disk: ``root/images/*`` with ``root/masks/*.png`` of the same names,
each mask a PNG of class indices (mode L or P: one class per pixel value)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nas.data.decode import EXTENSIONS
from nas.data.splits import DataSplits, Split, channel_stats
from nas.errors import NasError
from nas.tasks.segmentation import IGNORE_INDEX


def _pairs(root: str) -> list[tuple[Path, Path]]:
    """(image, mask) paths, by name; NasError for a missing folder or mask."""
    folder = Path(root).expanduser()
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise NasError(
            f"masks folder {root!r} needs sub-folders images/ and masks/ (masks/NAME.png for "
            "each images/NAME.*); set dataset.root to such a folder"
        )
    paths = sorted(p for p in images.iterdir() if p.suffix.lower() in EXTENSIONS)
    if len(paths) < 3:
        raise NasError(f"masks folder {root!r} needs at least 3 images, found {len(paths)}")
    pairs = []
    for path in paths:
        mask = masks / f"{path.stem}.png"
        if not mask.is_file():
            raise NasError(
                f"image {str(path)!r} has no mask {str(mask)!r}; add it or remove the image"
            )
        pairs.append((path, mask))
    return pairs


def _read(
    image: Path, mask: Path, size: tuple[int, int] | None, grayscale: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One image (C, H, W uint8, bilinear resize) and its mask (H, W, nearest resize)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image) as img, Image.open(mask) as lab:
            if lab.mode not in ("L", "P", "I", "I;16"):
                raise NasError(
                    f"mask {str(mask)!r} is a {lab.mode} image; masks hold one class index per "
                    "pixel (a grayscale or palette PNG)"
                )
            img = img.convert("L" if grayscale else "RGB")
            if size is not None:
                img = img.resize(size[::-1], Image.Resampling.BILINEAR)
                lab = lab.resize(size[::-1], Image.Resampling.NEAREST)
            x, y = np.asarray(img, dtype=np.uint8), np.asarray(lab, dtype=np.int64)
    except (UnidentifiedImageError, OSError) as exc:
        raise NasError(
            f"{str(image)!r} or its mask cannot be decoded ({exc}); replace it"
        ) from None
    if x.shape[:2] != y.shape:
        raise NasError(
            f"image {str(image)!r} is {x.shape[1]}x{x.shape[0]} but its mask {y.shape[1]}x{y.shape[0]}; "
            "give them the same size"
        )
    return (x[None] if grayscale else x.transpose(2, 0, 1)), y


def masks_folder(
    *,
    root: str,
    num_classes: int | None = None,
    ignore_index: int | None = 255,
    image_size: int | None = None,
    grayscale: bool = False,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.1,
    split_seed: int = 0,
) -> DataSplits:
    """Images under root/images with class-index PNG masks of the same names under root/masks.

    Mask value ``ignore_index`` (None: none) marks pixels that count in neither loss nor scores;
    ``num_classes`` defaults to the largest other value plus one. ``image_size`` resizes every
    image (bilinear) and mask (nearest) to that square side; without it all must share one size.
    The split is a deterministic shuffle of the sorted names by ``split_seed``.
    """
    if image_size is not None and image_size < 1:
        raise NasError(f"masks_folder option image_size must be at least 1, got {image_size}")
    if not 0 <= validation_fraction < 1 or not 0 <= test_fraction < 1:
        raise NasError("masks_folder validation_fraction and test_fraction must be in [0, 1)")
    pairs = _pairs(root)
    size = None if image_size is None else (image_size, image_size)
    read = [_read(image, mask, size, grayscale) for image, mask in pairs]
    shapes = {x.shape for x, _ in read}
    if len(shapes) > 1:
        raise NasError(
            f"masks folder {root!r} holds images of {len(shapes)} sizes; set image_size to resize them"
        )
    x = torch.from_numpy(np.stack([x for x, _ in read]))
    y = torch.from_numpy(np.stack([y for _, y in read]))
    if ignore_index is not None:
        y[y == ignore_index] = IGNORE_INDEX
    labelled = y[y != IGNORE_INDEX]
    classes = (
        num_classes if num_classes is not None else int(labelled.max()) + 1 if len(labelled) else 0
    )
    if classes < 2 or (len(labelled) and int(labelled.max()) >= classes):
        raise NasError(
            f"masks folder {root!r}: mask values must be below num_classes ({classes}) and there "
            "must be at least 2 classes; set num_classes or ignore_index"
        )
    order = torch.from_numpy(np.random.default_rng(split_seed).permutation(len(pairs)))
    n_val, n_test = round(validation_fraction * len(pairs)), round(test_fraction * len(pairs))
    if n_val < 1 or len(pairs) - n_val - n_test < 1:
        raise NasError(f"masks folder {root!r} has too few images ({len(pairs)}) for this split")
    parts = [order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]]
    val, test, train = (Split(x[i], y[i]) for i in parts)
    mean, std = channel_stats(train.x)
    name = f"masks_folder:{Path(root).expanduser().name}"
    return DataSplits(name, train, val, test, classes, mean, std, task="segmentation")
