from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nas import EVALUATORS, NasError, create_space
from nas.config import Component, TrainingConfig, resolve_config
from nas.evaluators import EvalContext
from nas.evaluators.weight_sharing import WeightSharing
from nas.executors.local import LocalExecutor
from nas.registry import SPACES
from nas.results.weights import load_weights, weights_path
from nas.search.runner import run_search
from nas.space import SearchSpace
from nas.supernet import HasSupernet
from nas.tasks import task_named
from tests.plugins import ToySpace
from tests.search_spaces.conftest import SMALL_OPTIONS

#: The cheapest supernet that still trains: one epoch on a tenth of digits, one path per step.
TINY = {"epochs": 1, "data_fraction": 0.1, "random_subnets": 0, "calibration_batches": 2}
SUPERNET_SPACES = [
    n
    for n in SPACES.names()
    if isinstance(create_space(n, **SMALL_OPTIONS.get(n, {})), HasSupernet)
]


#: A small data set for each task a space may be built for.
DATA = {
    "classification": Component(name="digits"),
    "segmentation": Component(name="digit_scenes", options={"scenes": 60, "size": 16, "scale": 1}),
}


def context(seed: int = 0, task: str = "classification") -> EvalContext:
    return EvalContext(
        DATA[task], TrainingConfig(batch_size=32), seed, torch.device("cpu"), task_name=task
    )


def weight_sharing(
    space: SearchSpace, run_dir: Path | None = None, **options: object
) -> WeightSharing:
    """A weight-sharing evaluator prepared for a run in ``run_dir`` (its supernet trained or loaded)."""
    evaluator = EVALUATORS.get("weight_sharing")(context(task=space.task), **options)
    evaluator.prepare(space, run_dir, LocalExecutor())
    return evaluator


@pytest.mark.parametrize("name", SUPERNET_SPACES)
def test_scores_subnets_and_reuses_the_saved_supernet(tmp_path: Path, name: str) -> None:
    space = create_space(name, **SMALL_OPTIONS.get(name, {}))
    archs = [space.sample(np.random.default_rng(i)) for i in range(2)]
    first = weight_sharing(space, tmp_path, **TINY, finetune_steps=1)
    scores = [first.evaluate(a, space) for a in archs]
    metric = task_named(space.task).reported_metric  # val_accuracy, or val_miou for unet
    for metrics in scores:
        assert set(metrics) >= {
            metric,
            "val_loss",
            "params",
            "flops",
            "activation_bytes",
            "score_seconds",
        }
        assert 0 <= metrics[metric] <= 100 and metrics["params"] > 0
    checkpoint = tmp_path / "supernet.pt"
    assert first.trained_here and checkpoint.is_file()
    stamp = checkpoint.stat().st_mtime_ns

    again = weight_sharing(space, tmp_path, **TINY, finetune_steps=1, save_weights=True)
    assert [again.evaluate(a, space)[metric] for a in archs] == [m[metric] for m in scores]
    assert not again.trained_here and checkpoint.stat().st_mtime_ns == stamp
    saved = load_weights(
        weights_path(tmp_path, archs[0])
    )  # the scored subnet, ready for nas export
    space.build(
        archs[0], num_classes=saved.num_classes, input_shape=saved.input_shape
    ).load_state_dict(saved.state_dict)


def test_sandwich_rule_is_chosen_for_elastic_spaces_and_trains_the_largest_path(
    tmp_path: Path,
) -> None:
    from nas.data import Split
    from nas.training.supernet import extremes, is_elastic, train_supernet

    assert [
        is_elastic(create_space(n, **SMALL_OPTIONS[n])) for n in ("nb201", "darts", "mbconv")
    ] == [False, False, True]
    space = create_space("mbconv", **SMALL_OPTIONS["mbconv"])
    largest, smallest = extremes(space)
    supernet = space.supernet(num_classes=10, input_shape=(1, 8, 8))
    assert largest == supernet.largest and space.validate(smallest) == smallest
    fresh = {k: v.clone() for k, v in supernet.state_dict().items()}
    data = context().data
    one_batch = Split(data.train.x[:32], data.train.y[:32])
    train_supernet(
        supernet,
        space,
        data,
        TrainingConfig(batch_size=32),
        epochs=1,
        seed=0,
        device=torch.device("cpu"),
        sandwich=True,
        random_subnets=0,
        train_split=one_batch,
    )
    # one step of the sandwich moves every stage's second block, which only larger paths use
    # (a single random path would leave each stage's with probability 1/2)
    for stage in range(7):
        key = f"net.blocks.{stage}.1.project_conv.weight"
        assert not torch.equal(supernet.state_dict()[key], fresh[key]), key


