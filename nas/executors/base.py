"""The executor interface: where a search's evaluations run.

Every executor drives the same :class:`nas.search.loop.SearchLoop` (ask the strategy, skip known
architectures, tell outcomes, stop after too many failures) and differs only in where
``evaluate`` runs. Executors are registered by name (config section ``executor``) and built as
``factory(config, **options)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from nas.config import ExperimentConfig
from nas.oneshot.base import SearchJob
from nas.search.loop import SearchLoop
from nas.training.supernet import SupernetRecipe, TrainedSupernet


class Executor(ABC):
    """Runs a search loop's evaluations: one after another in this process, or on Ray workers."""

    def __init__(self, config: ExperimentConfig | None = None) -> None:
        self.config = config  # the run's config, for executors whose workers rebuild it

    @abstractmethod
    def run(self, loop: SearchLoop, run_dir: Path | None, progress: bool) -> str | None:
        """Evaluate the loop's proposals until its budget is spent; returns why it stopped early, if it did.

        ``run_dir`` is the run folder (None for an in-memory search), ``progress`` whether to show a bar.
        """

    def run_searches(self, jobs: Sequence[SearchJob]) -> None:  # noqa: B027 - a hook, empty by default
        """Run one-shot searches ahead of the loop, each saving its result in its folder.

        The default runs none: the one-shot driver then runs each in this process when it needs it.
        """

    def train_supernet(self, recipe: SupernetRecipe, run_dir: Path) -> TrainedSupernet | None:
        """Train the run's supernet on this executor's workers; None (the default) has the evaluator
        train it in this process."""
        return None
