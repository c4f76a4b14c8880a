"""DARTS cells (Liu et al. 2019): 8 operations, normal and reduction cells of 4 nodes."""

from search_spaces.darts.genotypes import (
    DARTS_V1,
    DARTS_V2,
    GENOTYPES,
    PC_DARTS_CIFAR,
    PC_DARTS_IMAGE,
    PDARTS,
    Genotype,
    arch_to_genotype,
    format_genotype,
    genotype_to_arch,
    parse_genotype,
)
from search_spaces.darts.ops import PRIMITIVES
from search_spaces.darts.space import DartsSpace

__all__ = [
    "DARTS_V1",
    "DARTS_V2",
    "GENOTYPES",
    "PC_DARTS_CIFAR",
    "PC_DARTS_IMAGE",
    "PDARTS",
    "PRIMITIVES",
    "DartsSpace",
    "Genotype",
    "arch_to_genotype",
    "format_genotype",
    "genotype_to_arch",
    "parse_genotype",
]
