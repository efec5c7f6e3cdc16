"""Two-tower retrieval trained with sampled softmax over in-batch negatives and logQ correction.

Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations",
RecSys 2019: in-batch negatives are sampled in proportion to item frequency, so each logit is
corrected by ``- log Q(item)`` (``Q`` = the item's share of training events), which makes the
sampled softmax an unbiased estimate of the full one instead of a popularity-penalised one.

    model = TwoTower(dim=64).fit(train)                                   # text via MiniLM, cached
    model = TwoTower().fit(train, text_embeddings=vecs,                   # or bring your own vectors
                           item_features={"llm_tags": tag_matrix},        # extra multi-hot item features
                           hard_negatives={user: [items...]})             # extra negatives per user
    model.recommend(histories=[[3, 17, 42]], k=10)                        # new events: no retraining
    model.item_vectors()                                                  # (n_items, dim) for an ANN index

``ensemble=n`` trains n tower pairs with seeds ``seed`` .. ``seed + n - 1`` (each exactly as it would
be trained alone) and concatenates their vectors, so one dot product - one ANN search over
``item_vectors()`` of width ``n * dim`` - scores the members' mean: seed variance is large for a
model this size (ML-100K validation NDCG@10 0.255-0.262 across four seeds; bench/results/ranker-round3.md).

The user tower only reads the history, so ``_score_histories`` is the whole scoring path (order is
ignored: ordered histories score like their sets). Each training example pools the user's history
*minus the target* so the target never describes the user it is predicted for. Items unseen in
training get a zero ID embedding and are placed by text/genre/year/extra features alone; ID
dropout while training teaches the content path to stand alone.

``rating_weight`` β > 0 weights each training positive's softmax term by ``1 - β + β * rating / top
rating`` (the cells of :func:`~recstrata.retrieval._item_item.weighted_interactions`; the batch loss
is the weighted mean, so the step size stays that of the binary model): highly rated items pull the
user vector harder. Training only - histories stay sets and scoring is unchanged. Default 0: binary.

Cost: a training step runs the item tower only over the items the batch uses (its targets, the
sampled history items, the hard negatives); the whole catalog goes through the tower once, after
training, for the exported vectors (``bench/two_tower_scale.py``). With dense AdamW a step still
updates every row of the two ID tables (13.7 ms at 10,000 items, 1,070 ms at 1,000,000); lazy Adam
(below) leaves ~50 ms at 1,000,000.

``lazy_adam=True`` updates the two ID tables with lazy (row-sparse) Adam: a step reads and writes only
the rows it looked up with their ID kept, instead of AdamW's pass over every row, which is most of a
step's cost at a million items. It is a different optimiser (a row not looked up keeps its moments
undecayed and gets no momentum step, while a row looked up with a zero gradient, e.g. a target's
history-table row, does take one, as in TensorFlow's LazyAdam; ``weight_decay`` shrinks only the rows
a step looked up, decoupled as in AdamW, so rarely read rows are barely decayed: the same
``weight_decay`` regularises less than under AdamW); the rest of the model keeps AdamW. See ``two_tower/optim.py``. ``False`` is dense AdamW; the
default ``None`` picks lazy Adam for catalogs of ``LAZY_ADAM_FROM_ITEMS`` (50,000) items or more and
AdamW below; the choice made is ``lazy_adam_`` (saved). A catalog that grows past the threshold
between retrains changes optimiser. Measured (``BENCHMARKS.md``): per-step CPU 104.6 -> 26.3 ms at 100k
items and 1,070 -> 49.5 ms at 1M, while at 10k lazy is slower (12.6 vs 11.5 ms, fastest of three fits); validation NDCG@10
no worse on ML-100K (1,682 items, four seeds) nor on a synthetic 100k-item catalog where most rows go
untouched for many steps (two seeds, 3 epochs, weight decay 0: ``bench/two_tower_lazy_quality.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Self

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.data.embeddings import DEFAULT_MODEL, item_text_embeddings
from recstrata.errors import ConfigError, DataError, RecstrataError
from recstrata.retrieval._torch import (
    load_module_arrays,
    module_arrays,
    seeded,
    sparse_tensor,
    threads as torch_threads,
    torch_module,
)
from recstrata.retrieval._item_item import check_rating_weight, weighted_interactions
from recstrata.retrieval._params import check_bool, check_int, check_number, check_text
from recstrata.retrieval.base import Recommender
from recstrata.retrieval.two_tower.features import categorical_features, hard_negative_matrix


# with lazy_adam=None, catalogs of this many items or more train their ID tables with lazy Adam
LAZY_ADAM_FROM_ITEMS = 50_000


class TwoTower(Recommender):
    name = "two_tower"
    # artefacts saved before lazy_adam existed were trained (and refit) with dense AdamW
    legacy_params = {"lazy_adam": False}

    def __init__(
        self,
        dim: int = 64,
        text: bool = True,
        genres: bool = True,
        year: bool = True,
        history_ids: bool = True,
        attention: bool = True,
        temperature: float = 0.05,
        logq: bool = True,
        id_dropout: float = 0.2,
        max_history: int = 50,
        epochs: int = 40,
        batch_size: int = 1024,
        learning_rate: float = 3e-3,
        weight_decay: float = 0.0,
        text_model: str = DEFAULT_MODEL,
        embedding_cache: str | None = None,
        seed: int = 2020,
        ensemble: int = 1,
        threads: int | None = 1,
        rating_weight: float = 0.0,
        lazy_adam: bool | None = None,
    ) -> None:
        self.dim = dim
        self.text = text
        self.genres = genres
        self.year = year
        self.history_ids = history_ids
        self.attention = attention
        self.temperature = temperature
        self.logq = logq
        self.id_dropout = id_dropout
        self.max_history = max_history
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.text_model = text_model
        self.embedding_cache = embedding_cache
        self.seed = seed
        self.ensemble = ensemble
        self.threads = threads
        self.rating_weight = rating_weight
        self.lazy_adam = lazy_adam

    # ---- fitting ----------------------------------------------------------------------------------
    def fit(
        self,
        dataset: Dataset,
        *,
        text_embeddings: np.ndarray | None = None,
        text_encoder: Callable[[list[str]], np.ndarray] | None = None,
        item_features: Mapping[str, sp.spmatrix | np.ndarray] | None = None,
        hard_negatives: Mapping[int, Sequence[int] | np.ndarray] | np.ndarray | None = None,
    ) -> Self:
        """Train on ``dataset``. The keyword inputs are data, not hyper-parameters (not saved):

        ``text_embeddings`` (n_items, t) replace the MiniLM item-text vectors; ``text_encoder`` is a
        callable used instead of MiniLM (tests); ``item_features`` maps a name to an (n_items, k)
        multi-hot/weighted matrix (e.g. LLM tags via ``tags_to_matrix``); ``hard_negatives`` gives
        extra negatives per user: ``{user: items}`` or an (m, 2) array of (user, item) pairs.
        """
        self._inputs = {"text_embeddings": text_embeddings, "text_encoder": text_encoder,
                        "item_features": item_features, "hard_negatives": hard_negatives}
        try:
            return super().fit(dataset)
        finally:
            del self._inputs

    def _text_matrix(self, dataset: Dataset) -> np.ndarray | None:
        if not self.text:
            return None
        given = self._inputs["text_embeddings"]
        if given is not None:
            given = np.asarray(given, dtype=np.float32)
            if given.ndim != 2 or given.shape[0] != dataset.n_items:
                raise DataError(f"text_embeddings must be (n_items={dataset.n_items}, d), got {given.shape}")
            return given
        return item_text_embeddings(dataset, model=self.text_model, cache_dir=self.embedding_cache,
                                    encoder=self._inputs["text_encoder"])

    def check_params(self) -> None:
        for name in ("dim", "max_history", "epochs"):
            check_int(self, name)
        check_int(self, "batch_size", 2)  # in-batch negatives: a batch of one has none
        check_int(self, "ensemble")  # towers trained with seeds seed, seed + 1, ...
        check_int(self, "seed", 0)
        check_int(self, "threads", none="torch's default")
        for name in ("text", "genres", "year", "history_ids", "attention", "logq"):
            check_bool(self, name)
        check_number(self, "temperature", 0.0, low_open=True)
        check_number(self, "id_dropout", 0.0, 1.0, high_open=True)
        check_number(self, "learning_rate", 0.0, low_open=True)
        check_number(self, "weight_decay", 0.0)
        check_text(self, "text_model")
        check_text(self, "embedding_cache", path=True, none="no cache")
        check_rating_weight(self)
        if not isinstance(self.lazy_adam, (bool, type(None))):
            raise ConfigError(f"TwoTower needs lazy_adam to be True (lazy Adam for the ID tables), False "
                              f"(AdamW) or None (lazy from {LAZY_ADAM_FROM_ITEMS:,} items on); "
                              f"got lazy_adam={self.lazy_adam!r}")

    def _fit(self, dataset: Dataset) -> None:
        torch = torch_module(f"the {self.name} model")
        with torch_threads(self.threads):
            text = self._text_matrix(dataset)
            feats = categorical_features(dataset, genres=self.genres, year=self.year,
                                         extra=self._inputs["item_features"])
            hard = hard_negative_matrix(self._inputs["hard_negatives"], dataset.n_users, dataset.n_items)
            if hard is not None and hard.nnz == 0:
                hard = None
            members = [self._fit_member(torch, dataset, text, feats, hard, seed)
                       for seed in range(self.seed, self.seed + self.ensemble)]
        self.item_vectors_ = np.concatenate([m[0] for m in members], axis=1)  # (N, ensemble * dim)
        self.members_ = [m[1:] for m in members]

    def _fit_member(self, torch, dataset: Dataset, text, feats, hard, seed: int):
        """Train one pair of towers: (item vectors, history vectors, history logits, user tower)."""
        from recstrata.retrieval.two_tower.optim import tower_optimiser
        from recstrata.retrieval.two_tower.towers import ItemTower, UserTower

        X = dataset.user_items  # (U, N) binary
        users = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        items = X.indices.astype(np.int64)
        # (P,) loss weight per training pair, aligned with X's cells (same pairs, same order); None = binary
        weights = None
        if self.rating_weight > 0:
            cells = weighted_interactions(dataset, self.rating_weight)
            if not (np.array_equal(cells.indptr, X.indptr) and np.array_equal(cells.indices, X.indices)):
                raise RecstrataError("rating weights do not line up with the interactions (a recstrata bug)")
            weights = cells.data.astype(np.float32)
        counts = np.bincount(items, minlength=dataset.n_items).astype(np.float64)
        trained = counts > 0
        log_q = np.log(np.maximum(counts, 1.0) / len(items)).astype(np.float32)
        rng = np.random.default_rng(seed)

        lazy = self.lazy_adam if self.lazy_adam is not None else dataset.n_items >= LAZY_ADAM_FROM_ITEMS
        self.lazy_adam_ = bool(lazy)  # the optimiser this fit used (the default decides by catalog size)
        with seeded(seed):
            item_tower = ItemTower(dataset.n_items, self.dim, 0 if text is None else text.shape[1],
                                   feats.shape[1], self.history_ids, sparse=lazy)
            user_tower = UserTower(self.dim, self.attention)
        opt = tower_optimiser(item_tower, user_tower, self.learning_rate, self.weight_decay, lazy)
        feats = feats if feats.shape[1] else None
        log_q_t = torch.from_numpy(log_q)

        for _ in range(self.epochs):
            order = rng.permutation(len(items))
            for start in range(0, len(order), self.batch_size):
                b = order[start : start + self.batch_size]
                if len(b) < 2:
                    continue
                keep = self._id_mask(trained, rng, lazy)
                loss = self._batch_loss(torch, item_tower, user_tower, X, users[b], items[b], keep, text,
                                        feats, log_q_t, hard, rng, None if weights is None else weights[b])
                opt.zero_grad()
                loss.backward()
                opt.step()

        with torch.no_grad():  # every item's vectors: the whole catalog in one pass
            target, history = item_tower(torch.from_numpy(trained.astype(np.float32)),
                                         None if text is None else torch.from_numpy(text),
                                         None if feats is None else sparse_tensor(feats))
            logits = user_tower.item_logits(history)
        return target.numpy().copy(), history.numpy().copy(), logits.numpy().copy(), user_tower.eval()

    def _id_mask(self, trained: np.ndarray, rng: np.random.Generator, lazy: bool):
        """This step's ID-dropout mask as a function of the rows the step uses ((R,) -> (R,) bool).

        Dense AdamW (small catalogs) draws it for the whole catalog before the step, the random
        stream every recorded small-catalog figure was measured with; with lazy Adam (big catalogs)
        only the step's rows are drawn: at 1M items a whole-catalog draw cost ~5-8 ms of a ~50 ms step."""
        if not lazy:
            mask = trained & (rng.random(len(trained)) >= self.id_dropout)  # (N,)
            return lambda rows: mask[rows]
        return lambda rows: trained[rows] & (rng.random(len(rows)) >= self.id_dropout)

    def _batch_loss(self, torch, item_tower, user_tower, X, u, i, keep, text, feats, log_q_t, hard, rng,
                    weights=None):
        """Sampled-softmax loss of one batch of (user, positive item) pairs: u, i are (B,) arrays;
        ``keep`` maps the step's rows (R,) to whether their ID embedding is used (``_id_mask``), ``text`` (N, t) or None,
        ``feats`` (N, f) CSR or None are the catalog's inputs; ``weights`` (B,) per positive, or None
        for the plain mean.

        Only the items the batch uses (its targets, the sampled history items and the hard negatives)
        go through the item tower: the loss and its gradients are those of the whole catalog's step."""
        idx, valid = self._sample_histories(X, u, i, rng)  # (B, L) each
        picks, has_hard = self._hard_picks(hard, u, rng) if hard is not None else (None, None)
        rows = np.unique(np.concatenate([i, idx.ravel()] + ([] if picks is None else [picks])))  # (R,)
        target, history = item_tower(torch.from_numpy(keep(rows).astype(np.float32)),
                                     None if text is None else torch.from_numpy(text[rows]),
                                     None if feats is None else sparse_tensor(feats[rows]),
                                     torch.from_numpy(rows))  # (R, d) each

        def local(a: np.ndarray):  # item indices -> rows of target / history
            return torch.from_numpy(np.searchsorted(rows, a))

        i_t = local(i)
        user_vecs = user_tower.forward_sampled(local(idx), torch.from_numpy(valid), history,
                                               user_tower.item_logits(history))  # (B, d)
        logits = user_vecs @ target[i_t].T / self.temperature  # (B, B): row b, column = batch item j
        if self.logq:
            logits = logits - log_q_t[torch.from_numpy(i)][None, :]
        # accidental hits: a batch item the user has interacted with is not a negative for that user
        hits = np.asarray(X[u][:, i].todense(), dtype=bool)
        np.fill_diagonal(hits, False)
        logits = logits.masked_fill(torch.from_numpy(hits), float("-inf"))
        if picks is not None:
            hard_logits = (user_vecs * target[local(picks)]).sum(-1) / self.temperature  # (B,)
            hard_logits = hard_logits.masked_fill(torch.from_numpy(~has_hard), float("-inf"))  # no hard negative
            logits = torch.cat([logits, hard_logits[:, None]], dim=1)
        labels = torch.arange(len(u))
        if weights is None:
            return torch.nn.functional.cross_entropy(logits, labels)
        w = torch.from_numpy(weights)
        per_pair = torch.nn.functional.cross_entropy(logits, labels, reduction="none")  # (B,)
        return (w * per_pair).sum() / w.sum().clamp_min(1e-12)

    def _sample_histories(self, X, u, i, rng) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``max_history`` items of each user's history except the target: (B, L) indices + 0/1 mask.

        Histories no longer than L are taken whole; longer ones are sampled with replacement.
        """
        L = self.max_history
        start, n = X.indptr[u][:, None], np.diff(X.indptr)[u][:, None]  # (B, 1)
        whole = np.broadcast_to(np.arange(L), (len(u), L))
        sampled = (rng.random((len(u), L)) * n).astype(np.int64)
        off = np.where(n <= L, np.minimum(whole, np.maximum(n - 1, 0)), sampled)
        idx = X.indices[np.minimum(start + off, X.nnz - 1)].astype(np.int64)
        valid = ((whole < n) | (n > L)) & (idx != i[:, None])
        return idx, valid.astype(np.float32)

    @staticmethod
    def _hard_picks(hard, u, rng) -> tuple[np.ndarray, np.ndarray]:
        """One hard negative drawn per row's user (B,), and whether that user has any (B,) bool."""
        start, count = hard.indptr[u], np.diff(hard.indptr)[u]
        pick = hard.indices[np.minimum(start + (rng.random(len(u)) * count).astype(np.int64), hard.nnz - 1)]
        return pick.astype(np.int64), count > 0

    # ---- scoring ----------------------------------------------------------------------------------
    def user_vectors(self, users: Sequence[int] | np.ndarray | None = None, *,
                     histories: sp.spmatrix | None = None) -> np.ndarray:
        """(n, ensemble * dim) unit user vectors for known users (their training history) or for
        ``histories``: each member's unit vector scaled by 1/sqrt(ensemble), concatenated, so the dot
        product with :meth:`item_vectors` is the members' mean score times sqrt(ensemble)."""
        self._check_fitted()
        if histories is None:
            histories = self.seen_ if users is None else self.seen_[np.asarray(users, dtype=np.int64)]
        torch = torch_module(f"the {self.name} model")
        scale = 1.0 / np.sqrt(len(self.members_))
        with torch.no_grad(), torch_threads(self.threads):
            h = sparse_tensor(histories)
            vecs = [tower(h, torch.from_numpy(vectors), torch.from_numpy(logits)).numpy()
                    for vectors, logits, tower in self.members_]
        return np.concatenate(vecs, axis=1) * np.float32(scale) if len(vecs) > 1 else vecs[0]

    def query_vectors(self, users=None, *, histories: sp.csr_matrix | None = None) -> np.ndarray:
        """The user tower's output for known ``users`` (their training history) or ``histories``."""
        if histories is None:
            return self.user_vectors(np.asarray(users, dtype=np.int64))
        return self.user_vectors(histories=histories)

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return self.user_vectors(histories=histories) @ self.item_vectors_.T

    def item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    # ---- persistence ------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        out = {"item_vectors": self.item_vectors_, "lazy_adam": np.array(getattr(self, "lazy_adam_", False))}
        for j, (vectors, logits, tower) in enumerate(self.members_):
            prefix = "" if j == 0 else f"member{j}."  # member 0 keeps the single-model keys
            out |= {f"{prefix}history_vectors": vectors, f"{prefix}history_logits": logits,
                    **module_arrays(tower, f"{prefix}user_tower.")}
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        torch_module(f"the {self.name} model")
        from recstrata.retrieval.two_tower.towers import UserTower

        self.item_vectors_ = arrays["item_vectors"]
        if "lazy_adam" in arrays:
            self.lazy_adam_ = bool(arrays["lazy_adam"])
        else:  # not saved: the parameter decides (False for artefacts older than the option: legacy_params)
            lazy = self.lazy_adam
            self.lazy_adam_ = bool(lazy if lazy is not None else self.n_items_ >= LAZY_ADAM_FROM_ITEMS)
        self.members_ = []
        for j in range(self.ensemble):
            prefix = "" if j == 0 else f"member{j}."
            with seeded(self.seed):  # the initial weights are overwritten: leave the caller's RNG alone
                tower = UserTower(self.dim, self.attention)
            load_module_arrays(tower, arrays, f"{prefix}user_tower.")
            self.members_.append((arrays[f"{prefix}history_vectors"], arrays[f"{prefix}history_logits"], tower.eval()))
