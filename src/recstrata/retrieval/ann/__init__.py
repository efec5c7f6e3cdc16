"""Vector index for layer-1 retrieval: exact / HNSW / IVF / IVF-PQ / SQ8 / FP16 behind one contract.

    >>> index = make_index("sq8").build(item_vectors, item_ids)
    >>> ids, scores = index.search(user_vectors, k=1000, exclude=seen_items_per_user)
    >>> index.save("runs/ann/v1"); index = VectorIndex.load("runs/ann/v1")

faiss (extra ``ann``) is imported on first use, not at import time.
"""

from recstrata.retrieval.ann.base import VectorIndex
from recstrata.retrieval.ann.kinds import (
    INDEX_KINDS,
    ExactIndex,
    FP16Index,
    HNSWIndex,
    IVFIndex,
    IVFPQIndex,
    ScalarQuantizedIndex,
    make_index,
    parse_index_spec,
)
from recstrata.retrieval.ann.persist import load_index
from recstrata.retrieval.ann.recall import measure_recall, recall_of

__all__ = [
    "VectorIndex",
    "make_index",
    "parse_index_spec",
    "load_index",
    "measure_recall",
    "recall_of",
    "INDEX_KINDS",
    "ExactIndex",
    "HNSWIndex",
    "IVFIndex",
    "IVFPQIndex",
    "ScalarQuantizedIndex",
    "FP16Index",
]
