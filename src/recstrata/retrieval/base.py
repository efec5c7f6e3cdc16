"""The ``Recommender`` contract every layer-1 model implements.

    model = EASE(reg=250).fit(train)                       # fit on a Dataset, returns self
    ids, scores = model.recommend(users, k=10)             # batched, internal indices, best first
    ids, scores = model.recommend(histories=[[3, 17]], k=5)  # anonymous / updated histories
    ids, scores = model.similar_items([42], k=10)
    model.save("runs/ease/1");  model = Recommender.load("runs/ease/1")

As in scikit-learn, ``__init__`` only stores hyper-parameters; learned state ends in ``_``.
Subclasses implement ``_fit`` and ``_score_histories`` (and may override ``_score_users`` when a
user has a learned vector). Weights are saved as ``.npz`` + a JSON manifest with sha256s: never
pickled objects.
"""

from __future__ import annotations

import inspect
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recstrata._atomic import atomic_directory
from recstrata._ops import mask_csr, restrict_to, topk_rows
from recstrata.artifacts import load_arrays, read_manifest, save_arrays, write_manifest
from recstrata.data.dataset import Dataset
from recstrata.errors import ArtifactError, ConfigError, DataError, NotFittedError
from recstrata.retrieval._params import unknown_parameter

HistoryLike = sp.spmatrix | Sequence[Sequence[int]] | Sequence[np.ndarray]


def histories_to_csr(histories: HistoryLike, n_items: int) -> sp.csr_matrix:
    """Item-index lists (or a CSR matrix) -> binary (n, n_items) CSR; out-of-range ids are an error."""
    if sp.issparse(histories):
        m = sp.csr_matrix(histories, dtype=np.float32)
        if m.shape[1] != n_items:
            raise DataError(f"history matrix has {m.shape[1]} columns; the model knows {n_items} items")
        return m
    rows, cols = [], []
    for r, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64).ravel()
        if h.size and (h.min() < 0 or h.max() >= n_items):
            bad = h[(h < 0) | (h >= n_items)][0]
            raise DataError(f"history {r} has item index {bad}, outside 0..{n_items - 1}")
        rows.append(np.full(h.size, r))
        cols.append(h)
    n = len(rows)
    r = np.concatenate(rows) if rows else np.zeros(0, int)
    c = np.concatenate(cols) if cols else np.zeros(0, int)
    m = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


