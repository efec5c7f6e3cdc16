"""Grounding facts come from the model's own attribution, blended pipelines included."""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.personalization.explain import Explainer
from recstrata.personalization.grounding import contributions, ground, template_sentence
from recstrata.ranking.pipeline import Pipeline
from recstrata.retrieval.als import ALS
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.itemknn import ItemKNN
from recstrata.retrieval.popularity import Popularity

# user 3's block-0 history minus two items, plus two items of block 1: only the block-0 items can
# explain block-0 item 3 (no model links the blocks)
HISTORY = [0, 1, 2, 4, 15, 16]
BLOCK0 = {f"Movie {i}" for i in range(10)}


@pytest.fixture(scope="module")
def blend(blocks):
    ds, _ = blocks
    sources = {"ease": EASE(reg=1.0), "als": ALS(factors=8, iterations=10), "knn": ItemKNN(k=20), "pop": Popularity()}
    return Pipeline(sources, n_per_source=5, vector_source="als").fit(ds)


def test_a_blend_is_explained_by_the_history_items_its_sources_tie_to_the_item(blend, blocks):
    ds, _ = blocks
    g = ground(blend, ds, HISTORY, 3)
    assert g.title == "Movie 3" and len(g.because) == 2 and set(g.because) <= BLOCK0
    assert g.genres == ("genre0",) and g.year == 1990
    fused = contributions(blend, np.array(HISTORY), 3)
    assert fused[:4].min() > fused[4:].max()  # every attributing source ranks block 0 first


def test_the_blend_cites_what_its_sources_agree_on(blocks):
    """Reciprocal rank fusion over the history items, as the pipeline fuses candidates: a history
    item ranked first by two sources beats one ranked first by a single source."""

    class Fixed:
        """A stand-in item-item model: history items 0, 1, 2 add ``c`` to item 5's score."""

        def __init__(self, c):
            self.weights_ = np.zeros((ds.n_items, ds.n_items))
            self.weights_[[0, 1, 2], 5] = c

    ds, _ = blocks
    pipe = Pipeline({"a": Fixed([3, 2, 1]), "b": Fixed([0, 2, 1]), "c": Fixed([0, 2, 1])})
    got = contributions(pipe, np.array([0, 1, 2]), 5)
    assert list(np.argsort(-got)) == [1, 2, 0] and got[0] > 0
    pipe.fusion_weights = {"a": 1.0, "b": 0.0, "c": 0.0}  # sources the blend ignores explain nothing
    assert list(np.argsort(-contributions(pipe, np.array([0, 1, 2]), 5))) == [0, 1, 2]


def test_a_blend_without_any_attribution_is_grounded_in_genres(blocks):
    ds, _ = blocks
    pipe = Pipeline({"pop": Popularity()}, n_per_source=5).fit(ds)
    g = ground(pipe, ds, HISTORY, 3)
    assert g.because == () and g.genres == ("genre0",)
    assert template_sentence(g) == "Recommended because you like genre0."


def test_explaining_a_blend_does_not_crash(blend, blocks):
    ds, _ = blocks
    out, degraded = Explainer(ds, None).explain(blend, "3", HISTORY, [3, 5], deadline_s=1.0)
    assert [e.source for e in out] == ["template", "template"] and not degraded
    assert out[0].sentence.startswith("Recommended because you watched Movie ")


def test_template_sentences_read_titles_naturally_and_claim_nothing_unknown():
    from recstrata.personalization.grounding import Grounding, natural_title, template_sentence

    assert natural_title("Breakfast Club, The") == "The Breakfast Club"
    assert natural_title("Few Good Men, A (1992)") == "A Few Good Men (1992)"
    assert natural_title("Postman, The (Postino, Il)") == "The Postman (Postino, Il)"
    assert natural_title("Heat") == "Heat" and natural_title("Them, Theirs") == "Them, Theirs"
    known = Grounding(item_id="1", title="Heat", because=("Godfather, The", "Fargo"), genres=("Crime",), year=None)
    assert template_sentence(known) == "Recommended because you watched The Godfather and Fargo; you like Crime."
    nothing = Grounding(item_id="2", title="Breakfast Club, The", because=(), genres=(), year=None)
    assert template_sentence(nothing) == "The Breakfast Club is popular with other viewers."
