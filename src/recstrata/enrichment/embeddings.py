"""Item text embeddings as an enrichment step, over ``recstrata.data.embeddings`` (MiniLM).

The encoder and its content-hash cache live in the data layer (shared with the two-tower model);
this module adds the enrichment angle: the text embedded can be the catalog text alone or the
catalog text plus the LLM's stored one-line summary and tags ("enriched text").
"""

from __future__ import annotations

import os

import numpy as np

from recstrata.data.dataset import Dataset
from recstrata.enrichment.jobs import iter_outputs
from recstrata.enrichment.store import EnrichmentStore


def enriched_texts(dataset: Dataset, store: EnrichmentStore | None = None, *, job: str = "items",
                   model: str | None = None) -> list[str]:
    """Per item: its catalog text, followed by the LLM summary and tags when the store has them."""
    texts = [dataset.item_text(i) for i in range(dataset.n_items)]
    if store is None:
        return texts
    for subject, out in iter_outputs(store, job, model=model):
        i = int(dataset.item_ids.to_index([subject], missing="mask")[0])
        if i >= 0:
            texts[i] += f"; {out.get('summary', '')} tags: {', '.join(out.get('tags', []))}"
    return texts


def embed_items(dataset: Dataset, *, store: EnrichmentStore | None = None,
                cache_dir: str | os.PathLike[str] | None = None, model: str | None = None) -> np.ndarray:
    """(n_items, d) float32 L2-normalised embeddings; texts already encoded are read from the cache."""
    from recstrata.data.embeddings import DEFAULT_MODEL, embed_texts

    return embed_texts(enriched_texts(dataset, store, model=model), model=DEFAULT_MODEL, cache_dir=cache_dir)
