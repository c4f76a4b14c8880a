from __future__ import annotations

import itertools

import numpy as np

from nas.pareto import crowding_distance, non_dominated, pareto_ranks


def brute_front(points: np.ndarray) -> np.ndarray:
    """Minimisation: a point is on the front when nothing is <= everywhere and < somewhere."""
    return np.array([not any((q <= p).all() and (q < p).any() for q in points) for p in points])


def test_front_ranks_and_crowding_agree_with_brute_force() -> None:
    rng = np.random.default_rng(0)
    points = rng.integers(0, 6, size=(60, 3)).astype(float)  # ties included
    directions = ["minimize", "maximize", "minimize"]
    as_min = points * np.array([1, -1, 1])
    assert (non_dominated(points, directions) == brute_front(as_min)).all()
    ranks = pareto_ranks(points, directions)
    remaining = np.ones(len(points), dtype=bool)
    for rank in itertools.count():
        if not remaining.any():
            break
        idx = np.flatnonzero(remaining)
        front = idx[brute_front(as_min[idx])]
        assert (ranks[front] == rank).all() and (ranks[idx[~np.isin(idx, front)]] > rank).all()
        remaining[front] = False


def test_crowding_distance_is_infinite_at_the_ends_and_larger_where_sparse() -> None:
    values = [[0.0, 4.0], [1.0, 3.0], [1.2, 2.8], [4.0, 0.0]]
    distance = crowding_distance(values, ["minimize", "minimize"])
    assert np.isinf(distance[[0, 3]]).all()
    assert distance[2] > distance[1]  # point 2 borders the big gap to (4, 0)
    assert non_dominated([], ["minimize"]).shape == (0,)
