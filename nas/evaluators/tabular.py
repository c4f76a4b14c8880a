"""Tabular NAS-Bench-201 evaluator: look an architecture up instead of training it.

The table is a CSV (optionally gzipped) with one row per cell architecture: a column
``arch_str`` in the benchmark's notation and, for each data set ``D`` in ``cifar10``,
``cifar100``, ``imagenet16``, the columns ``D_val_12ep`` (validation accuracy after the
12-epoch schedule, the search signal) and ``D_test_200ep`` (test accuracy after 200 epochs).
``D_test_12ep`` and latency columns ``lat_<device>`` are optional. nas ships the whole table
(``nas/tables/nb201.csv.gz``, read when a config gives no ``table:``); a table exported from the
official API with these columns works the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from nas.arch import Choice
from nas.costs.profile import predicted_latency
from nas.errors import NasError
from nas.evaluators.base import Budget, EvalContext, Evaluator
from nas.space import SearchSpace
from nas.tables import nb201_table_path
from nas.training.loop import EpochReport

DATASETS = ("cifar10", "cifar100", "imagenet16")
#: The input shape of the networks each data set's column was measured with.
INPUT_SHAPES = {"cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "imagenet16": (3, 16, 16)}


@lru_cache(maxsize=4)
def _load(path: str, mtime: float, dataset: str) -> dict[str, dict[str, float]]:
    """arch string -> metrics, for one data set of one table (cached per file version)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise NasError(f"cannot read the NAS-Bench-201 table {path!r}: {exc}") from None
    required = ["arch_str", f"{dataset}_val_12ep", f"{dataset}_test_200ep"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise NasError(
            f"NAS-Bench-201 table {path!r} lacks column(s) {', '.join(missing)}; "
            f"it needs arch_str, <dataset>_val_12ep and <dataset>_test_200ep"
        )
    columns = {
        "val_accuracy": f"{dataset}_val_12ep",
        "test_accuracy": f"{dataset}_test_200ep",
        "test_accuracy_12ep": f"{dataset}_test_12ep",
    }
    columns = {k: v for k, v in columns.items() if v in frame.columns}
    columns.update({c: c for c in frame.columns if c.startswith("lat_")})
    values = frame[list(columns.values())].astype(float).to_numpy().tolist()
    names = list(columns)
    return {
        arch: dict(zip(names, row, strict=False))
        for arch, row in zip(frame["arch_str"], values, strict=False)
    }


class TabularNB201(Evaluator):
    """Looks architectures of the nb201 space up in a NAS-Bench-201 table (no training).

    Metrics: ``val_accuracy`` (12-epoch validation accuracy, %, the search signal),
    ``test_accuracy`` (200-epoch test accuracy, %), ``test_accuracy_12ep`` and the table's
    ``lat_*`` latencies where the table has them, and ``predicted_latency_ms`` with a
    ``costs.latency_profile``. ``table``: a CSV in the format above; none
    reads the table shipped with nas.
    """

    def __init__(
        self,
        context: EvalContext,
        *,
        table: str | None = None,
        dataset: Literal["cifar10", "cifar100", "imagenet16"] = "cifar10",
    ) -> None:
        path = Path(table).expanduser() if table is not None else nb201_table_path()
        if not path.is_file():
            raise NasError(
                f"NAS-Bench-201 table {str(path)!r} does not exist; set evaluator.table to "
                "a table in the format of nb201.csv.gz, or leave it out to use the one "
                "shipped with nas"
            )
        self.path = str(path.resolve())
        self.latency_profile = context.costs.latency_profile if context is not None else None
        self.dataset = dataset
        self.rows = _load(self.path, path.stat().st_mtime, dataset)

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: EpochReport | None = None,
    ) -> dict[str, Any]:
        """The table's metrics for ``arch`` (budget and report are ignored: nothing is trained)."""
        key = space.format(arch)
        row = self.rows.get(key)
        if row is None:
            raise NasError(
                f"architecture {key!r} is not in the NAS-Bench-201 table {self.path!r}; "
                "the tabular evaluator needs the nb201 space"
            )
        metrics = {k: v for k, v in row.items() if not math.isnan(v)}
        shape = INPUT_SHAPES[self.dataset]
        return {**metrics, **predicted_latency(self.latency_profile, arch, space, shape)}
