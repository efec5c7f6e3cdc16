"""Layer 1a: candidate retrieval models behind one ``Recommender`` contract, and vector indexes."""

from recstrata.retrieval.base import Recommender
from recstrata.retrieval.registry import MODELS, make_model, model_class

__all__ = ["MODELS", "Recommender", "make_model", "model_class"]
