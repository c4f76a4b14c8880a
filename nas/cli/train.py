"""``nas train``: train one architecture from scratch with a full recipe, test it, export it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nas.errors import NasError

if TYPE_CHECKING:
    from nas.config import ExperimentConfig

#: Longest architecture file read (an architecture is a few hundred bytes).
MAX_ARCH_BYTES = 1 << 20
#: The argument that collects KEY=VALUE overrides.
OVERRIDES = "overrides"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas train`` to the CLI."""
    train = sub.add_parser(
        "train",
        help="train one architecture from scratch with a full recipe",
        description="Train a run's best (or --trial N) architecture, or an architecture "
        "given in its space's notation or JSON (with --config), from scratch "
        "with a recipe; report test accuracy and export it with its weights.",
    )
    train.add_argument(
        "source", metavar="ARCH_OR_RUN", help="run folder, architecture text, or a file holding one"
    )
    train.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="recipe overrides, e.g. epochs=100 training.lr=0.1 space.channels=36",
    )
    train.add_argument(
        "--recipe", metavar="YAML", help="recipe file (e.g. experiments/recipes/digits.yaml)"
    )
    train.add_argument(
        "--config",
        metavar="YAML",
        help="experiment config giving space and data set "
        "(needed with an architecture; default for a run: its own config)",
    )
    train.add_argument(
        "--trial", type=int, metavar="N", help="train this trial of the run instead of the best"
    )
    train.add_argument(
        "--out", metavar="DIR", help="package folder for the trained module (default: RUN/trained)"
    )
    train.add_argument("--name", help="module name (default: trial_N, or arch_<id>)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def _source(args: argparse.Namespace) -> tuple[ExperimentConfig, str, Path, str, int | None]:
    """(config, architecture text, default output folder, default module name, trial number)."""
    from nas.config import load_config
    from nas.deploy.export_run import choose_trials
    from nas.results.reading import load_trials, run_objectives
    from nas.results.run_folder import RunFolder

    source = Path(args.source)
    if source.is_dir():
        run = RunFolder.open(source)
        config = load_config(args.config) if args.config else run.load_config()
        frame, _ = load_trials(run.path)
        trials = [args.trial] if args.trial is not None else ()
        chosen = choose_trials(
            frame, run_objectives(run.path), best=args.trial is None, trials=trials
        )[0]
        return config, chosen.arch_text, run.path / "trained", f"trial_{chosen.trial}", chosen.trial
    if args.trial is not None:
        raise NasError("--trial picks a trial of a run folder; the source is not one")
    if not args.config:
        raise NasError(
            "an architecture needs --config EXPERIMENT.yaml to say its space and data set "
            "(or pass a run folder)"
        )
    config = load_config(args.config)
    if source.is_file():
        if source.stat().st_size > MAX_ARCH_BYTES:
            raise NasError(f"architecture file {str(source)!r} is too large to be an architecture")
        try:
            text = source.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise NasError(
                f"architecture file {str(source)!r} is not UTF-8 text; pass the file holding "
                "the architecture in its space's notation or JSON"
            ) from None
    else:
        text = args.source
    return config, text, Path(config.output) / config.name / "trained", "", None


def run(args: argparse.Namespace) -> int:
    """Run ``nas train``."""
    from nas.arch import arch_id
    from nas.cli.export import usage_hint
    from nas.deploy.export import check_export_targets, check_module_name
    from nas.deploy.final_training import export_trained, load_recipe, resolve, train_final

    config, text, default_out, default_name, trial = _source(args)
    recipe = load_recipe(args.recipe, args.overrides)
    setup = resolve(config, recipe, text)
    arch = setup.arch
    name = check_module_name(args.name or default_name or f"arch_{arch_id(arch)}")
    out = check_export_targets(
        Path(args.out) if args.out else default_out, [name]
    )  # before training
    print(
        f"training {setup.space.format(arch)} for {recipe.epochs} epochs on {recipe.train_on} "
        f"of {setup.data.name}"
    )
    started = time.perf_counter()
    report = (
        None
        if args.quiet
        else (
            lambda e, acc: print(
                f"epoch {e:>3}/{recipe.epochs}  val_accuracy {100.0 * acc:6.2f}", flush=True
            )
        )
    )
    trained = train_final(
        setup, arch, epochs=recipe.epochs, train_on=recipe.train_on, report=report
    )
    module = export_trained(
        setup,
        recipe,
        trained,
        out,
        name,
        space_name=config.space.name,
        trial=trial,
        wall_seconds=time.perf_counter() - started,
    )
    print(
        f"\ntest accuracy {trained.test_accuracy:.2f}% (validation {trained.val_accuracy:.2f}%), "
        f"{trained.params:,} params, {trained.seconds:.1f} s of training"
    )
    print(
        f"wrote {module} + {module.with_suffix('.pt').name} (summary: {module.with_suffix('.json').name})"
    )
    print(usage_hint(module))
    return 0
