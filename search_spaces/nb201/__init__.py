"""NAS-Bench-201: a cell of 4 nodes, 6 edges, 5 operations (15,625 architectures)."""

from search_spaces.nb201.space import EDGES, OPS, NB201Space, arch_to_str, str_to_arch

__all__ = ["EDGES", "OPS", "NB201Space", "arch_to_str", "str_to_arch"]
