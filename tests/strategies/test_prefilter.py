"""Zero-cost pre-filtering and evolution's warm start change which candidates are evaluated."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nas import NasError
from nas.config import resolve_config
from nas.search.runner import search_in_memory
from tests.strategies.toy import GridSpace

SPACE = GridSpace(n=3)  # 64 architectures


def proxy_value(arch: dict) -> float:
    """A made-up proxy: prefers 'b', then 'c', 'a', 'd' at each decision, weighted by position."""
    rank = {"b": 3, "c": 2, "a": 1, "d": 0}
    return sum(rank[v] * 10**i for i, v in enumerate(arch[k] for k in sorted(arch)))


def score_file(tmp_path: Path) -> str:
    archs = [
        dict(zip(SPACE.decisions(), combo, strict=False))
        for combo in itertools.product("abcd", repeat=3)
    ]
    path = tmp_path / "scores.csv.gz"
    pd.DataFrame(
        {"arch": [SPACE.format(a) for a in archs], "toy": [proxy_value(a) for a in archs]}
    ).to_csv(path, index=False)
    return str(path)


def run(strategy: dict, trials: int, seed: int = 0, duplicates: bool = False) -> list[dict]:
    """The architectures the search evaluated, in trial order (re-proposals left out unless asked for)."""
    study = search_in_memory(
        resolve_config(
            {
                "name": "pf",
                "seed": seed,
                "trials": trials,
                "space": {"name": "tests.strategies.toy:GridSpace", "n": 3},
                "strategy": strategy,
                "evaluator": {"name": "tests.strategies.toy:ToyScore"},
            }
        )
    )
    done = sorted(
        (t for t in study.trials if duplicates or "duplicate_of" not in t.user_attrs),
        key=lambda t: t.number,
    )
    return [SPACE.parse(t.user_attrs["arch"]) for t in done]


def best_by_proxy(k: int) -> list[dict]:
    everything = [
        dict(zip(SPACE.decisions(), combo, strict=False))
        for combo in itertools.product("abcd", repeat=3)
    ]
    return sorted(everything, key=proxy_value, reverse=True)[:k]


def test_prefilter_evaluates_the_top_of_the_whole_space_first_then_the_base_strategy(
    tmp_path: Path,
) -> None:
    scores = score_file(tmp_path)
    filtered = run(
        {"name": "prefilter", "proxy": "toy", "scores": scores, "pool": 64, "top": 5},
        trials=12,
        duplicates=True,
    )
    plain = run({"name": "random"}, trials=12, duplicates=True)
    assert filtered[:5] == best_by_proxy(5)
    assert plain[:5] != filtered[:5]
    # from trial 5 on, the base strategy (random search) proposes what it proposes on its own
    n = min(len(plain), len(filtered))
    assert n > 8 and filtered[5:n] == plain[5:n]


def test_prefilter_ranks_a_random_pool_when_it_is_smaller_than_the_space(tmp_path: Path) -> None:
    options = {
        "name": "prefilter",
        "proxy": "toy",
        "scores": score_file(tmp_path),
        "pool": 20,
        "top": 6,
    }
    first = run(options, trials=6, seed=1)
    values = [proxy_value(a) for a in first]
    assert values == sorted(values, reverse=True)
    assert first != best_by_proxy(6)  # the pool of 20 rarely holds the six best of 64
    assert run(options, trials=6, seed=2) != first


def test_warm_start_fills_evolution_s_first_population_with_the_proxy_s_best(
    tmp_path: Path,
) -> None:
    evolution = {"name": "evolution", "population_size": 4, "sample_size": 2}
    warm = run(
        {**evolution, "warm_start": {"proxy": "toy", "scores": score_file(tmp_path), "pool": 64}},
        trials=10,
    )
    cold = run(evolution, trials=10)
    assert warm[:4] == best_by_proxy(4)
    assert cold[:4] != warm[:4]
    # the fifth is a one-decision mutation of a member of that population
    assert any(sum(warm[4][k] != parent[k] for k in parent) == 1 for parent in warm[:4])


def test_computed_proxy_ranks_real_networks() -> None:
    options = {
        "name": "prefilter",
        "proxy": "params",
        "pool": 12,
        "top": 4,
        "num_classes": 3,
        "input_shape": [1, 8, 8],
    }
    study = search_in_memory(
        resolve_config(
            {
                "name": "pf",
                "seed": 0,
                "trials": 4,
                "space": {"name": "nb201", "channels": 2, "cells_per_stage": 1},
                "strategy": options,
                "evaluator": {
                    "name": "zero_cost",
                    "proxy": "params",
                    "num_classes": 3,
                    "input_shape": [1, 8, 8],
                },
                "costs": {"memory": False},
                "objectives": {"params": "maximize"},
            }
        )
    )
    values = [t.values[0] for t in sorted(study.trials, key=lambda t: t.number)]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"proxy": "toy"}, "without a data set needs the options num_classes and input_shape"),
        ({"proxy": "snip"}, "proxy 'snip' needs data"),
        ({"proxy": "synflo"}, "did you mean 'synflow'"),
        (
            {"proxy": "toy", "scores": "missing.csv"},
            "proxy score file 'missing.csv' does not exist",
        ),
        (
            {"proxy": "missing_column", "scores": "SCORES"},
            "needs the columns 'arch' and 'missing_column'",
        ),
        ({"base": "darts"}, "needs a black-box base strategy"),
        (
            {"base": "evolution", "base_options": {"population": 3}},
            "strategy.base_options.population",
        ),
        ({"pool": 0}, "strategy.pool"),
    ],
)
def test_bad_options_are_one_line_errors(
    options: dict[str, Any], message: str, tmp_path: Path
) -> None:
    if options.get("scores") == "SCORES":
        options = {**options, "scores": score_file(tmp_path)}
    if options.get("proxy") == "toy" and "scores" not in options:
        options = {**options, "proxy": "synflow"}
    with pytest.raises(NasError, match=message):
        run({"name": "prefilter", **options}, trials=2)


def test_space_options_score_a_scaled_down_network_and_wrong_ones_are_one_line_errors() -> None:
    from nas.evaluators.proxies import PROXIES, register_proxy
    from nas.strategies.prefilter import ProxyRanking, rank_by_proxy, scoring_space
    from search_spaces.nb201 import NB201Space

    widths: list[int] = []

    def first_conv_width(model: Any, x: Any, y: Any) -> float:
        conv = next(m for m in model.modules() if m.__class__.__name__ == "Conv2d")
        widths.append(conv.out_channels)
        return float(sum(p.numel() for p in model.parameters()))

    register_proxy("recorded_params", needs_data=False)(first_conv_width)
    try:
        space = NB201Space(channels=6, cells_per_stage=2)
        options = {
            "proxy": "recorded_params",
            "pool": 6,
            "num_classes": 3,
            "input_shape": [1, 8, 8],
        }
        full = rank_by_proxy(space, 0, ProxyRanking(**options))
        assert widths == [6] * 6
        widths.clear()
        small = {"channels": 2, "cells_per_stage": 1}
        scaled = rank_by_proxy(space, 0, ProxyRanking(**options, space_options=small))
        assert widths == [2] * 6  # every pool member scored on the scaled-down network
        assert {space.format(a) for a in scaled} == {space.format(a) for a in full}
        with pytest.raises(NasError, match="cannot build NB201Space with .*channels"):
            scoring_space(space, {"channels": 0})
        with pytest.raises(NasError, match="GridSpace has no option 'width'; it has n$"):
            run(
                {"name": "prefilter", "proxy": "recorded_params", "pool": 4, "top": 2,
                 "num_classes": 3, "input_shape": [1, 8, 8], "space_options": {"width": 2}},
                trials=2,
            )  # fmt: skip
    finally:
        PROXIES.pop("recorded_params")
