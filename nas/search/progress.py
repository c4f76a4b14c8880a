"""The progress bar of a search loop."""

from __future__ import annotations

from typing import Protocol

from tqdm.auto import tqdm

from nas.config import ExperimentConfig


class Counted(Protocol):
    """What the bar shows of a search loop (``nas.search.loop.SearchLoop``)."""

    config: ExperimentConfig
    evaluated: int

    @property
    def budget(self) -> int:
        """Architectures to evaluate in all."""

    def best(self) -> float | None:
        """Best value of the first objective so far."""


class Progress:
    """A progress bar of one search loop: trials evaluated out of the budget, best value so far."""

    def __init__(self, loop: Counted, enabled: bool) -> None:
        self.loop = loop
        self.enabled = enabled
        self.bar = tqdm(
            total=loop.budget,
            initial=min(loop.evaluated, loop.budget),
            unit="trial",
            disable=not enabled,
            dynamic_ncols=True,
            desc=loop.config.name,
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def update(self) -> None:
        """Show the loop's current count and best value."""
        if not self.enabled:
            return
        loop = self.loop
        self.bar.n = min(loop.evaluated, loop.budget)
        best = loop.best()
        objective = next(iter(loop.config.objectives))
        self.bar.set_postfix_str(f"best {objective}={best:.2f}" if best is not None else "")
