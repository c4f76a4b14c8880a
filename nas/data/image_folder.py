"""Any folder of images with one sub-folder per class, decoded into memory at a fixed size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nas.data.splits import DataSplits, make_splits
from nas.errors import NasError

_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def image_folder(
    *,
    root: str,
    image_size: int = 32,
    grayscale: bool = False,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 0,
) -> DataSplits:
    """Images under root/<class>/*.png|jpg|..., resized to image_size, split per class."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise NasError(
            f"image folder {root!r} does not exist; set dataset.root to a folder of class sub-folders"
        )
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise NasError(
            f"image folder {root!r} needs at least two class sub-folders, found {len(classes)}"
        )
    images, labels = [], []
    mode = "L" if grayscale else "RGB"
    for label, cls in enumerate(classes):
        for path in sorted((folder / cls).iterdir()):
            if path.suffix.lower() not in _EXTENSIONS:
                continue
            try:
                with Image.open(path) as img:
                    img = img.convert(mode).resize(
                        (image_size, image_size), Image.Resampling.BILINEAR
                    )
                    array = np.asarray(img, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as exc:
                raise NasError(
                    f"image {str(path)!r} cannot be decoded ({exc}); remove or replace it"
                ) from None
            images.append(array[None] if grayscale else array.transpose(2, 0, 1))
            labels.append(label)
    if not images:
        raise NasError(f"image folder {root!r} has no images with extensions {sorted(_EXTENSIONS)}")
    x = torch.from_numpy(np.stack(images))
    y = torch.tensor(labels, dtype=torch.int64)
    return make_splits(
        f"image_folder:{folder.name}",
        x,
        y,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
        num_classes=len(classes),
    )
