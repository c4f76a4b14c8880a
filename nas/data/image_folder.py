"""Any folder of images with one sub-folder per class, decoded at a fixed size: into memory, or
once into an on-disk cache that every later run memory-maps (``cache: true``, for folders larger
than memory or searched many times; see nas/data/image_cache.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nas.data.decode import decode_chunks, list_images, resolve_workers
from nas.data.image_cache import default_cache_dir, load_or_build
from nas.data.splits import DataSplits, Split, make_splits, stratified_split
from nas.errors import NasError


def image_folder(
    *,
    root: str,
    image_size: int = 32,
    grayscale: bool = False,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    cache: bool = False,
    cache_dir: str | None = None,
    workers: int | None = None,
) -> DataSplits:
    """Images under root/<class>/*.png|jpg|..., resized to image_size, split per class.

    ``cache``: decode once into a memory-mapped uint8 file in ``cache_dir`` (default
    $NAS_CACHE_DIR, else ~/.cache/nas), reused while the folder's files (names, sizes, modification
    times) stay the same. ``workers``: decoding processes (default: the CPUs, up to 8, for folders
    of 10,000 images or more; else one).
    """
    if image_size < 1:
        raise NasError(f"image_folder option image_size must be at least 1, got {image_size}")
    if workers is not None and workers < 1:
        raise NasError(f"image_folder option workers must be at least 1, got {workers}")
    folder = Path(root).expanduser()
    listing = list_images(folder, root)
    processes = resolve_workers(workers, len(listing.paths))
    name = f"image_folder:{folder.name}"
    if not cache:
        x = np.empty((len(listing.paths), 1 if grayscale else 3, image_size, image_size), np.uint8)
        row = 0
        for chunk in decode_chunks(listing.paths, image_size, grayscale, processes):
            x[row : row + len(chunk)] = chunk
            row += len(chunk)
        return make_splits(
            name,
            torch.from_numpy(x),
            torch.from_numpy(listing.labels),
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            split_seed=split_seed,
            num_classes=len(listing.classes),
        )
    val_idx, test_idx, train_idx = stratified_split(
        listing.labels, [validation_fraction, test_fraction], split_seed
    )
    order = np.concatenate([train_idx, val_idx, test_idx])
    params = {
        "image_size": image_size,
        "grayscale": grayscale,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "split_seed": split_seed,
    }
    where = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cached = load_or_build(
        folder, listing, order, len(train_idx), params, where / "image_folder", processes
    )
    images, labels = torch.from_numpy(cached.images), torch.from_numpy(listing.labels[order])
    a, b = len(train_idx), len(train_idx) + len(val_idx)
    return DataSplits(
        name,
        Split(images[:a], labels[:a]),
        Split(images[a:b], labels[a:b]),
        Split(images[b:], labels[b:]),
        len(listing.classes),
        cached.mean,
        cached.std,
    )
