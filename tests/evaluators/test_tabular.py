"""The tabular NAS-Bench-201 evaluator, on the table shipped inside the package (nas/tables)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from nas import NasError
from nas.config import read_yaml, resolve_config
from nas.evaluators import EvalContext
from nas.evaluators.tabular import TabularNB201
from nas.search.components import build_components
from nas.search.runner import run_search, search_in_memory
from nas.tables import nb201_table_path
from search_spaces.nb201 import NB201Space

TABLE = nb201_table_path()
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments/nb201_tabular.yaml"
SPACE = NB201Space()
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class CountingTabular(TabularNB201):
    """The real evaluator, counting the lookups the runner asks of it."""

    def __init__(
        self, context: EvalContext, *, table: str | None = None, dataset: str = "cifar10"
    ) -> None:
        super().__init__(context, table=table, dataset=dataset)
        self.queried: list[str] = []

    def evaluate(self, arch, space, budget=None, report=None):  # noqa: D102
        self.queried.append(space.format(arch))
        return super().evaluate(arch, space, budget, report)


def evaluator(dataset: str = "cifar10", table: Path = TABLE) -> TabularNB201:
    return TabularNB201(None, table=str(table), dataset=dataset)


def tabular_config(tmp_path: Path, **changes) -> dict:
    return {
        "name": "tab",
        "seed": 0,
        "trials": 30,
        "space": {"name": "nb201"},
        "strategy": {"name": "evolution", "population_size": 5, "sample_size": 2},
        "evaluator": {"name": "tabular"},
        "output": str(tmp_path),
        **changes,
    }


@pytest.mark.parametrize(
    ("dataset", "index", "best"),
    [
        ("cifar10", 6111, 94.3733),
        ("cifar100", 9930, 73.5133),
        ("imagenet16", 857, 47.3111),
    ],
)
def test_known_facts_of_the_table(dataset: str, index: int, best: float) -> None:
    frame = pd.read_csv(TABLE, usecols=["index", "arch_str"])
    arch = SPACE.parse(frame.loc[frame["index"] == index, "arch_str"].item())
    lookup = evaluator(dataset)
    metrics = lookup.evaluate(arch, SPACE)
    assert metrics["test_accuracy"] == pytest.approx(best, abs=1e-4)
    assert max(row["test_accuracy"] for row in lookup.rows.values()) == pytest.approx(
        best, abs=1e-4
    )
    assert len(lookup.rows) == 15625 == SPACE.size()


def test_metrics_are_the_12_epoch_signal_the_200_epoch_test_and_latencies() -> None:
    metrics = evaluator().evaluate(SPACE.parse(BEST), SPACE)
    assert metrics["val_accuracy"] == pytest.approx(84.746, abs=1e-3)  # 12-epoch validation
    assert metrics["test_accuracy"] == pytest.approx(94.3633, abs=1e-3)  # 200-epoch test
    assert "test_accuracy_12ep" in metrics and sum(k.startswith("lat_") for k in metrics) == 27
    assert all(isinstance(v, float) for v in metrics.values())


def test_the_table_ships_inside_the_package_and_is_the_default() -> None:
    assert TABLE.is_file() and TABLE.parent.name == "tables" and TABLE.parent.parent.name == "nas"
    assert (TABLE.parent / "NOTICE.md").is_file()
    default = TabularNB201(None)
    assert default.path == str(TABLE.resolve()) and default.rows is evaluator().rows


def test_the_table_is_loaded_once() -> None:
    assert evaluator().rows is evaluator().rows
    assert evaluator("cifar100").rows is not evaluator().rows


def test_a_table_exported_in_the_same_format_works(tmp_path: Path) -> None:
    frame = pd.read_csv(
        TABLE, nrows=50, usecols=["arch_str", "cifar10_val_12ep", "cifar10_test_200ep"]
    )
    frame["cifar10_val_12ep"] += 1.0  # not the shipped copy
    path = tmp_path / "exported.csv"
    frame.to_csv(path, index=False)
    lookup = evaluator(table=path)
    arch = SPACE.parse(frame["arch_str"][7])
    assert lookup.evaluate(arch, SPACE) == {
        "val_accuracy": frame["cifar10_val_12ep"][7],
        "test_accuracy": frame["cifar10_test_200ep"][7],
    }
    missing = SPACE.parse(pd.read_csv(TABLE, skiprows=range(1, 100), nrows=1)["arch_str"][0])
    with pytest.raises(NasError, match="is not in the NAS-Bench-201 table"):
        lookup.evaluate(missing, SPACE)


def test_bad_tables_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="does not exist; set evaluator.table"):
        evaluator(table=tmp_path / "nope.csv")
    (tmp_path / "t.csv").write_text("arch_str,cifar10_val_12ep\n|x~0|,1.0\n")
    with pytest.raises(NasError, match="lacks column.*cifar10_test_200ep"):
        evaluator(table=tmp_path / "t.csv")
    with pytest.raises(NasError, match="evaluator.dataset"):
        resolve_config(
            tabular_config(
                tmp_path, evaluator={"name": "tabular", "table": str(TABLE), "dataset": "svhn"}
            )
        )


def test_repeated_queries_cost_nothing_and_are_not_counted_twice(tmp_path: Path) -> None:
    counting = {"name": "tests.evaluators.test_tabular:CountingTabular"}
    config = resolve_config(
        tabular_config(
            tmp_path,
            trials=100,
            evaluator=counting,
            strategy={"name": "evolution", "population_size": 10, "sample_size": 3},
        )
    )
    parts = build_components(config)
    study = search_in_memory(config, parts)
    duplicates = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert duplicates, "aging evolution on this budget re-proposes architectures"
    assert len(parts.evaluator.queried) == 100 == len(set(parts.evaluator.queried))
    assert len(study.trials) == 100 + len(duplicates)
    for dup in duplicates:
        first = study.trials[dup.user_attrs["duplicate_of"]]
        assert dup.user_attrs["arch"] == first.user_attrs["arch"] and dup.values == first.values


def test_a_tabular_search_needs_no_data_set_and_records_the_extra_metrics(tmp_path: Path) -> None:
    result = run_search(resolve_config(tabular_config(tmp_path, trials=12)), progress=False)
    frame = pd.read_csv(result.run.trials_csv)
    assert {"val_accuracy", "test_accuracy", "lat_raspi4"} <= set(frame.columns)
    assert frame["duplicate_of"].isna().sum() == 12 == result.evaluated


def test_the_command_line_searches_the_shipped_table_from_any_folder(tmp_path: Path) -> None:
    """``nas search experiments/nb201_tabular.yaml`` names no table and runs from any folder."""
    assert "table" not in read_yaml(EXPERIMENT)["evaluator"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nas",
            "search",
            str(EXPERIMENT),
            "trials=15",
            "--quiet",
            f"output={tmp_path}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    run = Path(out.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    frame = pd.read_csv(run / "trials.csv")
    assert (frame["state"] == "complete").all() and frame["duplicate_of"].isna().sum() == 15
    table = pd.read_csv(
        TABLE, usecols=["arch_str", "cifar10_val_12ep", "cifar10_test_200ep"]
    ).set_index("arch_str")
    expected = table.loc[frame["arch"]]
    assert frame["val_accuracy"].tolist() == pytest.approx(expected["cifar10_val_12ep"].tolist())
    assert frame["test_accuracy"].tolist() == pytest.approx(expected["cifar10_test_200ep"].tolist())
    assert frame["test_accuracy"].max() > 80  # real CIFAR-10 accuracies, not placeholders


def test_the_wheel_ships_the_table_and_its_notice(tmp_path: Path) -> None:
    """``pip wheel`` of the project (a copy of its packaging inputs) holds the table, byte for byte."""
    pytest.importorskip(
        "setuptools", reason="builds the wheel without network access, with setuptools"
    )
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("nas", "search_spaces"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "wheel").glob("nas-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("nas/tables/nb201.csv.gz") == TABLE.read_bytes()
        assert "NATS-Bench" in archive.read("nas/tables/NOTICE.md").decode()
