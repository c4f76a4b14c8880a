"""Image folders decoded once into an on-disk, memory-mapped uint8 cache; real PNG files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas import NasError
from nas.data import iterate_batches
from nas.data.image_folder import image_folder


def write_folder(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for cls in ("ant", "bee", "cow"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(14, 11, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i:02d}.png")
    return root


def cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "image_folder").iterdir())


def assert_same(a, b) -> None:
    for name in ("train", "val", "test"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert torch.equal(sa.x, sb.x) and torch.equal(sa.y, sb.y), name
    assert (a.name, a.num_classes, a.input_shape) == (b.name, b.num_classes, b.input_shape)
    # counted exactly from histograms versus torch's float32 reduction: equal to float32 rounding
    assert a.mean == pytest.approx(b.mean, rel=1e-6) and a.std == pytest.approx(b.std, rel=1e-6)


def test_the_cache_holds_what_decoding_into_memory_gives(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "images")
    options = {"root": str(root), "image_size": 8, "validation_fraction": 0.25, "split_seed": 3}
    in_memory = image_folder(**options)
    cached = image_folder(**options, cache=True, cache_dir=str(tmp_path / "cache"))
    assert_same(cached, in_memory)
    # the splits are slices of one array (the mapped file), not copies
    storage = cached.train.x.untyped_storage().data_ptr()
    assert cached.test.x.untyped_storage().data_ptr() == storage
    assert cached.train.x.dtype == torch.uint8
    batches = [
        iterate_batches(d.train, 7, mean=d.mean, std=d.std, device=torch.device("cpu"))
        for d in (cached, in_memory)
    ]
    for (xa, ya), (xb, yb) in zip(*batches, strict=True):
        assert torch.allclose(xa, xb, rtol=1e-5, atol=1e-5) and torch.equal(ya, yb)
    gray = image_folder(**options, grayscale=True, cache=True, cache_dir=str(tmp_path / "cache"))
    assert_same(gray, image_folder(**options, grayscale=True))
    assert len(cache_files(tmp_path / "cache")) == 4  # colour and grey: an array and its notes each


def test_parallel_decoding_gives_the_same_images(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "images")
    one = image_folder(root=str(root), image_size=8, workers=1)
    assert_same(image_folder(root=str(root), image_size=8, workers=2), one)
    cached = image_folder(
        root=str(root), image_size=8, workers=2, cache=True, cache_dir=str(tmp_path / "cache")
    )
    assert_same(cached, one)


def test_the_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path: Path) -> None:
    root, cache = write_folder(tmp_path / "images"), tmp_path / "cache"
    first = image_folder(root=str(root), image_size=8, cache=True, cache_dir=str(cache))
    (array,) = (cache / "image_folder").glob("*.npy")
    stamp = array.stat()
    again = image_folder(root=str(root), image_size=8, cache=True, cache_dir=str(cache))
    assert_same(again, first)
    assert cache_files(cache) == sorted([array.name, array.with_suffix(".json").name])
    assert (array.stat().st_ino, array.stat().st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)

    changed = root / "bee" / "03.png"
    Image.fromarray(np.full((14, 11, 3), 7, dtype=np.uint8)).save(changed)
    os.utime(changed, ns=(stamp.st_mtime_ns + 10**9, stamp.st_mtime_ns + 10**9))
    rebuilt = image_folder(root=str(root), image_size=8, cache=True, cache_dir=str(cache))
    assert_same(rebuilt, image_folder(root=str(root), image_size=8))
    assert not all(
        torch.equal(getattr(rebuilt, s).x, getattr(first, s).x) for s in ("train", "val", "test")
    )
    names = cache_files(cache)
    assert len(names) == 2 and array.name not in names  # the stale copy is gone


def test_a_corrupt_image_is_named_and_leaves_no_cache(tmp_path: Path) -> None:
    root, cache = write_folder(tmp_path / "images"), tmp_path / "cache"
    (root / "cow" / "07.png").write_bytes(b"not a png at all")
    for workers in (1, 2):
        with pytest.raises(
            NasError, match=r"image '.*cow/07\.png' cannot be decoded .*remove or replace it"
        ):
            image_folder(root=str(root), cache=True, cache_dir=str(cache), workers=workers)
        assert cache_files(cache) == []
    with pytest.raises(NasError, match="workers must be at least 1"):
        image_folder(root=str(root), workers=0)
