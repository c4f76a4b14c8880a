"""Listing and decoding the images of a class-per-folder tree, in parallel processes.

Pillow and numpy only (no torch): a decoding process starts in a fraction of a second.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.errors import NasError

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: With ``workers`` unset, folders with fewer images than this are decoded in this process (starting
#: the processes costs seconds: the program's main module is imported once more).
PARALLEL_FROM = 10_000
#: Images per task sent to a decoding process (at most).
CHUNK = 256


@dataclass(frozen=True)
class Listing:
    """The classes of an image folder and its image files in order (by class, then by name)."""

    classes: list[str]
    paths: list[Path]
    labels: np.ndarray  # int64, one per path


def list_images(folder: Path, root: str) -> Listing:
    """The sorted class sub-folders of ``folder`` and the image files in each (``root``: as configured)."""
    if not folder.is_dir():
        raise NasError(
            f"image folder {root!r} does not exist; set dataset.root to a folder of class sub-folders"
        )
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise NasError(
            f"image folder {root!r} needs at least two class sub-folders, found {len(classes)}"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        for path in sorted((folder / cls).iterdir()):
            if path.suffix.lower() in EXTENSIONS:
                paths.append(path)
                labels.append(label)
    if not paths:
        raise NasError(f"image folder {root!r} has no images with extensions {sorted(EXTENSIONS)}")
    return Listing(classes, paths, np.asarray(labels, dtype=np.int64))


def decode_images(paths: Sequence[str], image_size: int, grayscale: bool) -> np.ndarray:
    """The images as one uint8 array (N, C, image_size, image_size), resized bilinearly."""
    from PIL import Image, UnidentifiedImageError

    mode = "L" if grayscale else "RGB"
    out = np.empty((len(paths), 1 if grayscale else 3, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                img = img.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise NasError(
                f"image {str(path)!r} cannot be decoded ({exc}); remove or replace it"
            ) from None
        out[i] = array[None] if grayscale else array.transpose(2, 0, 1)
    return out


def resolve_workers(workers: int | None, images: int) -> int:
    """Decoding processes: ``workers`` if given, else the CPUs for large folders and one otherwise."""
    if workers is not None:
        return workers
    return min(8, os.cpu_count() or 1) if images >= PARALLEL_FROM else 1


def decode_chunks(
    paths: Sequence[Path], image_size: int, grayscale: bool, workers: int
) -> Iterator[np.ndarray]:
    """The images decoded in order, a chunk at a time; by ``workers`` processes when more than one,
    with a bounded number of chunks in flight (memory stays a few chunks per process)."""
    names = [str(p) for p in paths]
    per_chunk = max(1, min(CHUNK, math.ceil(len(names) / (4 * max(1, workers)))))
    chunks = [names[i : i + per_chunk] for i in range(0, len(names), per_chunk)]
    if workers <= 1 or len(chunks) == 1:
        for chunk in chunks:
            yield decode_images(chunk, image_size, grayscale)
        return
    # forkserver: a clean process to fork from, never this one's threads (torch's among them)
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending: deque[Future[np.ndarray]] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(decode_images, chunk, image_size, grayscale))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
