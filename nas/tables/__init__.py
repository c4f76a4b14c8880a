"""Benchmark tables shipped with nas as package data (sources and licences: NOTICE.md here).

``nb201.csv.gz`` is the NAS-Bench-201 lookup table the ``tabular`` evaluator reads when a
config gives no ``table:``: one row per cell architecture with the 12-epoch and 200-epoch
accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120 and measured latencies on 23 devices.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

NB201_FILE = "nb201.csv.gz"


def nb201_table_path() -> Path:
    """The path of the NAS-Bench-201 table shipped with nas (``nb201.csv.gz``)."""
    return Path(str(resources.files(__name__).joinpath(NB201_FILE)))
