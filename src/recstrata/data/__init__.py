"""Data layer: the immutable ``Dataset``, loaders and splits."""

from recstrata.data.dataset import Dataset, IdMap, Interactions
from recstrata.data.registry import load_dataset

__all__ = ["Dataset", "IdMap", "Interactions", "load_dataset"]
