"""``nas scale``: the compound-scaled family of a run's best (or a given) architecture."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import yaml

from nas.arch import Arch, canonical_json
from nas.config import ExperimentConfig, apply_overrides, load_config, resolve_config
from nas.errors import NasError
from nas.scaling import (
    PAPER_COEFFICIENTS,
    Member,
    coefficient_grid,
    compound,
    make_family,
    published,
    search_coefficients,
)
from nas.space import SearchSpace


def _source(source: str, overrides: list[str]) -> tuple[ExperimentConfig, Path | None]:
    """The config (with overrides) and, for a run folder, the folder."""
    from nas.run_folder import RunFolder

    if "=" in source:
        raise NasError("nas scale needs a run folder or a config file first, then KEY=VALUE overrides")
    if Path(source).is_dir():
        run = RunFolder.open(source)
        return resolve_config(apply_overrides(run.load_config().to_yaml_dict(), overrides)), run.path
    return load_config(source, overrides), None


def _best_arch(run_path: Path, space: SearchSpace) -> Arch:
    from nas.results import load_trials

    frame, _ = load_trials(run_path)
    if not frame.empty:
        done = frame[frame["state"] == "complete"]
        if "duplicate_of" in done:
            done = done[done["duplicate_of"].isna()]
        if not done.empty:
            return space.parse(str(done.iloc[0]["arch"]))
    raise NasError(f"run {str(run_path)!r} has no completed trial to scale; pass --arch")


def _shape(args: argparse.Namespace, config: ExperimentConfig) -> tuple[int, tuple[int, int, int]]:
    shape = None
    if args.input_shape:
        parts = args.input_shape.lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise NasError(f"--input-shape {args.input_shape!r} must look like 3x224x224")
        shape = (int(parts[0]), int(parts[1]), int(parts[2]))
    if shape is not None and args.num_classes:
        return args.num_classes, shape
    from nas.registry import DATASETS

    data = DATASETS.get(config.dataset.name)(**config.dataset.options)
    return args.num_classes or data.num_classes, shape or data.input_shape


def _coefficients(text: str | None) -> tuple[float, float, float]:
    if not text:
        return PAPER_COEFFICIENTS
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise NasError(f"--coefficients {text!r} must be three numbers ALPHA,BETA,GAMMA, e.g. 1.2,1.1,1.15")
    return values  # type: ignore[return-value]


def _search(args: argparse.Namespace, config: ExperimentConfig, arch: Arch, num_classes: int,
            shape: tuple[int, int, int], out: Path) -> tuple[float, float, float]:
    from nas.evaluators import EvalContext
    from nas.registry import EVALUATORS
    from nas.training import resolve_device

    context = EvalContext(config.dataset, config.training, config.seed, resolve_device(config.training.device))
    evaluator = EVALUATORS.get(config.evaluator.name)(context, **config.evaluator.options)
    objective, direction = next(iter(config.objectives.items()))
    best, rows = search_coefficients(
        config.space.name, config.space.options, arch, lambda space: evaluator.evaluate(arch, space),
        objective=objective, direction=direction, num_classes=num_classes, input_shape=shape,
        grid=coefficient_grid(args.grid_step, args.tolerance), flops_slack=args.flops_slack,
        progress=print,
    )
    _write_csv(out / "coefficient_search.csv", rows)
    print(f"best coefficients: alpha={best[0]} beta={best[1]} gamma={best[2]}")
    return best


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def _write_family(out: Path, config: ExperimentConfig, space: SearchSpace, arch: Arch,
                  family: list[Member]) -> None:
    rows = []
    for m in family:
        record = {
            "member": m.name, "phi": m.phi,
            "multipliers": {"width": m.multipliers.width, "depth": m.multipliers.depth,
                            "resolution": m.multipliers.resolution},
            "space": {"name": config.space.name, **m.options},
            "arch": space.format(arch), "arch_json": json.loads(canonical_json(arch)),
            "params": m.params, "flops": m.flops,
        }
        (out / f"{m.name}.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        rows.append({"member": m.name, "phi": m.phi, "width_coefficient": m.options["width_coefficient"],
                     "depth_coefficient": m.options["depth_coefficient"],
                     "resolution": m.options["resolution"], "dropout": m.options.get("dropout"),
                     "params": m.params, "flops": m.flops})
    _write_csv(out / "family.csv", rows)


def run_scale(args: argparse.Namespace) -> int:
    """Run ``nas scale`` (see ``nas scale --help``)."""
    from nas.registry import SPACES

    config, run_path = _source(args.source, list(args.overrides))
    space = SPACES.get(config.space.name)(**config.space.options)
    if args.arch:
        arch = space.parse(args.arch)
    elif run_path is not None:
        arch = _best_arch(run_path, space)
    else:
        raise NasError("nas scale with a config file needs --arch (the base architecture to scale)")
    if args.phi < 0 or (args.published and args.phi > 7):
        raise NasError(f"--phi must be 0..7 with --published and >= 0 otherwise, got {args.phi}")
    num_classes, shape = _shape(args, config)
    out = Path(args.output) if args.output else (
        run_path / "scaled" if run_path else Path(config.output) / config.name / "scaled")
    out.mkdir(parents=True, exist_ok=True)
    if args.published:
        members = [(phi, published(phi)) for phi in range(args.phi + 1)]
    else:
        alpha, beta, gamma = (_search(args, config, arch, num_classes, shape, out) if args.search
                              else _coefficients(args.coefficients))
        members = [(phi, compound(phi, alpha, beta, gamma)) for phi in range(args.phi + 1)]
    family = make_family(config.space.name, config.space.options, arch, members,
                         num_classes=num_classes, input_shape=shape)
    _write_family(out, config, space, arch, family)
    print(f"{'member':<7} {'width':>7} {'depth':>7} {'res':>5} {'dropout':>7} {'params':>12} {'FLOPs':>14}")
    for m in family:
        o = m.options
        print(f"{m.name:<7} {o['width_coefficient']:>7.4g} {o['depth_coefficient']:>7.4g} {o['resolution']:>5} "
              f"{o.get('dropout', float('nan')):>7.3g} {m.params:>12,} {m.flops:>14,}")
    print(f"\nwrote {len(family)} member configs and family.csv to {out}")
    return 0
