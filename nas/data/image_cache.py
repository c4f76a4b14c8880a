"""An image folder decoded once into an on-disk uint8 array, memory-mapped by every later load.

The array (a ``.npy`` file) holds the images already resized and in split order (train, then
validation, then test), so that each split is a slice of it: a batch reads only its own images,
and a folder larger than memory can be searched. It is keyed by the folder's contents (every
image's name, size and modification time) and by what shapes the array (image size, colour, split
fractions and seed); a later run, or a Ray worker on the same machine, finds it and decodes
nothing. Normalisation statistics are counted exactly (per-channel histograms) while it is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.decode import Listing, decode_chunks

VERSION = 1


def default_cache_dir() -> Path:
    """Where caches go without ``cache_dir``: $NAS_CACHE_DIR, else $XDG_CACHE_HOME/nas, else ~/.cache/nas."""
    if os.environ.get("NAS_CACHE_DIR"):
        return Path(os.environ["NAS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "nas"


@dataclass(frozen=True)
class CachedImages:
    """The memory-mapped images (N, C, H, W) in split order and their training-split statistics."""

    images: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]


def cache_names(folder: Path, listing: Listing, params: dict[str, Any]) -> tuple[str, str]:
    """(prefix, key): the prefix names the folder and parameters, the key adds its contents."""
    prefix = {"version": VERSION, "folder": str(folder.resolve()), **params}
    digest = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode())
    head = digest.hexdigest()[:16]
    digest.update("\n".join(listing.classes).encode())
    for path in listing.paths:
        stat = path.stat()
        digest.update(f"\n{path.relative_to(folder)}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return head, f"{head}-{digest.hexdigest()[:16]}"


def load_or_build(
    folder: Path,
    listing: Listing,
    order: np.ndarray,
    train_size: int,
    params: dict[str, Any],
    cache_dir: Path,
    workers: int,
) -> CachedImages:
    """The cached images of ``listing`` in ``order`` (the first ``train_size`` are the training
    split), decoding them into the cache first if it holds no up-to-date copy."""
    prefix, key = cache_names(folder, listing, params)
    images, meta = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    shape = [
        len(order),
        1 if params["grayscale"] else 3,
        params["image_size"],
        params["image_size"],
    ]
    found = _read_meta(meta)
    if found.get("shape") != shape or not images.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        stats = _write_images(
            images, [listing.paths[i] for i in order], shape, train_size, params, workers
        )
        _replace(meta, json.dumps({"shape": shape, "classes": listing.classes, **stats}).encode())
        _remove_stale(cache_dir, prefix, key)
        found = _read_meta(meta)
    # copy-on-write: a writable array for torch, while the file itself is never changed
    array = np.load(images, mmap_mode="c")
    return CachedImages(array, tuple(found["mean"]), tuple(found["std"]))


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_images(
    path: Path,
    paths: list[Path],
    shape: list[int],
    train_size: int,
    params: dict[str, Any],
    workers: int,
) -> dict[str, list[float]]:
    """Decode ``paths`` into ``path`` (written with plain file writes, so the process holds only a
    few chunks); returns the training split's statistics."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        header = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(shape))
        offset = header.offset
        del header
        counts = np.zeros(
            (shape[1], 256), dtype=np.int64
        )  # per-channel histogram of the train split
        row = 0
        with tmp.open("r+b") as fh:
            fh.seek(offset)
            chunks = decode_chunks(paths, params["image_size"], params["grayscale"], workers)
            for chunk in chunks:
                fh.write(np.ascontiguousarray(chunk).tobytes())
                train = chunk[: max(0, train_size - row)]
                for c in range(shape[1]):
                    counts[c] += np.bincount(train[:, c].ravel(), minlength=256)
                row += len(chunk)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _stats(counts)


def _stats(counts: np.ndarray) -> dict[str, list[float]]:
    """Per-channel mean and (unbiased) std of pixel / 255, exact from the histograms, as float32."""
    values = np.arange(256, dtype=np.int64)
    mean, std = [], []
    for hist in counts:
        n = int(hist.sum())
        s1, s2 = int(hist @ values), int(hist @ (values * values))
        var = (n * s2 - s1 * s1) / (max(n, 1) * max(n - 1, 1) * 255 * 255)
        mean.append(float(np.float32(s1 / (max(n, 1) * 255))))
        std.append(float(np.float32(max(math.sqrt(max(var, 0.0)), 1e-6))))
    return {"mean": mean, "std": std}


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` atomically under a name no other process uses (Ray workers may race)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def _remove_stale(cache_dir: Path, prefix: str, key: str) -> None:
    """Remove this folder's caches for contents it no longer has (a process still mapping one keeps
    reading it: the file goes when its last mapping does)."""
    for old in cache_dir.glob(f"{prefix}-*"):
        if not old.name.startswith(key) and old.suffix in {".npy", ".json"}:
            old.unlink(missing_ok=True)
