"""One-shot strategies: train one supernet of the space, derive one architecture from it."""

from nas.oneshot.base import OneShot, OneShotResult, SearchEnv

__all__ = ["OneShot", "OneShotResult", "SearchEnv"]
