"""Data sets: in-memory train / validation / test splits and a fast batch iterator."""

from nas.data.splits import DataSplits, Split, iterate_batches, resize, stratified_split, subset

__all__ = ["DataSplits", "Split", "iterate_batches", "resize", "stratified_split", "subset"]
