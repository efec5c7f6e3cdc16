"""Layer 1b: candidate features, the learned ranker and the retrieve -> merge -> rank pipeline.

Nothing heavy is imported here; LightGBM loads only when a ranker is trained or loaded.
"""

from __future__ import annotations

from recstrata.ranking.features import Candidates, FeatureBuilder
from recstrata.ranking.folds import RankingData, fold_ranking_data, holdout_split
from recstrata.ranking.fusion import FusionChoice, tune_fusion
from recstrata.ranking.pipeline import Explained, Pipeline
from recstrata.ranking.ranker import LambdaRanker

__all__ = ["Candidates", "FeatureBuilder", "LambdaRanker", "Pipeline", "Explained", "RankingData",
           "fold_ranking_data", "holdout_split", "FusionChoice", "tune_fusion"]
