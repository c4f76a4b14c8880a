"""The epoch loop every one-shot search shares: checkpoint after each epoch, resume from it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from nas.errors import NasError
from nas.io import save_torch_atomic
from nas.oneshot.base import SearchEnv
from nas.oneshot.history import write_history, write_plot
from nas.results.weights import read_plain
from nas.seeds import derive_seed
from nas.training.loop import seeded

CHECKPOINT_FILE = "checkpoint.pt"
#: Seconds between redraws of a running search's alpha plot.
PLOT_INTERVAL_S = 60.0


def save_checkpoint(folder: Path, state: dict[str, Any]) -> None:
    """``torch.save`` the search state to ``checkpoint.pt`` atomically."""
    save_torch_atomic(state, folder / CHECKPOINT_FILE)


def load_checkpoint(folder: Path, device: torch.device) -> dict[str, Any] | None:
    """The state of the last finished epoch, or None before the first one."""
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        return read_plain(
            path, map_location=device, fix="delete it to restart that search from scratch"
        )
    except (RuntimeError, OSError, EOFError, ValueError) as exc:  # damaged, or foreign
        raise NasError(
            f"one-shot checkpoint {str(path)!r} cannot be loaded ({exc}); "
            "delete it to restart that search from scratch"
        ) from None


#: One epoch of a search: (statistics, alpha-history rows, whether to stop early).
EpochFn = Callable[[int], tuple[dict[str, float], list[dict[str, Any]], bool]]


def run_epochs(
    env: SearchEnv,
    *,
    epochs: int,
    stateful: Mapping[str, Any],
    first_rows: list[dict[str, Any]],
    epoch_fn: EpochFn,
    title: str,
) -> dict[str, Any]:
    """Run ``epoch_fn`` for the epochs not yet done, checkpointing after each one.

    ``stateful`` names everything with ``state_dict`` / ``load_state_dict`` that a resumed
    search needs (supernet, optimisers, scheduler, controller); all of it, the epoch statistics
    and the alpha history are saved together, atomically, after every epoch, and restored from
    ``env.folder`` first. Returns the final state (``epoch``, ``stopped``, ``alphas``, ``epochs``).
    """
    env.folder.mkdir(parents=True, exist_ok=True)
    state = load_checkpoint(env.folder, env.device)
    if state is None:
        state = {"epoch": 0, "stopped": False, "alphas": first_rows, "epochs": []}
    else:
        for name, obj in stateful.items():
            obj.load_state_dict(state["stateful"][name])
    bar = tqdm(
        total=epochs,
        initial=state["epoch"],
        unit="epoch",
        disable=not env.progress,
        desc=env.folder.name,
        dynamic_ncols=True,
        leave=False,
    )
    plotted = time.perf_counter()
    with bar:
        while state["epoch"] < epochs and not state["stopped"]:
            start = time.perf_counter()
            # torch's own random draws (dropout, drop path) are seeded per epoch, so a resumed epoch replays
            with seeded(derive_seed(env.seed, state["epoch"], 9), env.device):
                stats, rows, stop = epoch_fn(state["epoch"])
            state["epoch"] += 1
            state["epochs"].append(
                {"epoch": state["epoch"], **stats, "seconds": time.perf_counter() - start}
            )
            state["alphas"] = state["alphas"] + rows
            state["stopped"] = bool(stop)
            state["stateful"] = {name: obj.state_dict() for name, obj in stateful.items()}
            save_checkpoint(env.folder, state)
            write_history(env.folder, state["alphas"], state["epochs"])
            # a plot holds all of plotly.js (~5 MB): redrawn at the end, and meanwhile now and then
            if time.perf_counter() - plotted > PLOT_INTERVAL_S:
                write_plot(env.folder, state["alphas"], title)
                plotted = time.perf_counter()
            bar.update(1)
            if "val_accuracy" in stats:
                bar.set_postfix_str(f"supernet val {stats['val_accuracy']:.1f}%")
    write_plot(env.folder, state["alphas"], title)
    return state


def search_metrics(state: Mapping[str, Any]) -> dict[str, float]:
    """What a finished search reports with its trial: supernet accuracy, epochs and time."""
    epochs = state["epochs"]
    seconds = sum(e["seconds"] for e in epochs)
    return {
        "supernet_val_accuracy": float(epochs[-1].get("val_accuracy", float("nan")))
        if epochs
        else float("nan"),
        "search_epochs": int(state["epoch"]),
        "search_seconds": round(seconds, 3),
        "search_seconds_per_epoch": round(seconds / max(1, len(epochs)), 3),
    }
