from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas import DATASETS, NasError
from nas.data import iterate_batches, stratified_split, subset
from nas.data.cifar import cifar10, cifar100
from nas.data.digits import digits
from nas.data.image_folder import image_folder


def test_digits_split_is_deterministic_stratified_and_disjoint() -> None:
    a, b = digits(), digits()
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    assert (len(a.train), len(a.val), len(a.test)) == (1079, 359, 359)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.y, b.val.y)
    assert sorted(torch.unique(a.val.y).tolist()) == list(range(10))
    other = digits(split_seed=1)
    assert not torch.equal(a.val.x, other.val.x)
    rows = {tuple(r) for r in a.train.x.flatten(1).tolist()}
    assert not any(tuple(r) in rows for r in a.test.x.flatten(1).tolist()[:50])


def test_stratified_split_fractions_and_errors() -> None:
    labels = np.repeat(np.arange(4), 25)
    val, test, train = stratified_split(labels, [0.2, 0.2], seed=0)
    assert (len(val), len(test), len(train)) == (20, 20, 60)
    assert len(set(val) | set(test) | set(train)) == 100
    with pytest.raises(NasError, match="sum to less than 1"):
        stratified_split(labels, [0.5, 0.5], seed=0)


def test_subset_and_batches() -> None:
    data = digits()
    half = subset(data.train, 0.5, seed=0)
    assert abs(len(half) - len(data.train) / 2) < 10
    assert subset(data.train, 1.0, seed=0) is data.train
    with pytest.raises(NasError, match="data fraction"):
        subset(data.train, 0.0, seed=0)
    batches = list(
        iterate_batches(data.train, 256, mean=data.mean, std=data.std, device=torch.device("cpu"))
    )
    assert sum(len(y) for _, y in batches) == len(data.train)
    x = torch.cat([b[0] for b in batches])
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-2


def _write_cifar_batch(path: Path, n: int, label_key: bytes, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(i % classes) for i in range(n)]
    with path.open("wb") as fh:
        pickle.dump({b"data": data, label_key: labels, b"batch_label": b"x"}, fh)


def test_cifar10_from_python_pickles(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for i in range(1, 6):
        _write_cifar_batch(root / f"data_batch_{i}", 20, b"labels", 10, i)
    _write_cifar_batch(root / "test_batch", 30, b"labels", 10, 9)
    data = DATASETS.get("cifar10")(root=str(root), validation_fraction=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 30)
    assert data.input_shape == (3, 32, 32) and data.train.x.dtype == torch.uint8
    x, _ = next(
        iterate_batches(data.train, 80, mean=data.mean, std=data.std, device=torch.device("cpu"))
    )
    assert abs(x.mean().item()) < 1e-3


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    _write_cifar_batch(root / "train", 200, b"fine_labels", 100, 0)
    _write_cifar_batch(root / "test", 100, b"fine_labels", 100, 1)
    data = cifar100(root=str(root), validation_fraction=0.5)
    assert data.num_classes == 100 and len(data.test) == 100
    assert int(data.test.y.max()) == 99


class Boom:
    def __reduce__(self):  # a pickle that would run code when loaded
        return (print, ("pwned",))


def test_cifar_loader_refuses_corrupt_and_malicious_files(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="does not exist"):
        cifar10(root=str(tmp_path / "missing"))
    root = tmp_path / "c10"
    root.mkdir()
    with pytest.raises(NasError, match="data_batch_1' is missing"):
        cifar10(root=str(root))
    (root / "data_batch_1").write_bytes(b"garbage")
    with pytest.raises(NasError, match="is corrupt or not a CIFAR python pickle"):
        cifar10(root=str(root))
    with (root / "data_batch_1").open("wb") as fh:
        pickle.dump({b"data": Boom(), b"labels": [0]}, fh)
    with pytest.raises(NasError, match="refusing to load builtins.print"):
        cifar10(root=str(root))


def test_image_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog", "fox"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            pixels = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = image_folder(
        root=str(tmp_path), image_size=8, validation_fraction=0.2, test_fraction=0.2
    )
    assert data.num_classes == 3 and data.input_shape == (3, 8, 8)
    assert len(data.train) + len(data.val) + len(data.test) == 30
    gray = image_folder(root=str(tmp_path), image_size=8, grayscale=True)
    assert gray.input_shape == (1, 8, 8)
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(NasError, match="broken.png' cannot be decoded"):
        image_folder(root=str(tmp_path))


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="does not exist"):
        image_folder(root=str(tmp_path / "nope"))
    (tmp_path / "only").mkdir()
    with pytest.raises(NasError, match="at least two class sub-folders"):
        image_folder(root=str(tmp_path))


def test_resize_keeps_dtype_labels_and_aspect_ratio() -> None:
    from nas.data import Split, resize
    from nas.data.splits import resized_shape

    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12) % 256
    split = Split(x.to(torch.uint8), torch.tensor([0, 1]))
    small = resize(split, 4)
    assert (
        small.x.shape == (2, 3, 4, 6)
        and small.x.dtype == torch.uint8
        and torch.equal(small.y, split.y)
    )
    assert resize(split, 8) is split and resized_shape((8, 12), 16) == (16, 24)
    # a constant image stays constant at any size (the resampling weights sum to one)
    flat = Split(torch.full((1, 1, 8, 8), 0.25), torch.tensor([3]))
    torch.testing.assert_close(resize(flat, 3).x, torch.full((1, 1, 3, 3), 0.25))
    with pytest.raises(NasError, match="at least 1 pixel"):
        resize(split, 0)
