"""The default executor: every evaluation in this process, one after another."""

from __future__ import annotations

from pathlib import Path

from nas.executors.base import Executor
from nas.search.loop import SearchLoop


class LocalExecutor(Executor):
    """Evaluates the trials one after another in this process (no set-up, the default)."""

    def run(self, loop: SearchLoop, run_dir: Path | None, progress: bool) -> str | None:
        """Step the loop to its budget; returns why it stopped early, if it did."""
        stopped = None
        with loop.progress(progress) as bar:
            while loop.remaining() > 0:
                loop.step()
                bar.update()
                stopped = loop.exhausted()
                if stopped:
                    break
        return loop.budget_note() or stopped
