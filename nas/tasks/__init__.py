"""Tasks: what a kind of problem (classification, segmentation, ...) means to training, evaluation,
export and plots -- the loss, the scores and their directions, the shape of a network's output.

The training loop, the evaluators, export and plots ask the task of the data (``DataSplits.task``,
a name in :data:`nas.registry.TASKS`) instead of assuming classification, so that a new task
(detection) is one more registered class, with no change to the runner.
"""

from __future__ import annotations

from nas.tasks.base import Task, metric_direction, task_named

__all__ = ["Task", "metric_direction", "task_named"]
