"""``nas export``: write trials of a run as importable modules (network code + weights)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas export`` to the CLI."""
    export = sub.add_parser(
        "export",
        help="write trials as importable modules (network code + weights)",
        description="Write each chosen architecture as a Python module that needs only "
        "torch (network code, build_model(), the architecture), with the "
        "trained weights beside it when the search kept them "
        "(evaluator.save_weights=true).",
    )
    export.add_argument("run", metavar="RUN", help="run folder")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--best", action="store_true", help="the best trial (module 'best')")
    which.add_argument(
        "--trial", type=int, nargs="+", metavar="N", help="these trials (modules 'trial_N')"
    )
    which.add_argument(
        "--pareto", action="store_true", help="every trial on the Pareto front of the objectives"
    )
    export.add_argument(
        "--out", metavar="DIR", help="package folder to write into (default: RUN/exported)"
    )
    export.add_argument("--name", help="module name (one trial only)")
    export.add_argument(
        "--num-classes",
        type=int,
        metavar="N",
        help="classes, when no weights say (default: the data set's)",
    )
    export.add_argument(
        "--input-shape",
        metavar="CxHxW",
        help="input shape, when no weights say (default: the data set's)",
    )
    export.add_argument(
        "--onnx", action="store_true", help="also write NAME.onnx (needs the onnx package)"
    )
    export.add_argument(
        "--int8",
        action="store_true",
        help="also write NAME_int8.py: the network quantized to "
        "int8 for CPUs, calibrated on the run's training data (needs trained weights)",
    )


def usage_hint(module: Path) -> str:
    """Two lines telling how to import an exported module."""
    above = module.resolve().parent.parent
    cd = "" if above == Path.cwd().resolve() else f"cd {above} && "
    return (
        f'use it:  {cd}python -c "import {module.parent.name}.{module.stem} as net; '
        f'model = net.build_model()"\nor from Python:  nas.load_model({str(module)!r})'
    )


def run(args: argparse.Namespace) -> int:
    """Run ``nas export``."""
    from nas.deploy.export_run import export_int8_modules, export_run, parse_input_shape

    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    written = export_run(
        args.run,
        args.out,
        best=args.best,
        trials=args.trial or (),
        pareto=args.pareto,
        name=args.name,
        num_classes=args.num_classes,
        input_shape=shape,
        onnx=args.onnx,
    )
    for path, has_weights in written:
        weights = (
            f" + {path.with_suffix('.pt').name}"
            if has_weights
            else " (no weights: the trial kept none)"
        )
        print(f"wrote {path}{weights}")
        if args.onnx:
            print(f"wrote {path.with_suffix('.onnx')}")
    if args.int8:
        for path, m in export_int8_modules(args.run, [path for path, _ in written]):
            print(
                f"wrote {path} + {path.with_suffix('.pt').name}: val accuracy {m['int8_val_accuracy']:.2f}% "
                f"(float {m['val_accuracy']:.2f}%), {m['int8_size_bytes']} bytes (float {m['size_bytes']})"
            )
    print("\n" + usage_hint(written[0][0]))
    if not any(w for _, w in written):
        print(
            "to export trained weights, search with evaluator.save_weights=true, or train the architecture "
            "with nas train"
        )
    return 0
