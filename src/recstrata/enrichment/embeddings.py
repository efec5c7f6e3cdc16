"""Item text embeddings as an enrichment job: a thin wrapper over ``recstrata.data.embeddings``.

The encoder itself (all-MiniLM-L6-v2 via sentence-transformers) lives in the data layer, shared
with the two-tower model. This wrapper adds what an enrichment job adds everywhere: a content
hash of the inputs, so an unchanged catalog is not encoded twice (the vectors are cached as an
``.npz`` next to the store, named by the hash of model + texts).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError


def item_texts(dataset: Dataset) -> list[str]:
    return [dataset.item_text(i) for i in range(dataset.n_items)]


def embed_items(dataset: Dataset, cache_dir: str | Path, *, model: str = "all-MiniLM-L6-v2") -> np.ndarray:
    """(n_items, d) float32 text embeddings of the catalog, cached by content hash."""
    texts = item_texts(dataset)
    digest = hashlib.sha256("\x1f".join([model, *texts]).encode("utf-8")).hexdigest()[:16]
    path = Path(cache_dir) / f"item-embeddings-{digest}.npz"
    if path.exists():
        return np.load(path)["vectors"]
    try:
        from recstrata.data import embeddings as enc  # the neural branch's MiniLM encoder
    except ImportError as exc:  # pragma: no cover - depends on the branch being merged
        raise ConfigError(
            "item text embeddings need recstrata.data.embeddings (the MiniLM encoder); it is not in "
            "this build - install recstrata with the [torch] extra from a version that ships it"
        ) from exc
    vectors = np.asarray(enc.embed_texts(texts), dtype=np.float32)  # (I, d)
    from recstrata._atomic import atomic_open

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.savez(fh, vectors=vectors)
    return vectors