def test_bn_recalibration_sets_the_exact_statistics_of_the_calibration_batches() -> None:
    from nas.training.supernet import recalibrate_bn

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 1), torch.nn.BatchNorm2d(3), torch.nn.Dropout(0.5)
    )
    model[1].running_mean.fill_(7.0)
    batches = [
        torch.randn(4, 1, 2, 2, generator=torch.Generator().manual_seed(i)) + i for i in range(3)
    ]
    assert recalibrate_bn(model, batches) == 3
    with torch.no_grad():
        features = model[0](torch.cat(batches))
    torch.testing.assert_close(model[1].running_mean, features.mean((0, 2, 3)))
    assert model[1].momentum == 0.1 and not model.training


def test_a_checkpoint_of_another_space_is_refused(tmp_path: Path) -> None:
    space = create_space("nb201", channels=4, cells_per_stage=1)
    arch = space.sample(np.random.default_rng(0))
    weight_sharing(space, tmp_path, **TINY).evaluate(arch, space)
    wider = create_space("nb201", channels=8, cells_per_stage=1)
    with pytest.raises(
        NasError, match=r"was trained for something else \(space: 'NB201Space\(channels=4"
    ):
        weight_sharing(wider, **TINY, checkpoint=str(tmp_path / "supernet.pt"))
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    torch.save([1, 2], tmp_path / "list.pt")
    for name, message in [
        ("garbage.pt", "cannot read supernet checkpoint"),
        ("list.pt", "is not a nas supernet"),
    ]:
        with pytest.raises(NasError, match=message):
            weight_sharing(space, checkpoint=str(tmp_path / name))


def test_a_space_without_supernet_is_refused_before_the_run_starts(tiny_config: dict) -> None:
    evaluator = EVALUATORS.get("weight_sharing")(context())
    with pytest.raises(NasError, match="needs a space with a supernet"):
        evaluator.check(ToySpace())
    config = resolve_config(
        {**tiny_config, "space": "tests.plugins:ToySpace", "evaluator": "weight_sharing"}
    )
    with pytest.raises(NasError, match="space 'toy' has none"):
        run_search(config, progress=False)
    assert not Path(tiny_config["output"]).exists()


def test_a_run_trains_its_supernet_once_and_another_search_can_reuse_it(
    tiny_config: dict, tmp_path: Path
) -> None:
    evaluator = {"name": "weight_sharing", **TINY}
    config = resolve_config(
        {**tiny_config, "trials": 2, "strategy": "random", "evaluator": evaluator}
    )
    first = run_search(config, progress=False)
    checkpoint = first.run.path / "supernet.pt"
    stamp = checkpoint.stat().st_mtime_ns
    resumed = run_search(config.model_copy(update={"trials": 3}), resume=first.run, progress=False)
    assert resumed.evaluated == 3 and checkpoint.stat().st_mtime_ns == stamp

    other = resolve_config(
        {
            **tiny_config,
            "name": "other",
            "trials": 2,
            "strategy": "random",
            "evaluator": {**evaluator, "epochs": 5, "checkpoint": str(checkpoint)},
        }
    )
    second = run_search(other, progress=False)
    assert checkpoint.stat().st_mtime_ns == stamp and not (second.run.path / "supernet.pt").exists()
    a = pd.read_csv(first.run.path / "trials.csv").set_index("arch")["val_accuracy"]
    b = pd.read_csv(second.run.path / "trials.csv").set_index("arch")["val_accuracy"]
    assert (a.loc[a.index.intersection(b.index)] == b.loc[a.index.intersection(b.index)]).all()
