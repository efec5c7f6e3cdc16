"""Stored results -> model inputs: item x tag matrix, hard-negative pairs, enriched texts."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from fakes import ScriptedBackend, item_reply

from recstrata.enrichment import HardNegativeJob, ItemAttributesJob, item_tag_matrix, negative_pairs, run_job
from recstrata.enrichment.embeddings import enriched_texts
from recstrata.enrichment.tags import TagVocabulary, normalise_tag


def test_normalise_tag_known_answers():
    cases = {"Sci-Fi": "science fiction", "science-fiction movies": "science fiction", "Comedies": "comedy",
             "Thrillers": "thriller", "kids": "children", "Time_Travel": "time travel", "heroes": "hero",
             "Martial Arts": "martial arts", "The Movie": None, "": None}
    assert {k: normalise_tag(k) for k in cases} == cases


def test_closed_vocabulary_drops_and_counts_unknown_tags():
    vocab = TagVocabulary(closed=frozenset({"comedy", "space"}))
    assert vocab.normalise(["Comedies", "funny", "Dragons", "SPACE", "dragon"]) == ["comedy", "space"]
    assert vocab.dropped == {"dragon": 2}


def test_item_tag_matrix_keeps_tags_shared_by_enough_items(movies, store):
    run_job(ItemAttributesJob(), movies, ScriptedBackend(item_reply), store, progress=False)
    m, names = item_tag_matrix(store, movies, min_count=1, max_share=1.0)
    assert m.shape == (movies.n_items, len(names))
    row = movies.item_ids.to_index(["100"])[0]
    assert {names[j] for j in m[row].indices} == {"alien", "drama"}
    # "drama" is on every item: with max_share < 1 it says nothing and is dropped; single-item tags too
    m2, names2 = item_tag_matrix(store, movies, min_count=2, max_share=0.5)
    assert "drama" not in names2 and "alien" not in names2 and m2.shape[1] == len(names2)


def test_negative_pairs_are_index_pairs_and_respect_exclude(movies, store):
    job = HardNegativeJob(shortlist=4, min_events=1)
    tasks = list(job.tasks(movies))
    picks = {t.subject: sorted(t.context["shortlist"])[:2] for t in tasks}

    def reply(prompt):
        task = next(t for t in tasks if t.text == prompt)
        return {"ids": picks[task.subject]}

    run_job(job, movies, ScriptedBackend(reply), store, progress=False, tasks=tasks)
    users, items = negative_pairs(store, movies)
    assert len(users) == sum(len(v) for v in picks.values())
    for u, i in zip(users, items):
        ext_u, ext_i = movies.user_ids.external[u], movies.item_ids.external[i]
        assert ext_i in picks[ext_u] and movies.user_items[u, i] == 0
    everything = sp.csr_matrix(np.ones((movies.n_users, movies.n_items)))  # every pair excluded
    assert len(negative_pairs(store, movies, exclude=everything)[0]) == 0


def test_enriched_texts_append_summary_and_tags(movies, store):
    run_job(ItemAttributesJob(), movies, ScriptedBackend(item_reply), store, progress=False, limit=2)
    texts = enriched_texts(movies, store)
    assert texts[0].startswith(movies.item_text(0)) and "About alien things." in texts[0] and "alien" in texts[0]
    assert texts[5] == movies.item_text(5)


def test_user_genre_matrix_maps_profile_words_to_catalog_genres(movies, store):
    from recstrata.enrichment import user_genre_matrix

    _, names = movies.genre_matrix
    users = [str(u) for u in movies.user_ids.external[:3]]
    said = {users[0]: [names[0].upper(), "no such genre"], users[1]: [names[-1], names[-1].lower() + "!"],
            "not-a-user": [names[0]]}
    for subject, genres in said.items():
        store.put(key=f"k{subject}", job="users", model="m", version="v", input_text=subject, subject=subject,
                  output={"genres": genres, "eras": [], "themes": [], "summary": "likes films"})
    m, stats = user_genre_matrix(store, movies)
    assert m.shape == (movies.n_users, len(names))
    assert m[0].indices.tolist() == [0] and m[1].indices.tolist() == [len(names) - 1]  # duplicates merged
    assert m[1].data.tolist() == [1.0] and m[2].nnz == 0
    assert stats == {"profiles": 2, "matched": 3, "unmatched": 1}
