"""Evaluation: pure metric functions over ranked id lists, named protocols, reports."""

from recstrata.evaluation.metrics import ACCURACY_METRICS, accuracy, relevance
from recstrata.evaluation.protocol import EvalResult, evaluate, rank

__all__ = ["ACCURACY_METRICS", "EvalResult", "accuracy", "evaluate", "rank", "relevance"]
