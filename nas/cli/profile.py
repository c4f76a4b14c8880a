"""``nas profile``: measure this machine once and write a portable latency profile."""

from __future__ import annotations

import argparse
import time

#: The argument that collects KEY=VALUE overrides.
OVERRIDES = "overrides"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas profile`` to the CLI."""
    prof = sub.add_parser(
        "profile",
        help="measure this device once; write a latency profile searches can use anywhere",
        description="Measure a space's operations (and a few whole candidates) on this machine "
        "and write one JSON profile; a search on any machine then predicts every candidate's "
        "latency here with 'costs: {latency_profile: FILE}' (predicted_latency_ms).",
    )
    prof.add_argument(
        "config",
        metavar="SPACE_CONFIG",
        help="an experiment YAML (its space section) or a space YAML",
    )
    prof.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    prof.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    prof.add_argument(
        "--backend",
        choices=("torch", "onnxruntime"),
        default="torch",
        help="time PyTorch modules, or their ONNX export in ONNX Runtime",
    )
    prof.add_argument(
        "--input-shape",
        default="3x32x32",
        metavar="CxHxW",
        help="input of the networks, as the search's data set gives it (default 3x32x32)",
    )
    prof.add_argument(
        "--batch-sizes",
        default="1",
        metavar="N[,N...]",
        help="batch sizes to profile (default 1); batch N>1 gives predicted_latency_ms_bN",
    )
    prof.add_argument(
        "--method",
        choices=("lookup", "transfer"),
        default="lookup",
        help="lookup: per-operation table + fitted overhead (any space with latency units); "
        "transfer: few-shot from the NAS-Bench-201 devices (nb201 only)",
    )
    prof.add_argument(
        "--samples",
        type=int,
        default=10,
        metavar="N",
        help="whole candidates to measure: the overhead fit (lookup) or the few shots (transfer)",
    )
    prof.add_argument(
        "--threads", type=int, default=1, metavar="N", help="CPU threads while timing (default 1)"
    )
    prof.add_argument(
        "--repeats", type=int, default=30, metavar="N", help="timed runs per measurement (median)"
    )
    prof.add_argument("--warmup", type=int, default=5, metavar="N", help="untimed runs first")
    prof.add_argument(
        "--clock",
        choices=("wall", "thread"),
        default="wall",
        help="wall time (default), or the timing thread's CPU time: on a CPU shared with other "
        "jobs it leaves out the time they hold the core (--device cpu --threads 1 only)",
    )
    prof.add_argument(
        "--seed", type=int, default=0, help="seed of the random whole candidates (lookup)"
    )
    prof.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="profile file to write (default <space>_<device>_<backend>.latency.json)",
    )
    prof.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``nas profile``."""
    from tqdm.auto import tqdm

    from nas.costs.profiling import (
        parse_batch_sizes,
        parse_shape,
        planned_steps,
        profile_device,
        space_from_config,
        summary,
    )
    from nas.errors import NasError
    from nas.training.loop import resolve_device

    space = space_from_config(args.config, args.overrides)
    shape, batches = parse_shape(args.input_shape), parse_batch_sizes(args.batch_sizes)
    if min(args.samples, args.threads, args.repeats) < 1 or args.warmup < 0:
        raise NasError("--samples, --threads and --repeats must be at least 1, --warmup at least 0")
    device = resolve_device(args.device)
    output = (
        args.output or f"{space.name}_{str(device).replace(':', '')}_{args.backend}.latency.json"
    )
    steps = planned_steps(space, shape, args.method, len(batches), args.samples)
    start = time.perf_counter()
    with tqdm(total=steps, desc="profiling", unit="run", disable=args.no_progress or None) as bar:

        def advance(what: str) -> None:
            bar.set_postfix_str(what, refresh=False)
            bar.update()

        profile = profile_device(
            space,
            shape,
            method=args.method,
            device=device,
            backend=args.backend,
            batch_sizes=batches,
            samples=args.samples,
            threads=args.threads,
            repeats=args.repeats,
            warmup=args.warmup,
            seed=args.seed,
            clock=args.clock,
            progress=advance,
        )
    profile.device["seconds"] = round(time.perf_counter() - start, 1)
    path = profile.save(output)
    for line in summary(profile):
        print(line)
    print(
        f"wrote {path} ({profile.device['seconds']} s); use it with costs: {{latency_profile: {path}}}"
    )
    return 0
