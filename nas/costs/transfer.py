"""Few-shot latency transfer to a new device, for the NAS-Bench-201 space.

The shipped NAS-Bench-201 table holds every cell architecture's measured latency on many devices.
For a new device, ten architectures are measured; a ridge regression in log space maps the
architectures' log latencies on the meta-training devices (HELP's split, :data:`META_TRAIN`) to
the new device's, and then prices all 15,625. The ten are a fixed, diverse design
(:func:`design`): the middle architecture of each of ten equal-count bins of the architectures'
mean standardised log latency over the meta-training devices, so that they span fast to slow.

The meta-training data exists only for NAS-Bench-201 cells: other spaces get no transfer (their
profiles are per-operation lookup tables, nas/costs/profile.py).

Example:
    >>> model = fit_transfer(dict(zip(design(10), measured_ms)))           # doctest: +SKIP
    >>> model.predict(["|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from nas.errors import NasError
from nas.tables import nb201_table_path

#: HELP's meta-training devices (columns ``lat_<device>`` of the NAS-Bench-201 table).
META_TRAIN: tuple[str, ...] = (
    "1080ti_1",
    "1080ti_32",
    "1080ti_256",
    "silver_4114",
    "silver_4210r",
    "samsung_a50",
    "pixel3",
    "essential_ph_1",
    "samsung_s7",
)
#: HELP's meta-test devices, never used to fit anything here.
META_TEST: tuple[str, ...] = ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss")
#: Ridge penalty on the (standardised) weights; the intercept is not penalised.
RIDGE = 1.0


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, ...], dict[str, int], np.ndarray, dict[str, np.ndarray]]:
    import pandas as pd

    frame = pd.read_csv(nb201_table_path())
    arch = tuple(str(a) for a in frame["arch_str"])
    lat = {c[4:]: frame[c].to_numpy(dtype=float) for c in frame.columns if c.startswith("lat_")}
    logs = np.log(np.stack([lat[d] for d in META_TRAIN], axis=1))
    return arch, {a: i for i, a in enumerate(arch)}, logs, lat


def table_archs() -> tuple[str, ...]:
    """Every NAS-Bench-201 arch string, in the table's order."""
    return _table()[0]


def device_latency(device: str) -> np.ndarray:
    """The table's latencies on ``device`` (column ``lat_<device>``), in table order."""
    lat = _table()[3]
    if device not in lat:
        raise NasError(f"the NAS-Bench-201 table has no device {device!r}; it has {', '.join(lat)}")
    return lat[device]


def meta_features(archs: Sequence[str] | None = None) -> np.ndarray:
    """Log latencies on the meta-training devices, one row per arch string (all, in table order,
    when none are given)."""
    _, index, logs, _ = _table()
    if archs is None:
        return logs
    missing = [a for a in archs if a not in index]
    if missing:
        raise NasError(f"{missing[0]!r} is not a NAS-Bench-201 arch string in the shipped table")
    return logs[[index[a] for a in archs]]


def design(k: int) -> list[str]:
    """``k`` arch strings spanning fast to slow: sorted by their mean standardised log latency on
    the meta-training devices, the middle architecture of each of ``k`` equal-count bins (the
    same for every device and run; the extremes, such as all-``none`` cells, are atypical)."""
    if k < 2:
        raise NasError(f"few-shot transfer needs at least 2 measured architectures, got {k}")
    logs = meta_features()
    score = ((logs - logs.mean(0)) / logs.std(0)).mean(1)
    order = np.argsort(score, kind="stable")
    picks = ((np.arange(k) + 0.5) / k * len(order)).astype(int)
    return [table_archs()[i] for i in order[picks]]


@dataclass(frozen=True)
class TransferModel:
    """log(latency) = features @ weights + intercept, features being the architecture's log
    latencies on ``devices`` (plain numbers: it is stored in a profile file)."""

    devices: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float

    def predict(self, archs: Sequence[str] | None = None) -> np.ndarray:
        """Predicted latencies (the measured samples' unit) of arch strings, or of all in table order."""
        if tuple(self.devices) != META_TRAIN:
            raise NasError(
                "this transfer model was fitted on other devices than nas's meta-training set"
            )
        logs = meta_features(archs)
        return np.exp(logs @ np.asarray(self.weights) + self.intercept)

    def to_dict(self) -> dict[str, Any]:
        """The model as plain JSON data."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransferModel:
        """Read :meth:`to_dict`'s output back."""
        return cls(
            tuple(data["devices"]),
            tuple(float(w) for w in data["weights"]),
            float(data["intercept"]),
        )


def fit_log_ridge(
    features: np.ndarray,
    target: np.ndarray,
    ridge: float = RIDGE,
    scale: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, float]:
    """Weights and intercept of a ridge regression of ``target`` on ``features`` (both in log
    space), fitted on columns standardised by ``scale`` (mean, std; default: the features')
    and returned in the original scale."""
    mu, sd = scale if scale is not None else (features.mean(0), features.std(0))
    sd = sd + 1e-12
    m, s = target.mean(), target.std() + 1e-12
    a = np.c_[(features - mu) / sd, np.ones(len(features))]
    penalty = np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    w = np.linalg.solve(a.T @ a + ridge * penalty, a.T @ ((target - m) / s))
    weights = w[:-1] * s / sd
    return weights, float(m + s * w[-1] - weights @ mu)


def fit_transfer(measured: Mapping[str, float], ridge: float = RIDGE) -> TransferModel:
    """Fit the map from meta-training latencies to a device's, from its measured arch strings (ms)."""
    if len(measured) < 2:
        raise NasError(
            f"few-shot transfer needs at least 2 measured architectures, got {len(measured)}"
        )
    values = np.asarray(list(measured.values()), dtype=float)
    if not np.all(values > 0):
        raise NasError("measured latencies must be positive to fit a transfer model")
    everything = meta_features()  # standardised over the whole space, not the few samples
    scale = (everything.mean(0), everything.std(0))
    weights, intercept = fit_log_ridge(meta_features(list(measured)), np.log(values), ridge, scale)
    return TransferModel(META_TRAIN, tuple(float(w) for w in weights), intercept)
