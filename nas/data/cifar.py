"""CIFAR-10 / CIFAR-100 from the standard python-pickle folders a user already has."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.splits import DataSplits, Split, channel_stats, stratified_split
from nas.errors import NasError

# The CIFAR pickles hold dicts of bytes, lists and numpy arrays; nothing else may be loaded.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
    ("builtins", "bytes"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise NasError(
            f"CIFAR file {str(path)!r} is missing; point 'root' at the extracted python-pickle folder"
        )
    try:
        with path.open("rb") as fh:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key.encode()], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as exc:
        raise NasError(
            f"CIFAR file {str(path)!r} is corrupt or not a CIFAR python pickle ({exc})"
        ) from None
    if len(data) != len(labels):
        raise NasError(f"CIFAR file {str(path)!r} has {len(data)} images but {len(labels)} labels")
    return data, labels


#: The folder each archive extracts into; dataset.root may name it or the folder holding it.
_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def _load(
    name: str,
    root: str,
    train_files: list[str],
    test_file: str,
    label_key: str,
    num_classes: int,
    validation_fraction: float,
    split_seed: int,
) -> DataSplits:
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise NasError(
            f"{name} folder {root!r} does not exist; set dataset.root to the extracted python-pickle folder"
        )
    inner = folder / _FOLDERS[name]
    if not (folder / test_file).exists() and inner.is_dir():  # the folder the archive extracts into
        folder = inner
    parts = [_load_batch(folder / f, label_key) for f in train_files]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    x_test, y_test = _load_batch(folder / test_file, label_key)
    val_idx, train_idx = stratified_split(y, [validation_fraction], split_seed)
    train = Split(torch.from_numpy(x[train_idx]), torch.from_numpy(y[train_idx]))
    val = Split(torch.from_numpy(x[val_idx]), torch.from_numpy(y[val_idx]))
    mean, std = channel_stats(train.x)
    test = Split(torch.from_numpy(x_test), torch.from_numpy(y_test))
    return DataSplits(name, train, val, test, num_classes, mean, std)


def cifar10(*, root: str, validation_fraction: float = 0.1, split_seed: int = 0) -> DataSplits:
    """CIFAR-10 from a 'cifar-10-batches-py' folder; validation split carved from the training set."""
    files = [f"data_batch_{i}" for i in range(1, 6)]
    return _load(
        "cifar10", root, files, "test_batch", "labels", 10, validation_fraction, split_seed
    )


def cifar100(*, root: str, validation_fraction: float = 0.1, split_seed: int = 0) -> DataSplits:
    """CIFAR-100 (fine labels) from a 'cifar-100-python' folder; validation carved from training."""
    return _load(
        "cifar100", root, ["train"], "test", "fine_labels", 100, validation_fraction, split_seed
    )
