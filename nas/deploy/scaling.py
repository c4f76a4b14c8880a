"""Compound scaling (Tan & Le, EfficientNet): grow one base architecture into a B1..B7-like family.

A space can be scaled when its factory takes the options ``width_coefficient``,
``depth_coefficient`` and ``resolution`` (and optionally ``dropout``): member ``phi`` multiplies
depth by alpha**phi, width by beta**phi and resolution by gamma**phi, with
alpha * beta**2 * gamma**2 ~ 2 so that each step roughly doubles the FLOPs. The coefficients
can be the paper's, found by ``search_coefficients`` (a grid at phi=1 under the FLOPs
constraint, each candidate scored by an evaluator), or replaced by the published B1..B7 table.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from nas.arch import Arch, Choice, canonical_json
from nas.config import ExperimentConfig
from nas.config.options import option_parameters, validate_options
from nas.costs.measure import count_flops, count_params
from nas.errors import NasError
from nas.registry import SPACES
from nas.space import SearchSpace

#: EfficientNet-B0..B7 as published: (width, depth, resolution, dropout).
PUBLISHED: dict[int, tuple[float, float, int, float]] = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 300, 0.3),
    4: (1.4, 1.8, 380, 0.4),
    5: (1.6, 2.2, 456, 0.4),
    6: (1.8, 2.6, 528, 0.5),
    7: (2.0, 3.1, 600, 0.5),
}
#: The paper's grid-search result for B0: (alpha, beta, gamma) for depth, width, resolution.
PAPER_COEFFICIENTS: tuple[float, float, float] = (1.2, 1.1, 1.15)
SCALING_OPTIONS: tuple[str, ...] = ("width_coefficient", "depth_coefficient", "resolution")


@dataclass(frozen=True)
class Multipliers:
    """How much one family member scales the base: width, depth, resolution factors, dropout."""

    width: float
    depth: float
    resolution: float
    dropout: float


def compound(phi: int, alpha: float, beta: float, gamma: float) -> Multipliers:
    """Member ``phi`` of the compound-scaling rule (dropout as the published member of that size)."""
    if min(alpha, beta, gamma) < 1:
        raise NasError(
            f"compound scaling needs alpha, beta, gamma >= 1, got {alpha}, {beta}, {gamma}"
        )
    dropout = PUBLISHED[min(max(phi, 0), 7)][3]
    return Multipliers(beta**phi, alpha**phi, gamma**phi, dropout)


def published(phi: int) -> Multipliers:
    """The published EfficientNet-B{phi} multipliers relative to B0 (phi in 0..7)."""
    if phi not in PUBLISHED:
        raise NasError(
            f"the published EfficientNet family has B0..B7; phi={phi} is not one of them"
        )
    width, depth, resolution, dropout = PUBLISHED[phi]
    return Multipliers(width, depth, resolution / PUBLISHED[0][2], dropout)


def coefficient_grid(
    step: float = 0.1,
    tolerance: float = 0.1,
    target: float = 2.0,
) -> list[tuple[float, float, float]]:
    """Every (alpha, beta, gamma) >= 1 on a grid of ``step`` with |alpha*beta^2*gamma^2 - target| <= tolerance."""
    if not 0 < step <= 1 or tolerance < 0 or target < 1:
        raise NasError(
            f"coefficient grid needs 0 < step <= 1, tolerance >= 0 and target >= 1, "
            f"got step={step}, tolerance={tolerance}, target={target}"
        )
    values = [round(1 + i * step, 6) for i in range(round((target - 1) / step) + 1)]
    grid = [
        (a, b, g)
        for a, b, g in itertools.product(values, repeat=3)
        if abs(a * b * b * g * g - target) <= tolerance + 1e-9
    ]
    if not grid:
        raise NasError(
            f"no (alpha, beta, gamma) on a grid of step {step} is within {tolerance} of "
            f"alpha*beta^2*gamma^2 = {target}; use a finer --grid-step or a larger --tolerance"
        )
    return grid


def check_scalable(space_name: str) -> Callable[..., Any]:
    """The space's factory, or a NasError if it has no compound-scaling options."""
    factory = SPACES.get(space_name)
    missing = [o for o in SCALING_OPTIONS if o not in option_parameters(factory)]
    if missing:
        raise NasError(
            f"space {space_name!r} cannot be compound-scaled: its factory has no "
            f"{', '.join(missing)} option(s); see docs/plugins.md"
        )
    return factory


@dataclass
class Member:
    """One scaled network: its space options, size and cost."""

    name: str
    phi: int
    multipliers: Multipliers
    options: dict[str, Any]
    params: int = 0
    flops: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def scaled_options(
    options: Mapping[str, Any], factory: Callable[..., Any], m: Multipliers, base_resolution: int
) -> dict[str, Any]:
    """The base space options scaled by ``m`` (validated against the factory)."""
    out = dict(options)
    out["width_coefficient"] = round(options.get("width_coefficient", 1.0) * m.width, 6)
    out["depth_coefficient"] = round(options.get("depth_coefficient", 1.0) * m.depth, 6)
    out["resolution"] = max(1, round(base_resolution * m.resolution))
    if "dropout" in option_parameters(factory):
        base = options.get("dropout")
        base = PUBLISHED[0][3] if base is None else base
        out["dropout"] = round(min(0.9, base + m.dropout - PUBLISHED[0][3]), 6)
    return validate_options(factory, out, "space")


