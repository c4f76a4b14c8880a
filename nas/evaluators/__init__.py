"""Evaluators score a candidate architecture and return its metrics."""

from nas.evaluators.base import Budget, EvalContext, Evaluator, Pruned, candidate_seed

__all__ = ["Budget", "EvalContext", "Evaluator", "Pruned", "candidate_seed"]
