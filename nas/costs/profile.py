"""A device's latency profile: one portable JSON file, and the latencies it predicts.

``nas profile`` (nas/costs/profiling.py measures) writes it on the target device; any search on
any machine reads it through ``costs: {latency_profile: PATH}`` and gives every candidate
``predicted_latency_ms`` (``predicted_latency_ms_b<N>`` for batch size N > 1) without running it
there. Two methods:

- ``lookup``: a per-operation table (nas/costs/units.py) for any space with latency units.
  A candidate's latency is ``scale * sum(units) + offset``, the overhead fitted (least squares)
  on a few whole networks measured beside the table; the fit absorbs what the units leave out
  (stem, head, fusion, memory effects). Without whole-network samples it is the plain sum.
- ``transfer``: NAS-Bench-201 only, few-shot transfer from the meta-training devices
  (nas/costs/transfer.py).

The file is plain JSON (no pickle) with the device's description, the space it was made for
(name and options), the input shape, and a SHA-256 checksum of its content: an edited or
mismatched profile is refused with one line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from nas.errors import NasError
from nas.io import write_atomic

FORMAT = "nas-latency-profile"
VERSION = 1
Method = Literal["lookup", "transfer"]


def metric_name(batch_size: int) -> str:
    """The metric a prediction for ``batch_size`` is recorded as."""
    return "predicted_latency_ms" if batch_size == 1 else f"predicted_latency_ms_b{batch_size}"


@dataclass
class LatencyProfile:
    """What a profile file holds (all plain data). Per batch size (keys are its decimal string):
    ``units`` maps unit keys to milliseconds, ``overhead`` is (scale, offset), ``transfer`` a
    :class:`nas.costs.transfer.TransferModel` as a dict; ``samples`` are the whole networks
    measured, with the plain unit sum beside each."""

    device: dict[str, Any]
    space: str
    space_repr: str
    input_shape: tuple[int, int, int]
    batch_sizes: list[int]
    method: Method
    units: dict[str, dict[str, float]] = field(default_factory=dict)
    overhead: dict[str, list[float]] = field(default_factory=dict)
    transfer: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def check(self, space: Any, input_shape: Sequence[int] | None = None, where: str = "") -> None:
        """NasError unless this profile was made for ``space`` (name and options) and, when given,
        for inputs of ``input_shape``."""
        name = f"latency profile {where}" if where else "latency profile"
        if self.space != space.name or self.space_repr != repr(space):
            raise NasError(
                f"{name} was made for {self.space_repr}, not {space!r}; "
                "profile the device again with this config (nas profile CONFIG)"
            )
        if input_shape is not None and tuple(input_shape) != tuple(self.input_shape):
            shape = "x".join(str(s) for s in self.input_shape)
            asked = "x".join(str(s) for s in input_shape)
            raise NasError(
                f"{name} was measured on {shape} inputs, this run's are {asked}; "
                f"profile again with nas profile --input-shape {asked}"
            )

    def unit_sum(self, units: Sequence[Any], batch_size: int) -> float:
        """The plain sum of the table's latencies of ``units`` (LatencyUnit), in ms."""
        table = self.units[str(batch_size)]
        total = 0.0
        for unit in units:
            key = unit.key()
            if key not in table:
                raise NasError(
                    f"latency profile has no entry for unit {key}; profile the space again "
                    "(its options or input shape changed)"
                )
            total += table[key]
        return total

    def predict(self, arch: Mapping[str, Any], space: Any) -> dict[str, float]:
        """``predicted_latency_ms`` (per batch size) of ``arch`` in ``space`` (checked by :meth:`check`)."""
        if self.method == "transfer":
            from nas.costs.transfer import TransferModel

            key = space.format(arch)
            return {
                metric_name(b): float(
                    TransferModel.from_dict(self.transfer[str(b)]).predict([key])[0]
                )
                for b in self.batch_sizes
            }
        from nas.costs.units import profilable

        units = profilable(space).latency_units(arch, self.input_shape)
        out = {}
        for b in self.batch_sizes:
            scale, offset = self.overhead.get(str(b), [1.0, 0.0])
            out[metric_name(b)] = scale * self.unit_sum(units, b) + offset
        return out

    def to_json(self) -> str:
        """The file's text: the fields, the format's name and version, and their checksum."""
        body = {"format": FORMAT, "version": VERSION, **asdict(self)}
        body["input_shape"] = list(self.input_shape)
        return json.dumps({**body, "checksum": _checksum(body)}, indent=1, sort_keys=True) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the profile file (atomically)."""
        path = Path(path)
        write_atomic(path, self.to_json())
        return path


def _checksum(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_profile(path: str | Path) -> LatencyProfile:
    """Read and verify a profile file (NasError, one line, if it is not one or was edited)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NasError(
            f"latency profile {str(path)!r} does not exist; write one with nas profile"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NasError(
            f"{str(path)!r} is not a latency profile (not JSON); write one with nas profile"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NasError(f"{str(path)!r} is not a latency profile; write one with nas profile")
    if data.get("version") != VERSION:
        raise NasError(
            f"latency profile {str(path)!r} has format version {data.get('version')!r}, this nas "
            f"reads {VERSION}; profile the device again"
        )
    checksum = data.pop("checksum", None)
    if checksum != _checksum(data):
        raise NasError(
            f"latency profile {str(path)!r} was changed after nas profile wrote it (checksum "
            "mismatch); profile the device again rather than editing the file"
        )
    del data["format"], data["version"]
    try:
        profile = LatencyProfile(**data)
    except TypeError as exc:
        raise NasError(
            f"latency profile {str(path)!r} is malformed ({exc}); profile again"
        ) from None
    profile.input_shape = (
        int(profile.input_shape[0]),
        int(profile.input_shape[1]),
        int(profile.input_shape[2]),
    )
    return profile


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float) -> LatencyProfile:
    return read_profile(path)


def load_profile(path: str | Path) -> LatencyProfile:
    """:func:`read_profile`, read once per file version (searches ask for it per trial)."""
    resolved = Path(path).expanduser().resolve()
    try:
        mtime = resolved.stat().st_mtime
    except FileNotFoundError:
        raise NasError(
            f"latency profile {str(path)!r} does not exist; write one with nas profile"
        ) from None
    return _cached(str(resolved), mtime)


def predicted_latency(
    path: str | None,
    arch: Mapping[str, Any],
    space: Any,
    input_shape: Sequence[int] | None,
) -> dict[str, float]:
    """The predicted latencies of ``arch`` from the profile at ``path`` (none when no path)."""
    if path is None:
        return {}
    profile = load_profile(path)
    profile.check(space, input_shape, repr(str(path)))
    return profile.predict(arch, space)
