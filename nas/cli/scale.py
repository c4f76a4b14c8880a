"""``nas scale``: the compound-scaled family of a run's best (or a given) architecture."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from nas.errors import NasError

if TYPE_CHECKING:
    from nas.arch import Arch
    from nas.config import ExperimentConfig

#: The argument that collects KEY=VALUE overrides.
OVERRIDES = "overrides"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas scale`` to the CLI."""
    scale = sub.add_parser(
        "scale",
        help="compound-scale a base architecture into a B1..B7-like family",
        description="Scale a base architecture's width, depth and resolution (EfficientNet compound "
        "scaling) and write one space config per member, with its params and FLOPs.",
    )
    scale.add_argument(
        "source",
        metavar="SOURCE",
        help="a run folder (scales its best architecture) or an experiment YAML",
    )
    scale.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    scale.add_argument(
        "--arch",
        help="base architecture in the space's notation or JSON "
        "(default: the run's best; required with a YAML)",
    )
    mode = scale.add_mutually_exclusive_group()
    mode.add_argument(
        "--coefficients",
        metavar="A,B,G",
        help="alpha,beta,gamma for depth, width, resolution (default: the paper's 1.2,1.1,1.15)",
    )
    mode.add_argument(
        "--published",
        action="store_true",
        help="use EfficientNet's published B1..B7 multipliers instead of the formula",
    )
    mode.add_argument(
        "--search",
        action="store_true",
        help="first grid-search alpha,beta,gamma at phi=1 (alpha*beta^2*gamma^2 ~ 2, FLOPs "
        "at most doubled), training each candidate with the config's evaluator",
    )
    scale.add_argument(
        "--phi", type=int, default=7, metavar="N", help="largest member (default 7: b0..b7)"
    )
    scale.add_argument(
        "--grid-step", type=float, default=0.1, help="grid step for --search (default 0.1)"
    )
    scale.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        help="allowed |alpha*beta^2*gamma^2 - 2| for --search (default 0.1)",
    )
    scale.add_argument(
        "--flops-slack",
        type=float,
        default=0.1,
        help="allowed excess over twice the base FLOPs for --search (default 0.1)",
    )
    scale.add_argument(
        "--input-shape",
        metavar="CxHxW",
        help="input shape to scale for (e.g. 3x224x224) instead of the data set's",
    )
    scale.add_argument(
        "--num-classes", type=int, metavar="N", help="classes instead of the data set's"
    )
    scale.add_argument(
        "--output",
        metavar="DIR",
        help="folder for the family (default: RUN/scaled, or OUTPUT/NAME/scaled for a YAML)",
    )


def _source(source: str, overrides: list[str]) -> tuple[ExperimentConfig, Path | None]:
    """The config (with overrides) and, for a run folder, the folder."""
    from nas.config import apply_overrides, load_config, resolve_config
    from nas.results.run_folder import RunFolder

    if "=" in source:
        raise NasError(
            "nas scale needs a run folder or a config file first, then KEY=VALUE overrides"
        )
    if Path(source).is_dir():
        run = RunFolder.open(source)
        return resolve_config(
            apply_overrides(run.load_config().to_yaml_dict(), overrides)
        ), run.path
    return load_config(source, overrides), None


def _shape(args: argparse.Namespace, config: ExperimentConfig) -> tuple[int, tuple[int, int, int]]:
    from nas.deploy.export_run import parse_input_shape
    from nas.registry import DATASETS

    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    if shape is not None and args.num_classes:
        return args.num_classes, shape
    if config.dataset is None:
        raise NasError("the config has no data set; pass --num-classes and --input-shape")
    data = DATASETS.get(config.dataset.name)(**config.dataset.options)
    return args.num_classes or data.num_classes, shape or data.input_shape


def _coefficients(text: str | None) -> tuple[float, float, float]:
    from nas.deploy.scaling import PAPER_COEFFICIENTS

    if not text:
        return PAPER_COEFFICIENTS
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise NasError(
            f"--coefficients {text!r} must be three numbers ALPHA,BETA,GAMMA, e.g. 1.2,1.1,1.15"
        )
    return values[0], values[1], values[2]


def _search(
    args: argparse.Namespace,
    config: ExperimentConfig,
    arch: Arch,
    num_classes: int,
    shape: tuple[int, int, int],
    out: Path,
) -> tuple[float, float, float]:
    from nas.deploy.scaling import coefficient_grid, search_coefficients, write_rows_csv
    from nas.evaluators import EvalContext
    from nas.registry import EVALUATORS
    from nas.training.loop import resolve_device

    context = EvalContext(
        config.dataset, config.training, config.seed, resolve_device(config.training.device)
    )
    evaluator = EVALUATORS.get(config.evaluator.name)(context, **config.evaluator.options)
    objective, direction = next(iter(config.objectives.items()))
    best, rows = search_coefficients(
        config.space.name,
        config.space.options,
        arch,
        lambda space: evaluator.evaluate(arch, space),
        objective=objective,
        direction=direction,
        num_classes=num_classes,
        input_shape=shape,
        grid=coefficient_grid(args.grid_step, args.tolerance),
        flops_slack=args.flops_slack,
        progress=print,
    )
    write_rows_csv(out / "coefficient_search.csv", rows)
    print(f"best coefficients: alpha={best[0]} beta={best[1]} gamma={best[2]}")
    return best


def run(args: argparse.Namespace) -> int:
    """Run ``nas scale``."""
    from nas.deploy.scaling import compound, make_family, published, write_family
    from nas.registry import SPACES
    from nas.results.reading import best_arch_text

    config, run_path = _source(args.source, list(args.overrides))
    space = SPACES.get(config.space.name)(**config.space.options)
    if args.arch:
        arch = space.parse(args.arch)
    elif run_path is not None:
        text = best_arch_text(run_path)
        if text is None:
            raise NasError(f"run {str(run_path)!r} has no completed trial to scale; pass --arch")
        arch = space.parse(text)
    else:
        raise NasError("nas scale with a config file needs --arch (the base architecture to scale)")
    if args.phi < 0 or (args.published and args.phi > 7):
        raise NasError(f"--phi must be 0..7 with --published and >= 0 otherwise, got {args.phi}")
    num_classes, shape = _shape(args, config)
    out = (
        Path(args.output)
        if args.output
        else (run_path / "scaled" if run_path else Path(config.output) / config.name / "scaled")
    )
    out.mkdir(parents=True, exist_ok=True)
    if args.published:
        members = [(phi, published(phi)) for phi in range(args.phi + 1)]
    else:
        alpha, beta, gamma = (
            _search(args, config, arch, num_classes, shape, out)
            if args.search
            else _coefficients(args.coefficients)
        )
        members = [(phi, compound(phi, alpha, beta, gamma)) for phi in range(args.phi + 1)]
    family = make_family(
        config.space.name,
        config.space.options,
        arch,
        members,
        num_classes=num_classes,
        input_shape=shape,
    )
    write_family(out, config, space, arch, family)
    print(
        f"{'member':<7} {'width':>7} {'depth':>7} {'res':>5} {'dropout':>7} {'params':>12} {'FLOPs':>14}"
    )
    for m in family:
        o = m.options
        print(
            f"{m.name:<7} {o['width_coefficient']:>7.4g} {o['depth_coefficient']:>7.4g} {o['resolution']:>5} "
            f"{o.get('dropout', float('nan')):>7.3g} {m.params:>12,} {m.flops:>14,}"
        )
    print(f"\nwrote {len(family)} member configs and family.csv to {out}")
    return 0
