"""Pareto dominance, non-domination ranks and crowding distances, for any number of objectives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_minimization(values: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """An (n, m) array of objective values with maximised objectives negated."""
    array = np.asarray(values, dtype=float).reshape(len(values), len(directions))
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return array * signs


def _dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dominates[i, j]: row i of ``a`` dominates row j of ``b`` (all objectives minimised)."""
    le = np.all(a[:, None, :] <= b[None, :, :], axis=-1)
    lt = np.any(a[:, None, :] < b[None, :, :], axis=-1)
    return np.asarray(le & lt)


def non_dominated(values: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the rows no other row dominates (the Pareto front)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    points = as_minimization(values, directions)
    return ~np.any(_dominates(points, points), axis=0)


def pareto_ranks(values: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """Non-domination rank of each row: 0 for the front, 1 for the front once it is removed, ..."""
    points = as_minimization(values, directions)
    dominated_by = _dominates(points, points)
    ranks = np.full(len(points), -1)
    remaining = np.ones(len(points), dtype=bool)
    rank = 0
    while remaining.any():
        front = remaining & ~dominated_by[remaining].any(0)
        ranks[front] = rank
        remaining &= ~front
        rank += 1
    return ranks


def crowding_distance(values: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """NSGA-II crowding distance of each row within the set (inf at each objective's extremes)."""
    points = as_minimization(values, directions)
    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(points[:, k], kind="stable")
        span = points[order[-1], k] - points[order[0], k]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (points[order[2:], k] - points[order[:-2], k]) / span
    return distance
