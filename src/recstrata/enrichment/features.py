"""Turn stored enrichment results into model inputs.

- ``item_tag_matrix``: item x tag sparse matrix from the ``items`` job (for the two-tower's and
  the ranker's item-feature hooks, or a content model for cold items);
- ``negative_pairs``: (user, item) index pairs from the ``negatives`` job (hard negatives for
  two-tower / BPR training);
- ``user_genre_matrix``: user x catalog-genre matrix of the genres the ``users`` job's taste
  profiles name (for the ranker's profile feature).

Both return empty results when nothing is stored, so a run can switch enrichment on and off
with one flag and the same code path.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.enrichment.jobs import iter_outputs
from recstrata.enrichment.store import EnrichmentStore
from recstrata.enrichment.tags import TagVocabulary


def item_tag_matrix(
    store: EnrichmentStore,
    dataset: Dataset,
    *,
    job: str = "items",
    model: str | None = None,
    min_count: int = 2,
    max_share: float = 0.5,
    vocabulary: TagVocabulary | None = None,
    fields: tuple[str, ...] = ("tags",),
) -> tuple[sp.csr_matrix, list[str]]:
    """Binary item x tag CSR (float32, rows = internal item indices) and the tag names.

    Tags on fewer than ``min_count`` items carry no signal a model can share between items, and
    tags on more than ``max_share`` of the tagged items carry none either: both are dropped.
    ``fields`` may add ``"mood"`` / ``"audience"`` as extra tag columns (prefixed ``mood:`` ...).
    """
    vocab = vocabulary or TagVocabulary()
    per_item: dict[int, list[str]] = {}
    for subject, out in iter_outputs(store, job, model=model):
        idx = dataset.item_ids.to_index([subject], missing="mask")[0]
        if idx < 0:
            continue
        tags: list[str] = []
        for f in fields:
            value = out.get(f)
            if f == "tags":
                tags += vocab.normalise(value or [])
            elif isinstance(value, str) and value:
                tags.append(f"{f}:{value.lower()}")
        per_item[int(idx)] = tags
    df = Counter(t for tags in per_item.values() for t in set(tags))
    limit = max_share * max(len(per_item), 1)
    names = sorted(t for t, c in df.items() if c >= min_count and c <= limit)
    col = {t: j for j, t in enumerate(names)}
    rows, cols = [], []
    for i, tags in per_item.items():
        for t in set(tags):
            if t in col:
                rows.append(i)
                cols.append(col[t])
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(dataset.n_items, len(names)))
    m.sum_duplicates()
    m.sort_indices()
    return m, names


def negative_pairs(
    store: EnrichmentStore, dataset: Dataset, *, job: str = "negatives", model: str | None = None,
    exclude: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) int32 arrays of LLM hard negatives; pairs in ``exclude`` (e.g. the training
    matrix, so a negative can never be a positive of the run) are dropped."""
    users, items = [], []
    for subject, out in iter_outputs(store, job, model=model):
        u = dataset.user_ids.to_index([subject], missing="mask")[0]
        if u < 0:
            continue
        idx = dataset.item_ids.to_index(out.get("items", []), missing="mask")
        for i in idx[idx >= 0]:
            if exclude is not None and exclude[u, i] != 0:
                continue
            users.append(u)
            items.append(int(i))
    return np.asarray(users, np.int32), np.asarray(items, np.int32)


#: words taste profiles use for catalog genres, after normalisation (lower case, letters only)
GENRE_SYNONYMS = {
    "sciencefiction": "scifi", "kids": "childrens", "family": "childrens",
    "children": "childrens", "animated": "animation", "cartoon": "animation", "romantic": "romance",
    "noir": "filmnoir", "musicals": "musical", "music": "musical", "suspense": "thriller",
    "documentaries": "documentary", "comedies": "comedy", "dramas": "drama", "westerns": "western",
}


def _genre_key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def user_genre_matrix(
    store: EnrichmentStore, dataset: Dataset, *, job: str = "users", model: str | None = None,
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Binary user x genre CSR (float32, columns = ``dataset.genre_matrix`` genres) of the genres
    each stored taste profile names, and counts of matched / unmatched genre words.

    Profile words are matched to the catalog's genre names case- and punctuation-insensitively
    ("sci-fi" -> "Sci-Fi"), with a few synonyms (:data:`GENRE_SYNONYMS`); words naming no catalog
    genre are counted, not guessed. Profiles must come from the data the model is trained on (a
    profile written from held-out interactions would leak them).
    """
    _, names = dataset.genre_matrix
    col = {_genre_key(g): j for j, g in enumerate(names)}
    rows, cols = [], []
    stats = {"profiles": 0, "matched": 0, "unmatched": 0}
    for subject, out in iter_outputs(store, job, model=model):
        u = dataset.user_ids.to_index([subject], missing="mask")[0]
        if u < 0:
            continue
        stats["profiles"] += 1
        for word in out.get("genres", []) or []:
            key = _genre_key(str(word))
            j = col.get(GENRE_SYNONYMS.get(key, key))
            if j is None:
                stats["unmatched"] += 1
                continue
            stats["matched"] += 1
            rows.append(int(u))
            cols.append(j)
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(dataset.n_users, len(names)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, stats
