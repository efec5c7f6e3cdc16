"""Grounding facts for an explanation, taken from the model's own attribution.

For item-item models the score of item i for a user is a sum over history items h of a weight
w(h, i) (EASE's B[h, i], ItemKNN's similarity), so the largest terms are exactly what drove the
score. For embedding models we use the similarity of item vectors to each history item. Shared
genres between the item and the user's history, and the item's year, complete the facts.

A blended :class:`~recstrata.ranking.pipeline.Pipeline` is explained by the history items its
sources tie to the item, fused the way the pipeline fuses candidates: every source that can
attribute (and that the blend does not weight 0) ranks the history items by its own contribution
to the item, and the ranks are combined by weighted reciprocal rank fusion with the pipeline's
weights and ``k`` (equal weights under a trained ranker, which uses every source). So an
explanation cites the user's own history items that the blend's models agree drove the item,
not only the vector source's view of them. A source without attribution (popularity) adds
nothing; a model with none at all gets no ``because`` facts, and its explanation falls back to
the shared genres (then to "popular with other viewers") instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from recstrata.data.dataset import Dataset
from recstrata.ranking.fusion import rrf_scores
from recstrata.ranking.pipeline import Pipeline
from recstrata.retrieval.base import Recommender


@dataclass(frozen=True)
class Grounding:
    item_id: str
    title: str
    because: tuple[str, ...]  # titles of the history items that drove the score, strongest first
    genres: tuple[str, ...]  # the item's genres that the user's history also has
    year: int | None

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def facts(self) -> dict:
        return asdict(self)


def contributions(model: Recommender, history: np.ndarray, item: int) -> np.ndarray:
    """How much each history item contributed to ``item``'s score (same length as ``history``;
    all zeros when the model cannot attribute its scores to history items)."""
    if isinstance(model, Pipeline):
        return _blend_contributions(model, history, item)
    if hasattr(model, "weights_"):  # EASE
        return np.asarray(model.weights_[history, item], dtype=np.float64)
    if hasattr(model, "similarity_"):  # ItemKNN
        return np.asarray(model.similarity_[history][:, item].toarray()).ravel()
    vectors = model.item_vectors() if hasattr(model, "item_vectors") else None
    if vectors is not None:  # cosine: only the rows used are normalised, not the whole catalog
        rows = np.asarray(vectors[np.r_[history, item]], dtype=np.float64)
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        return rows[:-1] @ rows[-1]
    return np.zeros(len(history))


def _blend_contributions(pipe: Pipeline, history: np.ndarray, item: int) -> np.ndarray:
    """Reciprocal rank fusion of the sources' rankings of the history items (see the module doc)."""
    weights = pipe.source_weights()
    used, ranks = [], []
    for name, source in pipe.sources.items():
        w = weights[name]
        c = contributions(source, history, item) if w > 0 else np.zeros(len(history))
        order = np.argsort(-c, kind="stable")
        order = order[c[order] > 0]  # a history item that does not raise the score is not ranked
        if order.size:
            r = np.full(len(history), np.nan, np.float32)
            r[order] = np.arange(1, order.size + 1)
            used.append(w)
            ranks.append(r)
    if not ranks:
        return np.zeros(len(history))
    return rrf_scores(np.stack(ranks)[:, None, :], used, pipe.fusion_k)[0].astype(np.float64)  # (S, 1, H) -> (H,)


def ground(model: Recommender, dataset: Dataset, history: list[int], item: int, top: int = 2) -> Grounding:
    items = dataset.items
    hist = np.asarray(history, dtype=np.int64)
    hist = hist[hist != item]  # an item never explains itself
    because: tuple[str, ...] = ()
    if hist.size:
        contrib = contributions(model, hist, item)
        order = np.argsort(-contrib, kind="stable")
        chosen = [int(hist[j]) for j in order[:top] if contrib[j] > 0]
        because = tuple(dict.fromkeys(str(items.iloc[h]["title"]) for h in chosen if items.iloc[h]["title"]))
    history_genres = Counter(g for h in hist for g in items.iloc[int(h)]["genres"])
    row = items.iloc[item]
    shared = tuple(sorted((g for g in row["genres"] if history_genres[g]), key=lambda g: -history_genres[g]))[:2]
    year = row["year"]
    return Grounding(
        item_id=str(row["item_id"]),
        title=str(row["title"] or f"item {row['item_id']}"),
        because=because,
        genres=shared,
        year=None if str(year) == "<NA>" else int(year),
    )


def template_sentence(g: Grounding) -> str:
    """The non-LLM explanation, built from the same facts (always valid); titles read naturally."""
    parts = []
    if g.because:
        parts.append("you watched " + " and ".join(natural_title(t) for t in g.because))
    if g.genres:
        parts.append("you like " + " and ".join(g.genres))
    if not parts:  # nothing known of the user (e.g. no history): say no more than is known
        return f"{natural_title(g.title)} is popular with other viewers."
    return f"Recommended because {'; '.join(parts)}."


#: English only, for display (moving "L'" or "Il" would need each language's spacing rules); the
#: output contract recognises every language's trailing article (``contract._ARTICLES``)
_ENGLISH_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<article>The|A|An)(?P<tail> \(.*\))?$")


def natural_title(title: str) -> str:
    """A catalog title with a trailing English article moved to the front, as it is said:
    ``"Breakfast Club, The"`` -> ``"The Breakfast Club"`` (MovieLens files titles that way); any
    other title as it is."""
    m = _ENGLISH_TRAILING_ARTICLE.match(title)
    return f"{m['article']} {m['rest']}{m['tail'] or ''}" if m else title
