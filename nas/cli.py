"""The ``nas`` command line: search, show, plot, export, train, list, scale."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nas.errors import NasError

RESUME_OVERRIDABLE = {"trials", "max_consecutive_failures", "trial_time_limit", "executor"}  # and executor.*
#: Commands taking KEY=VALUE overrides, and the argument that collects them.
OVERRIDE_FIELDS = {"search": "items", "train": "overrides", "scale": "overrides"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas", description="Neural architecture search: search spaces, strategies, evaluators.",
        epilog="Run 'nas COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"nas {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    search = sub.add_parser(
        "search", help="run a search from an experiment YAML file",
        description="Run a search from an experiment config; any config key can be overridden "
                    "as key.subkey=value (e.g. strategy.population_size=20 seed=3).",
    )
    search.add_argument("items", nargs="*", metavar="CONFIG [KEY=VALUE ...]",
                        help="experiment YAML file, then config overrides")
    search.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN "
                        "(no CONFIG; only trials=, max_consecutive_failures= and executor.* may be overridden)")
    search.add_argument("--output", metavar="DIR", help="parent folder for runs (default: the config's output, 'results')")
    search.add_argument("--quiet", action="store_true", help="no progress bar")
    search.add_argument("--top", type=int, default=10, metavar="N", help="rows of the final table (default 10)")

    _show_parser(sub)
    _plot_parser(sub)
    _export_parser(sub)
    _train_parser(sub)
    _scale_parser(sub)

    lst = sub.add_parser("list", help="list registered spaces, strategies, evaluators, data sets or pruners",
                         description="List what is registered, one line each.")
    lst.add_argument("kind", nargs="?", choices=["spaces", "strategies", "evaluators", "datasets", "pruners"],
                     help="what to list (default: everything)")
    return parser


def _show_parser(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser("show", help="print the trial table of one or more runs, best first",
                          description="Print the trials of finished or running searches, best first by the "
                                      "first objective; several runs are merged with a 'run' column.")
    show.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s), results/<experiment>/<run-id>")
    show.add_argument("--limit", type=int, metavar="N",
                      help="rows to print (0 for all; default 20 for table/markdown, all for csv/json)")
    show.add_argument("--pareto", action="store_true",
                      help="only the Pareto front of the objectives (feasible, non-dominated trials)")
    show.add_argument("--sort", metavar="COLUMN[:asc|:desc]",
                      help="sort by a column (objectives best first, other columns ascending by default)")
    show.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table",
                      help="output format (csv and json print every column)")
    show.add_argument("--all-columns", action="store_true", help="print every metric column")


def _plot_parser(sub: argparse._SubParsersAction) -> None:
    plot = sub.add_parser("plot", help="write interactive HTML plots of one or more runs",
                          description="Write self-contained plotly HTML pages (they open offline): "
                                      "pareto.html (every trial, each run's Pareto front highlighted) and "
                                      "progress.html (best so far against trials and time).")
    plot.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) to plot together")
    plot.add_argument("--x", action="append", metavar="METRIC",
                      help="x axis of a Pareto plot, repeatable (default: the other objectives, else "
                           "params, flops, latency_ms where measured)")
    plot.add_argument("--y", metavar="METRIC", help="y axis (default: the first objective)")
    plot.add_argument("--color", choices=["run", "strategy"],
                      help="colour points by run or by strategy (default: run when several)")
    plot.add_argument("--kind", action="append", choices=["pareto", "progress", "alphas"],
                      help="which page to write, repeatable (default: all)")
    plot.add_argument("--out", metavar="DIR", help="folder for the pages (default: RUN/plots of the first run)")
    plot.add_argument("--no-static", action="store_true",
                      help="skip the PNG copies (written only where kaleido is installed)")


def _export_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="write trials as importable modules (network code + weights)",
                            description="Write each chosen architecture as a Python module that needs only "
                                        "torch (network code, build_model(), the architecture), with the "
                                        "trained weights beside it when the search kept them "
                                        "(evaluator.save_weights=true).")
    export.add_argument("run", metavar="RUN", help="run folder")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--best", action="store_true", help="the best trial (module 'best')")
    which.add_argument("--trial", type=int, nargs="+", metavar="N", help="these trials (modules 'trial_N')")
    which.add_argument("--pareto", action="store_true", help="every trial on the Pareto front of the objectives")
    export.add_argument("--out", metavar="DIR", help="package folder to write into (default: RUN/exported)")
    export.add_argument("--name", help="module name (one trial only)")
    export.add_argument("--num-classes", type=int, metavar="N", help="classes, when no weights say (default: the data set's)")
    export.add_argument("--input-shape", metavar="CxHxW", help="input shape, when no weights say (default: the data set's)")
    export.add_argument("--onnx", action="store_true", help="also write NAME.onnx (needs the onnx package)")
    export.add_argument("--int8", action="store_true", help="also write NAME_int8.py: the network quantized to "
                        "int8 for CPUs, calibrated on the run's training data (needs trained weights)")


def _train_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train one architecture from scratch with a full recipe",
                           description="Train a run's best (or --trial N) architecture, or an architecture "
                                       "given in its space's notation or JSON (with --config), from scratch "
                                       "with a recipe; report test accuracy and export it with its weights.")
    train.add_argument("source", metavar="ARCH_OR_RUN", help="run folder, architecture text, or a file holding one")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="recipe overrides, e.g. epochs=100 training.lr=0.1 space.channels=36")
    train.add_argument("--recipe", metavar="YAML", help="recipe file (e.g. experiments/recipes/digits.yaml)")
    train.add_argument("--config", metavar="YAML", help="experiment config giving space and data set "
                       "(needed with an architecture; default for a run: its own config)")
    train.add_argument("--trial", type=int, metavar="N", help="train this trial of the run instead of the best")
    train.add_argument("--out", metavar="DIR", help="package folder for the trained module (default: RUN/trained)")
    train.add_argument("--name", help="module name (default: trial_N, or arch_<id>)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def _scale_parser(sub: argparse._SubParsersAction) -> None:
    scale = sub.add_parser(
        "scale", help="compound-scale a base architecture into a B1..B7-like family",
        description="Scale a base architecture's width, depth and resolution (EfficientNet compound "
                    "scaling) and write one space config per member, with its params and FLOPs.",
    )
    scale.add_argument("source", metavar="SOURCE",
                       help="a run folder (scales its best architecture) or an experiment YAML")
    scale.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    scale.add_argument("--arch", help="base architecture in the space's notation or JSON "
                       "(default: the run's best; required with a YAML)")
    mode = scale.add_mutually_exclusive_group()
    mode.add_argument("--coefficients", metavar="A,B,G",
                      help="alpha,beta,gamma for depth, width, resolution (default: the paper's 1.2,1.1,1.15)")
    mode.add_argument("--published", action="store_true",
                      help="use EfficientNet's published B1..B7 multipliers instead of the formula")
    mode.add_argument("--search", action="store_true",
                      help="first grid-search alpha,beta,gamma at phi=1 (alpha*beta^2*gamma^2 ~ 2, FLOPs "
                           "at most doubled), training each candidate with the config's evaluator")
    scale.add_argument("--phi", type=int, default=7, metavar="N", help="largest member (default 7: b0..b7)")
    scale.add_argument("--grid-step", type=float, default=0.1, help="grid step for --search (default 0.1)")
    scale.add_argument("--tolerance", type=float, default=0.1,
                       help="allowed |alpha*beta^2*gamma^2 - 2| for --search (default 0.1)")
    scale.add_argument("--flops-slack", type=float, default=0.1,
                       help="allowed excess over twice the base FLOPs for --search (default 0.1)")
    scale.add_argument("--input-shape", metavar="CxHxW",
                       help="input shape to scale for (e.g. 3x224x224) instead of the data set's")
    scale.add_argument("--num-classes", type=int, metavar="N", help="classes instead of the data set's")
    scale.add_argument("--output", metavar="DIR",
                       help="folder for the family (default: RUN/scaled, or OUTPUT/NAME/scaled for a YAML)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nas")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may also follow the options (nas train RUN --recipe r.yaml epochs=5)
    field = OVERRIDE_FIELDS.get(args.command)
    if extra and field and all("=" in e and not e.startswith("-") for e in extra):
        setattr(args, field, [*getattr(args, field), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        commands = {"search": _cmd_search, "show": _cmd_show, "plot": _cmd_plot, "export": _cmd_export,
                    "train": _cmd_train, "list": _cmd_list, "scale": _cmd_scale}
        return commands[args.command](args)
    except NasError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _cmd_search(args: argparse.Namespace) -> int:
    from nas.config import apply_overrides, load_config, parse_override, resolve_config
    from nas.run_folder import RunFolder
    from nas.runner import run_search

    items = list(args.items)
    run = None
    if args.resume:
        run = RunFolder.open(args.resume)
        for item in items:
            key = ".".join(parse_override(item)[0])
            if key not in RESUME_OVERRIDABLE and not key.startswith("executor."):
                raise NasError(f"cannot change {key!r} of an existing run (only {', '.join(sorted(RESUME_OVERRIDABLE))}); "
                               "start a new search instead")
        config = resolve_config(apply_overrides(run.load_config().to_yaml_dict(), items))
    else:
        if not items or "=" in items[0]:
            raise NasError("nas search needs a config file first, e.g. nas search experiments/quickstart.yaml")
        config = load_config(items[0], items[1:])
        if args.output:
            config = config.model_copy(update={"output": args.output})

    started: list[RunFolder] = []
    try:
        result = run_search(config, resume=run, progress=not args.quiet, on_run=started.append)
    except KeyboardInterrupt:
        if started:
            print(f"interrupted; resume with: nas search --resume {started[0].path}", file=sys.stderr)
        raise
    from nas.show_command import table_columns
    from nas.trials import format_table

    objectives = list(config.objectives)
    print(f"\nBest architectures of {config.name} ({result.evaluated} evaluated, "
          f"{result.wall_seconds:.1f} s):")
    frame = result.frame
    if "duplicate_of" in frame:  # each architecture once: its first evaluation
        frame = frame[frame["duplicate_of"].isna()]
    print(format_table(frame, args.top, table_columns(objectives, frame.columns)))
    if result.stopped_early:
        print(f"note: stopped at {result.evaluated} trials: {result.stopped_early}")
    for plot in sorted(result.run.path.glob("oneshot/*/alphas.html")):
        print(f"alpha history: {plot}")
    print(f"\nrun folder: {result.run.path}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from nas.show_command import run_show

    return run_show(args)


def _cmd_plot(args: argparse.Namespace) -> int:
    from nas.plots import PLOTS, PlotOptions, load_run, write_plots

    runs = [load_run(path) for path in args.runs]
    color = args.color or ("run" if len(runs) > 1 else "strategy")
    out = Path(args.out) if args.out else runs[0].path / "plots"
    written = write_plots(runs, out, kinds=args.kind or list(PLOTS), static=not args.no_static,
                          options=PlotOptions(x=args.x or [], y=args.y, color=color))
    for path in written:
        print(f"wrote {path}")
    print(f"open in a browser: {written[0].resolve().as_uri()}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from nas.export_command import run_export

    return run_export(args)


def _cmd_train(args: argparse.Namespace) -> int:
    from nas.train_command import run_train

    return run_train(args)


def _cmd_list(args: argparse.Namespace) -> int:
    from nas.registry import REGISTRIES

    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        registry = REGISTRIES[kind]
        if len(kinds) > 1:
            print(f"{kind}:")
        names = registry.names()
        width = max(len(n) for n in names) if names else 0
        for name in names:
            try:
                summary = registry.summary(name)
            except NasError as exc:
                summary = f"(cannot load: {exc})"
            print(f"{'  ' if len(kinds) > 1 else ''}{name:<{width}}  {summary}")
    return 0


def _cmd_scale(args: argparse.Namespace) -> int:
    from nas.scale_command import run_scale

    return run_scale(args)