class Recommender(ABC):
    """Base class: fit / recommend / similar_items / save / load."""

    name: ClassVar[str]
    #: values of parameters added after artefacts were already saved, for manifests that lack them:
    #: an old artefact keeps the behaviour it was trained with when refitted, even when the new
    #: parameter's default differs
    legacy_params: ClassVar[dict[str, Any]] = {}
    #: max (users x items) scores held in memory at once while recommending
    score_budget: ClassVar[int] = 1 << 24

    # ---- parameters (scikit-learn style) ----------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def set_params(self, **params: Any) -> Self:
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise unknown_parameter(type(self).__name__, key, valid)
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def check_params(self) -> None:
        """ConfigError naming a hyper-parameter of the wrong type or out of range. ``fit`` calls it
        before touching the data (a bad value never reaches a numerical library); callers may call it
        earlier, e.g. before loading a dataset. Models with checks that need no data override it."""

    # ---- fitting ----------------------------------------------------------------------------------
    def fit(self, dataset: Dataset) -> Self:
        """Learn from ``dataset``'s interactions (binary implicit feedback unless a model says otherwise)."""
        self.check_params()
        if len(dataset) == 0:
            raise DataError(f"cannot fit {self.name} on {dataset.name}: it has no interactions")
        start = time.perf_counter()
        self.n_users_, self.n_items_ = dataset.n_users, dataset.n_items
        self.catalog_ = dataset.catalog_fingerprint  # which items the indices name (checked when served)
        self.seen_ = dataset.user_items
        self._fit(dataset)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @abstractmethod
    def _fit(self, dataset: Dataset) -> None: ...

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "seen_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(dataset) or Recommender.load(dir)")

    # ---- scoring ----------------------------------------------------------------------------------
    @abstractmethod
    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        """(n, n_items) scores for users described only by their (binary) histories."""

    def _score_sequences(self, sequences: list[np.ndarray], histories: sp.csr_matrix) -> np.ndarray:
        """Scores for time-ordered histories; order-blind models just use the binary ``histories``."""
        return self._score_histories(histories)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        """(n, n_items) scores for known users; by default from their training history."""
        return self._score_histories(self.seen_[users])

    # ---- public API -------------------------------------------------------------------------------
    def recommend(
        self,
        users: Sequence[int] | np.ndarray | int | None = None,
        k: int = 10,
        *,
        histories: HistoryLike | None = None,
        exclude_seen: bool = True,
        exclude: sp.spmatrix | None = None,
        candidates: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for each user, best first: ``(ids, scores)``, both ``(n, k)``.

        Give ``users`` (internal indices of users seen in training) or ``histories`` (for new or
        updated users: time-ordered item lists, oldest first, or a binary CSR matrix). ``exclude_seen`` hides the user's known items (the
        training history, or the given history); ``exclude`` is an extra (n, n_items) matrix of
        items to hide; ``candidates`` restricts the ranking to these items. Rows with fewer than
        ``k`` eligible items are padded with id -1 and score -inf.
        """
        users, hist, seqs, cand = self._check_request(users, k, histories, exclude, candidates)
        n = hist.shape[0] if hist is not None else len(users)
        batch = max(1, self.score_budget // max(self.n_items_, 1))
        ids_out, scores_out = [], []
        for s in range(0, n, batch):
            e = min(n, s + batch)
            if histories is not None:
                rows = hist[s:e]
                raw = self._score_histories(rows) if seqs is None else self._score_sequences(seqs[s:e], rows)
                scores = np.array(raw, dtype=np.float32, copy=True)
            else:
                rows = self.seen_[users[s:e]]
                scores = np.array(self._score_users(users[s:e]), dtype=np.float32, copy=True)
            if exclude_seen:
                mask_csr(scores, rows)
            if exclude is not None:
                mask_csr(scores, exclude[s:e])
            if cand is not None:
                restrict_to(scores, cand)
            ids, top = topk_rows(scores, k)
            ids_out.append(ids)
            scores_out.append(top)
        if not ids_out:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        return np.concatenate(ids_out), np.concatenate(scores_out)

    def _check_request(
        self,
        users: Sequence[int] | np.ndarray | int | None,
        k: int,
        histories: HistoryLike | None,
        exclude: sp.spmatrix | None,
        candidates: Sequence[int] | np.ndarray | None,
    ) -> tuple[np.ndarray | None, sp.csr_matrix | None, list[np.ndarray] | None, np.ndarray | None]:
        """Validate a :meth:`recommend` request: ``(users, histories CSR, ordered sequences, candidates)``.

        Exactly one of ``users`` / the histories CSR is not None; sequences are kept only when the
        histories came as ordered lists; candidates are sorted and unique.
        """
        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        if k > self.n_items_:
            raise ConfigError(f"k={k} is larger than the catalog ({self.n_items_} items); ask for at most that")
        if (users is None) == (histories is None):
            raise ConfigError("pass exactly one of users= or histories=")
        seqs = hist = None
        if histories is not None:
            if not sp.issparse(histories):  # ordered item lists: sequential models use the order
                seqs = [np.asarray(h, dtype=np.int64).ravel() for h in histories]
            hist = histories_to_csr(histories if seqs is None else seqs, self.n_items_)
            n = hist.shape[0]
        else:
            users = np.atleast_1d(np.asarray(users, dtype=np.int64))
            if users.size and (users.min() < 0 or users.max() >= self.n_users_):
                bad = users[(users < 0) | (users >= self.n_users_)][0]
                raise DataError(f"user index {bad} is outside 0..{self.n_users_ - 1}; pass histories= for new users")
            n = len(users)
        if exclude is not None and exclude.shape != (n, self.n_items_):
            raise ConfigError(f"exclude must be ({n}, {self.n_items_}), got {exclude.shape}")
        # a 1-D int64 array passes through as the same object (an index caches its filter bitmap by it)
        cand = None if candidates is None else np.asarray(candidates, dtype=np.int64)
        if cand is not None and cand.ndim != 1:
            cand = cand.ravel()
        if cand is not None and not np.all(cand[1:] > cand[:-1]):  # already sorted and unique: skip the sort
            cand = np.unique(cand)
        if cand is not None and cand.size and (cand[0] < 0 or cand[-1] >= self.n_items_):
            raise DataError(f"candidate item indices must be within 0..{self.n_items_ - 1}")
        return users, hist, seqs, cand

    def item_vectors(self) -> np.ndarray | None:
        """Dense item embeddings (n_items, d) for ANN export and similarity, if the model has them."""
        return None

    def query_vectors(
        self, users: Sequence[int] | np.ndarray | None = None, *, histories: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """(n, d) query vectors whose inner products with :meth:`item_vectors` are this model's scores.

        For known ``users`` (internal indices) or binary ``histories`` (fold-in / history tower).
        Models whose scores are such an inner product implement this, and can then be served by
        ANN search (:class:`recstrata.retrieval.vector.VectorRetriever`).
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no query vectors; wrap a vector model (als, bpr, two_tower, lightgcn) instead"
        )

    def similar_items(self, items: Sequence[int] | np.ndarray | int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Most similar items to each given item (cosine of item vectors by default); the item itself excluded."""
        self._check_fitted()
        items = np.atleast_1d(np.asarray(items, dtype=np.int64))
        if items.size and (items.min() < 0 or items.max() >= self.n_items_):
            raise DataError(f"item indices must be within 0..{self.n_items_ - 1}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 < k < self.n_items_:
            raise ConfigError(f"k must be between 1 and {self.n_items_ - 1}, got {k!r}")
        sims = np.array(self._item_similarity(items), dtype=np.float32, copy=True)
        sims[np.arange(len(items)), items] = -np.inf
        return topk_rows(sims, k)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        vectors = self.item_vectors()
        if vectors is None:
            raise NotImplementedError(f"{type(self).__name__} has no item vectors; override _item_similarity")
        norms = np.linalg.norm(vectors, axis=1)
        unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
        return unit[items] @ unit.T

    # ---- persistence -------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (besides the seen matrix)."""
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore learned arrays written by :meth:`_state`."""

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model to ``directory`` atomically (params, arrays, manifest with sha256s)."""
        self._check_fitted()
        seen = self.seen_
        with atomic_directory(directory) as tmp:
            save_arrays(tmp / "seen.npz", indptr=seen.indptr, indices=seen.indices,
                        shape=np.array([self.n_users_, self.n_items_]))
            state = self._state()
            if state:
                save_arrays(tmp / "state.npz", **state)
            write_manifest(tmp, kind="recommender", params=self.get_params(),
                           extra={"model": self.name, "catalog": getattr(self, "catalog_", None)})
        return Path(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Recommender:
        """Load a model saved with :meth:`save`; files are checked against the manifest first."""
        from recstrata.retrieval.registry import model_class

        root = Path(directory)
        manifest = read_manifest(root, kind="recommender")
        klass = model_class(manifest["model"])
        if cls is not Recommender and not issubclass(klass, cls):
            raise ArtifactError(f"{root} holds a {manifest['model']!r} model, not a {cls.__name__}")
        return klass._from_artifact(root, manifest)

    @classmethod
    def _from_artifact(cls, root: Path, manifest: dict[str, Any]) -> Recommender:
        """Rebuild a model from its checked ``manifest`` and the files :meth:`save` wrote to ``root``."""
        model = cls(**(cls.legacy_params | manifest["params"]))
        seen = load_arrays(root / "seen.npz")
        n_users, n_items = (int(x) for x in seen["shape"])
        model.n_users_, model.n_items_ = n_users, n_items
        model.catalog_ = manifest.get("catalog")  # None: saved before fingerprints
        model.seen_ = sp.csr_matrix(
            (np.ones(len(seen["indices"]), np.float32), seen["indices"], seen["indptr"]), shape=(n_users, n_items)
        )
        if (root / "state.npz").is_file():
            model._set_state(load_arrays(root / "state.npz"))
        return model
