"""What a finished Ray trial's last result turns into in the study (no Ray cluster needed)."""

from __future__ import annotations

import pytest

from nas.evaluators.base import Pruned
from nas.executors.tune import outcome
from nas.executors.workers import EPOCH
from nas.search.pruners import REPORTED_METRIC


@pytest.mark.parametrize("metric", ["val_accuracy", "val_miou"])
def test_a_pruned_trial_files_its_last_score_under_the_tasks_metric(metric: str) -> None:
    with pytest.raises(Pruned) as caught:
        outcome({EPOCH: 3, REPORTED_METRIC: 41.5}, metric)(None)
    assert caught.value.epoch == 3
    assert caught.value.metrics == {metric: 41.5, "epochs": 3}
