"""Most-popular baseline: every user gets the items with the most distinct training users.

Counts are true counts. (RecBole's Pop increments an item at most once per training batch and so
under-counts popular items; see BENCHMARKS.md for the effect.)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.retrieval.base import Recommender


class Popularity(Recommender):
    name = "pop"

    def __init__(self) -> None:
        pass

    def _fit(self, dataset: Dataset) -> None:
        self.counts_ = dataset.item_counts.astype(np.float32)

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.counts_, (histories.shape[0], self.n_items_))

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts_, (len(items), self.n_items_))

    def _state(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts_ = arrays["counts"]
