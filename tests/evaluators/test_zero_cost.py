"""The zero-cost evaluator: untrained networks scored by a proxy, through the real search loop."""

from __future__ import annotations

import pytest
import torch

from nas import NasError
from nas.config import resolve_config
from nas.evaluators.base import candidate_seed
from nas.evaluators.proxies import score
from nas.search.runner import search_in_memory
from nas.training.loop import seeded
from search_spaces.nb201 import NB201Space

SPACE = {"name": "nb201", "channels": 4, "cells_per_stage": 1}


def config(evaluator: dict, objective: str, dataset: bool = False, trials: int = 3) -> dict:
    return {
        "name": "zc",
        "seed": 3,
        "trials": trials,
        "space": SPACE,
        **({"dataset": {"name": "digits"}} if dataset else {}),
        "strategy": {"name": "random"},
        "evaluator": {"name": "zero_cost", **evaluator},
        "costs": {"memory": False},
        "objectives": {objective: "maximize"},
    }


def test_synflow_without_data_scores_the_seeded_untrained_network() -> None:
    study = search_in_memory(
        resolve_config(
            config({"proxy": "synflow", "num_classes": 10, "input_shape": [3, 16, 16]}, "synflow")
        )
    )
    space = NB201Space(channels=4, cells_per_stage=1)
    for trial in study.trials:
        metrics = trial.user_attrs["metrics"]
        arch = space.parse(trial.user_attrs["arch"])
        with seeded(candidate_seed(3, arch)):
            model = space.build(arch, num_classes=10, input_shape=(3, 16, 16))
        expected = score(
            "synflow", model, torch.zeros(1, 3, 16, 16), torch.zeros(1, dtype=torch.long)
        )
        assert trial.values[0] == metrics["synflow"] == pytest.approx(expected)
        assert metrics["params"] > 0 and metrics["flops"] > 0 and metrics["proxy_seconds"] > 0


@pytest.mark.parametrize("proxy", ["naswot", "jacob_cov", "grad_norm", "snip"])
def test_data_proxies_score_candidates_on_a_batch_of_the_data_set(proxy: str) -> None:
    study = search_in_memory(
        resolve_config(config({"proxy": proxy, "batch_size": 16}, proxy, dataset=True))
    )
    values = [t.values[0] for t in study.trials]
    assert len(values) == 3 and len(set(values)) == 3  # three architectures, three different scores


def test_data_proxy_without_data_and_unknown_proxy_are_clear_errors() -> None:
    with pytest.raises(NasError, match="proxy 'snip' needs a batch of data"):
        search_in_memory(resolve_config(config({"proxy": "snip"}, "snip")))
    with pytest.raises(
        NasError, match="without a data set needs the options num_classes and input_shape"
    ):
        search_in_memory(resolve_config(config({"proxy": "synflow"}, "synflow")))
    with pytest.raises(NasError, match="unknown zero-cost proxy 'nwot'"):
        search_in_memory(resolve_config(config({"proxy": "nwot"}, "nwot")))


@pytest.mark.parametrize("space", ["nb201", "darts", "mbconv"])
def test_every_proxy_scores_every_space_from_the_command_line(space: str, tmp_path, capsys) -> None:
    import pandas as pd
    import yaml

    from nas.cli.main import main
    from nas.evaluators.proxies import PROXIES
    from tests.search_spaces.conftest import SMALL_OPTIONS

    config = tmp_path / "zc.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "zc",
                "trials": 2,
                "space": {"name": space, **SMALL_OPTIONS[space]},
                "dataset": {"name": "digits"},
                "strategy": {"name": "random"},
                "costs": {"memory": False},
                "evaluator": {"name": "zero_cost", "batch_size": 8},
                "output": str(tmp_path / "runs"),
            }
        )
    )
    for proxy in sorted(PROXIES):
        assert (
            main(
                [
                    "search",
                    str(config),
                    f"evaluator.proxy={proxy}",
                    f"objectives={{{proxy}: maximize}}",
                    "--quiet",
                ]
            )
            == 0
        ), capsys.readouterr().err
        run = capsys.readouterr().out.strip().splitlines()[-1].removeprefix("run folder: ")
        frame = pd.read_csv(f"{run}/trials.csv")
        assert len(frame) == 2 and frame[proxy].notna().all(), proxy