def base_resolution(options: Mapping[str, Any], input_shape: tuple[int, int, int]) -> int:
    """The resolution the base network runs at: its ``resolution`` option, else the input's shorter side."""
    return int(options.get("resolution") or min(input_shape[1:]))


def measure(
    space: SearchSpace,
    arch: Mapping[str, Choice],
    num_classes: int,
    input_shape: tuple[int, int, int],
) -> tuple[int, int]:
    """(parameters, FLOPs) of ``arch``, built on the meta device (no memory, no arithmetic)."""
    with torch.device("meta"):
        model = space.build(arch, num_classes=num_classes, input_shape=input_shape)
    return count_params(model), count_flops(model, input_shape)


def make_family(
    space_name: str,
    options: Mapping[str, Any],
    arch: Mapping[str, Choice],
    members: Sequence[tuple[int, Multipliers]],
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
) -> list[Member]:
    """Build and measure each member ``(phi, multipliers)`` of the family of ``arch``."""
    factory = check_scalable(space_name)
    base = base_resolution(options, input_shape)
    family = []
    for phi, m in members:
        opts = scaled_options(options, factory, m, base)
        params, flops = measure(factory(**opts), arch, num_classes, input_shape)
        family.append(Member(f"b{phi}", phi, m, opts, params, flops))
    return family


def search_coefficients(
    space_name: str,
    options: Mapping[str, Any],
    arch: Mapping[str, Choice],
    evaluate: Callable[[SearchSpace], Mapping[str, Any]],
    *,
    objective: str,
    direction: str,
    num_classes: int,
    input_shape: tuple[int, int, int],
    grid: Sequence[tuple[float, float, float]],
    flops_slack: float = 0.1,
    progress: Callable[[str], None] | None = None,
) -> tuple[tuple[float, float, float], list[dict[str, Any]]]:
    """Grid search at phi=1: keep candidates whose measured FLOPs are at most twice the base's
    (times 1 + ``flops_slack``, for channel rounding), score each with ``evaluate`` and return
    the best (alpha, beta, gamma) and one row per candidate."""
    factory = check_scalable(space_name)
    base_opts = validate_options(factory, dict(options), "space")
    _, base_flops = measure(factory(**base_opts), arch, num_classes, input_shape)
    budget = 2 * base_flops * (1 + flops_slack)
    base = base_resolution(options, input_shape)
    rows: list[dict[str, Any]] = []
    for alpha, beta, gamma in grid:
        opts = scaled_options(options, factory, compound(1, alpha, beta, gamma), base)
        space = factory(**opts)
        params, flops = measure(space, arch, num_classes, input_shape)
        row: dict[str, Any] = {
            "alpha": alpha,
            "beta": beta,
            "gamma": gamma,
            "product": round(alpha * beta**2 * gamma**2, 6),
            **{k: opts[k] for k in SCALING_OPTIONS},
            "params": params,
            "flops": flops,
            "flops_ratio": round(flops / max(1, base_flops), 4),
        }
        if flops > budget:
            row["status"] = "over FLOPs budget"
        else:
            metrics = evaluate(space)
            if objective not in metrics:
                raise NasError(
                    f"objective {objective!r} is not a metric of the evaluator "
                    f"(it returns: {', '.join(metrics)})"
                )
            row[objective] = float(metrics[objective])
            row["status"] = "evaluated"
        if progress is not None:
            progress(
                f"alpha={alpha} beta={beta} gamma={gamma}: {row['status']}"
                + (f", {objective}={row[objective]:.4g}" if objective in row else "")
            )
        rows.append(row)
    scored = [r for r in rows if r["status"] == "evaluated"]
    if not scored:
        raise NasError(
            "every candidate exceeds the FLOPs budget; raise --flops-slack or --tolerance"
        )
    sign = 1.0 if direction == "maximize" else -1.0
    best = max(scored, key=lambda r: sign * r[objective])
    return (best["alpha"], best["beta"], best["gamma"]), rows


def write_rows_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write dict rows as CSV (columns in order of first appearance)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def write_family(
    out: Path, config: ExperimentConfig, space: SearchSpace, arch: Arch, family: list[Member]
) -> None:
    """One YAML config per member (space options, architecture, params, FLOPs) and ``family.csv``."""
    rows = []
    for m in family:
        record = {
            "member": m.name,
            "phi": m.phi,
            "multipliers": {
                "width": m.multipliers.width,
                "depth": m.multipliers.depth,
                "resolution": m.multipliers.resolution,
            },
            "space": {"name": config.space.name, **m.options},
            "arch": space.format(arch),
            "arch_json": json.loads(canonical_json(arch)),
            "params": m.params,
            "flops": m.flops,
        }
        (out / f"{m.name}.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        rows.append(
            {
                "member": m.name,
                "phi": m.phi,
                "width_coefficient": m.options["width_coefficient"],
                "depth_coefficient": m.options["depth_coefficient"],
                "resolution": m.options["resolution"],
                "dropout": m.options.get("dropout"),
                "params": m.params,
                "flops": m.flops,
            }
        )
    write_rows_csv(out / "family.csv", rows)
