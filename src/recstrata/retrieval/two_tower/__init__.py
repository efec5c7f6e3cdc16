"""Two-tower retrieval (item tower over ID + text + categorical features; history-pooling user tower)."""

from recstrata.retrieval.two_tower.features import tags_to_matrix
from recstrata.retrieval.two_tower.model import TwoTower

__all__ = ["TwoTower", "tags_to_matrix"]
