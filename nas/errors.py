"""The one exception type the CLI turns into a one-line message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NasError(Exception):
    """A problem the user can fix: the message names it and says how."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
