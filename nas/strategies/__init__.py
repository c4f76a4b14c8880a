"""Search strategies: Optuna samplers over a space's decisions."""

from nas.strategies.base import SpaceSampler, decision_distributions

__all__ = ["SpaceSampler", "decision_distributions"]
