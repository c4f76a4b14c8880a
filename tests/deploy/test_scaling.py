"""Compound scaling: the coefficient grid, the published family and ``nas scale`` end to end."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from nas import NasError, create_space
from nas.cli.main import main
from nas.config import resolve_config
from nas.deploy.scaling import coefficient_grid, compound, published
from nas.search.runner import run_search
from search_spaces.mbconv import B0_BLOCKS
from tests.search_spaces.test_mbconv import REFERENCE_PARAMS

TINY_SPACE = {
    "name": "mbconv",
    "width_coefficient": 0.25,
    "layers": [1],
    "kernel_sizes": [3],
    "expand_ratios": [1, 3],
    "width_multipliers": [1.0],
    "dropout": 0.0,
    "drop_path_rate": 0.0,
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_grid_keeps_alpha_beta2_gamma2_near_two_and_holds_the_papers_choice() -> None:
    grid = coefficient_grid(step=0.05, tolerance=0.1)
    assert (1.2, 1.1, 1.15) in grid
    assert all(abs(a * b * b * g * g - 2) <= 0.1 + 1e-9 and min(a, b, g) >= 1 for a, b, g in grid)
    assert len(set(grid)) == len(grid)
    with pytest.raises(NasError, match="finer --grid-step"):
        coefficient_grid(step=0.5, tolerance=0.0, target=1.7)


def test_compound_and_published_multipliers() -> None:
    m = compound(2, 1.2, 1.1, 1.15)
    assert (m.depth, m.width, m.resolution) == pytest.approx((1.44, 1.21, 1.3225))
    assert published(7).resolution == pytest.approx(600 / 224) and published(7).dropout == 0.5
    with pytest.raises(NasError, match="alpha, beta, gamma >= 1"):
        compound(1, 0.9, 1.1, 1.1)
    with pytest.raises(NasError, match="B0..B7"):
        published(8)


def test_nas_scale_published_reproduces_b0_to_b7(tmp_path: Path, capsys) -> None:
    config = tmp_path / "b0.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "b0",
                "trials": 1,
                "space": {"name": "mbconv"},
                "dataset": "digits",
                "strategy": "random",
                "evaluator": "partial",
            }
        )
    )
    out = tmp_path / "family"
    code = main(
        [
            "scale",
            str(config),
            "--arch",
            " ".join(B0_BLOCKS),
            "--published",
            "--input-shape",
            "3x224x224",
            "--num-classes",
            "1000",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    rows = _rows(out / "family.csv")
    assert {int(r["phi"]): int(r["params"]) for r in rows} == REFERENCE_PARAMS
    assert [int(r["resolution"]) for r in rows] == [224, 240, 260, 300, 380, 456, 528, 600]
    assert 0.38e9 < int(rows[0]["flops"]) < 0.40e9
    b5 = yaml.safe_load((out / "b5.yaml").read_text())
    assert b5["space"]["width_coefficient"] == 1.6 and b5["space"]["depth_coefficient"] == 2.2
    space = create_space("mbconv", **{k: v for k, v in b5["space"].items() if k != "name"})
    assert space.parse(b5["arch"]) == space.baseline()
    assert "66,347,960" in capsys.readouterr().out


def test_nas_scale_searches_coefficients_for_a_runs_best_arch(tmp_path: Path, one_thread) -> None:
    config = resolve_config(
        {
            "name": "tiny-mbconv",
            "seed": 0,
            "trials": 2,
            "space": TINY_SPACE,
            "dataset": "digits",
            "strategy": "random",
            "evaluator": {"name": "partial", "epochs": 1, "data_fraction": 0.2},
            "training": {"batch_size": 64, "amp": False, "threads": 1},
            "output": str(tmp_path / "results"),
        }
    )
    result = run_search(config, progress=False)
    code = main(
        [
            "scale",
            str(result.run.path),
            "--search",
            "--grid-step",
            "0.5",
            "--tolerance",
            "0.5",
            "--phi",
            "2",
        ]
    )
    assert code == 0
    out = result.run.path / "scaled"
    grid = _rows(out / "coefficient_search.csv")
    assert len(grid) == 4
    statuses = {(r["alpha"], r["beta"], r["gamma"]): r["status"] for r in grid}
    assert statuses[("1.0", "1.0", "1.5")] == "over FLOPs budget"  # 2.25x the pixels
    evaluated = [r for r in grid if r["status"] == "evaluated"]
    assert evaluated and all(0 <= float(r["val_accuracy"]) <= 100 for r in evaluated)
    assert all(float(r["flops_ratio"]) <= 2.2 for r in evaluated)
    family = _rows(out / "family.csv")
    assert [r["member"] for r in family] == ["b0", "b1", "b2"]
    flops = [int(r["flops"]) for r in family]
    assert flops[0] < flops[1] < flops[2]
    best_arch = str(result.frame.iloc[0]["arch"])
    assert yaml.safe_load((out / "b2.yaml").read_text())["arch"] == best_arch


def test_nas_scale_refuses_spaces_without_scaling_options(tmp_path: Path, capsys) -> None:
    config = tmp_path / "nb.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "nb",
                "trials": 1,
                "space": {"name": "nb201"},
                "dataset": "digits",
                "strategy": "random",
                "evaluator": "partial",
            }
        )
    )
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"
    code = main(["scale", str(config), "--arch", arch, "--output", str(tmp_path / "o")])
    assert code == 2
    assert "cannot be compound-scaled" in capsys.readouterr().err
