"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018), torch on CPU.

A user is represented by a causal Transformer run over their latest ``max_len`` items, so the
recommendation follows the history's order and changes with every new click. Training is the
paper's causal objective (a window's positions each predict their next item) with a full
softmax cross-entropy over the catalog, as RecBole does with ``train_neg_sample_args: None``.
Histories are cut into overlapping ``max_len`` windows that end every ``stride`` items (the
newest at the last item, the older ones shifted by a random offset each epoch); a window trains
only its last ``stride`` targets, so every target is trained once an epoch and sees at least
``max_len - stride + 1`` items of context (all of its history when that is shorter).
``stride=1`` is RecBole's prefix augmentation (one sample per target, full context); the
default ``stride=max_len`` is the paper's non-overlapping windows, the cheapest.

    model = SASRec().fit(split.train, valid=split)   # early stopping on split's validation NDCG@10
    ids, _ = model.recommend(histories=[[12, 7, 99]], k=10)

The defaults (RecBole's post-LN layout with dropout 0.5, the latest 15 items as context, label
smoothing 0.1 and, when the dataset's items have genres, genre embeddings at the input) are the
configuration chosen on ML-100K validation NDCG@10 (``bench/results/sasrec.md``: 15 and 25 items
beat 50, which beat 200, on two seeds each; ``bench/results/sasrec-round5.md``: label smoothing
0.1 with genres, mean valid 0.0723 over seeds 2020 and 2021 against 0.0708 without either, a gain
within the noise of one split).

With ``valid`` (a :class:`~recstrata.data.split.Split` whose ``train`` is the fitted dataset),
validation NDCG@10 is computed after every epoch with the project's evaluator and the best
epoch's weights are kept (stop after ``patience`` epochs without improvement). Without it the
model trains for ``epochs`` epochs. Validation on a few thousand users is noisy, so with
``average=k`` the kept weights are the mean of the ``k`` best epochs' weights (without
``valid``: of the last ``k`` epochs), a cheap form of snapshot averaging.

With ``ensemble=n`` the model is ``n`` networks trained independently (seeds ``seed``, ``seed + 1``,
..., each with its own early stopping) whose logits are averaged when scoring; it costs ``n`` times
the training and scoring time. ``label_smoothing`` spreads that share of each target's probability
mass uniformly over the catalog in the training loss (Szegedy et al., CVPR 2016).

``history_margin`` m (training only, default 0 = the plain cross-entropy) raises, in the training
loss, the logits of the items a position has itself read (its window's items up to that position,
nothing older) by m, so the network learns to rank what it reads at least m below the next item: a
learned, soft penalty on the window's items, i.e. the no-repeat prior that masking seen items
exploits, limited to the network's own input. On ML-100K (no repeats) the default network puts ~2.5
items of its input window in its top-10, which the unmasked leave-one-out protocol counts as misses;
with m = 2, ~2.1 (``bench/results/sasrec-round8.md``). Scoring is unchanged: no rule acts at scoring
time and the user's older history stays unknown to the network. Leave it at 0 where users do repeat
items (music, groceries).

``repeat_score=True`` adds a learned window mask: a linear map of the network's state to one number,
added to the logits of every item of its input window (positions <= t, as the margin above) in
training and scoring alike, zero at the start: the additive, window-limited form of RepeatNet's
repeat / explore mode (Ren et al., AAAI 2019), with one score for all window items (it cannot tell
items that repeat from items that do not, as RepeatNet's per-item repeat attention can). It matters
only when seen items are ranked (``exclude_seen=False``, or protocols that do not mask, such as
RecBole's leave-one-out): with ``recommend``'s default ``exclude_seen=True`` every window item is
excluded anyway. On ML-100K, where a user rates an item once by construction, it learns about -5.5
and acts as a hard mask of the window (the same top-10 as masking the latest 15 items at scoring
time for 941 of 943 users; ``bench/results/sasrec-round10.md``), so its figures there are those of a
masked model, not comparable with an unmasked SASRec's. The window is ``max_len`` items: a longer
window widens the mask towards the whole history. Off by default.
Histories given as a binary matrix carry no order (items are taken in index order), so the
"window" of such a history is arbitrary; pass item lists.

``tie_shuffle=True`` (training only) puts each run of a user's items that share a timestamp in a
fresh random order every epoch, keeping the order across timestamps: a file's order within a
timestamp is an accident of how it was written, not behaviour, and on ML-100K half of all
consecutive ratings share their second (ratings were submitted a page at a time), so next-item
targets inside such a run teach the network that accident. Needs timestamps on every interaction.

``contrastive`` λ (training only, default 0 = off; the weight of the term) adds λ x InfoNCE
between two dropout views of every trained position's state: a second forward pass of each batch
draws fresh dropout masks (the dropout augmentation of SimCSE, Gao, Yao & Chen, EMNLP 2021, and of
DuoRec, Qiu et al., WSDM 2022), the similarity is the dot product over ``contrastive_temperature``
(1.0, DuoRec's) and the other states of the batch are the negatives; each state's loss is averaged
over its positives (Khosla et al.'s L_out). ``contrastive_positives="target"`` (the default) takes
every state with the same next item as a positive, its other view included (supervised contrastive
learning, the positives DuoRec samples); ``"view"`` takes the other view only and leaves the states
that share the position's next item out of the negatives. Two choices of this project differ from
DuoRec, which contrasts one state per sequence and masks only the pair itself: every trained
position contrasts (positions of one window, which share a prefix, are negatives of one another),
and ``"view"`` drops same-next-item states from the negatives. Without dropout the two views are
equal and ``"view"`` only pushes states apart. It regularises the representation and knows nothing
about which items a user has read.

Cost: the term compares the 2N states of a batch pairwise, N the trained positions (up to
``batch_size x stride``, 1,900 on ML-100K's defaults), so time and memory grow with N²: several
(2N)² matrices, ~60 MB each (float32) at N = 1,900 and ~0.66 GB at ``max_len=50``. On ML-100K (round 11,
``bench/results/sasrec-round11.md``) an epoch took 6-7.4x as long and a fit more than 10x; ``"view"``
lowered validation NDCG@10 on both seeds (mean 0.0689) and ``"target"`` did not beat the margin alone
(0.0743 against 0.0772). Off by default.

Output layer and item features: by default the input item table also scores
the items (tied weights, as in the paper), which makes items the query was built from score high.
``tie_output=False`` gives the network a separate output item table, so how far history items
should rank is learned from the data (no item is masked or told apart as "seen" when scoring: the
model sees only the latest ``max_len`` item IDs, as before). ``output_bias=True`` adds a learned
per-item bias to the logits (a popularity prior). Neither helped on ML-100K validation (round 5),
so both stay off. ``item_features=True`` adds an embedding of each item's genres
(``dataset.genre_matrix``, each item's row normalised to sum 1) to its ID embedding at the input, as
RecBole's SASRecF sums feature and ID embeddings; the genre rows are saved with the weights. The
default ``None`` does so when the dataset's items have genres and not otherwise; ``True`` refuses a
dataset without genres. ``side_vectors`` appends more item knowledge to those rows, L2-normalised:
``"text"`` the all-MiniLM-L6-v2 embedding of each item's text (cached under ``embedding_cache``, as
the two-tower does), ``"als"`` the item factors of an implicit ALS fitted on the same training
interactions (factors = ``dim``, regularization 20, alpha 2); off by default (round 13 in
``bench/results/sasrec-round13.md``).

Optimisation: AdamW (Loshchilov & Hutter, ICLR 2019), so ``weight_decay`` is decoupled from the
gradient step and applies to every parameter (embeddings and LayerNorms included); the default 0.0
is plain Adam. ``schedule="cosine"`` decays the learning rate per epoch along a half cosine from
``learning_rate`` to 0 over ``epochs`` epochs (Loshchilov & Hutter, ICLR 2017), after
``warmup_epochs`` epochs of linear warmup (which also applies to ``"constant"``). Early stopping
usually ends a run well before ``epochs=200``, where a cosine has barely started to decay, so pair
the cosine with a realistic ``epochs`` (e.g. 40). The default ``"constant"`` with no warmup trains
exactly as before these options existed. The rate of every epoch is recorded in
``learning_rates_``. On ML-100K validation neither a cosine over 40 epochs (3 warmup), with or without
``learning_rate=2e-3``, nor ``weight_decay=0.1`` beat the constant rate without decay
(``bench/results/sasrec-round6.md``), so the defaults stay.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np
import scipy.sparse as sp

from recstrata._optional import require
from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError
from recstrata.retrieval._params import check_bool, check_choice, check_int, check_number, check_text, is_int
from recstrata.retrieval._torch import seeded
from recstrata.retrieval.base import Recommender

_NET_PREFIX = "net."
#: what ``side_vectors`` may add to the input item features
SIDE_VECTORS = (None, "text", "als")


class SASRec(Recommender):
    name = "sasrec"
    # artefacts saved before these parameters existed were trained without them
    legacy_params = {"item_features": False, "label_smoothing": 0.0}

    def __init__(
        self,
        max_len: int = 15,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        inner: int = 256,
        dropout: float = 0.5,
        attn_dropout: float = 0.5,
        norm: str = "post",
        stride: int | None = None,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        warmup_epochs: int = 0,
        batch_size: int = 128,
        epochs: int = 200,
        patience: int = 10,
        average: int = 1,
        ensemble: int = 1,
        label_smoothing: float = 0.1,
        history_margin: float = 0.0,
        tie_shuffle: bool = False,
        repeat_score: bool = False,
        contrastive: float = 0.0,
        contrastive_positives: str = "target",
        contrastive_temperature: float = 1.0,
        tie_output: bool = True,
        output_bias: bool = False,
        item_features: bool | None = None,
        side_vectors: str | None = None,
        embedding_cache: str | None = None,
        threads: int | None = None,
        seed: int = 2020,
        verbose: bool = False,
    ) -> None:
        self.max_len = max_len
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.inner = inner
        self.dropout = dropout
        self.attn_dropout = attn_dropout
        self.norm = norm
        self.stride = stride
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.average = average
        self.ensemble = ensemble
        self.label_smoothing = label_smoothing
        self.history_margin = history_margin
        self.tie_shuffle = tie_shuffle
        self.repeat_score = repeat_score
        self.contrastive = contrastive
        self.contrastive_positives = contrastive_positives
        self.contrastive_temperature = contrastive_temperature
        self.tie_output = tie_output
        self.output_bias = output_bias
        self.item_features = item_features
        self.side_vectors = side_vectors
        self.embedding_cache = embedding_cache
        self.threads = threads
        self.seed = seed
        self.verbose = verbose

    # ---- fitting ----------------------------------------------------------------------------------
    def fit(self, dataset: Dataset, valid: Any = None) -> SASRec:
        """Train on ``dataset``'s time-ordered histories; ``valid`` (a Split) enables early stopping."""
        if valid is not None and getattr(valid, "train", None) is not dataset:
            raise ConfigError("valid must be the Split whose .train is the dataset being fitted: fit(split.train, valid=split)")
        self._valid = valid
        try:
            return super().fit(dataset)
        finally:
            del self._valid
            self.__dict__.pop("_times", None)  # training only

    def early_stopped_params(self) -> dict[str, Any]:
        """Parameters under which a fit *without* ``valid=`` trains the network early stopping kept:
        ``{"epochs": best epoch}`` for one network with the constant rate and no averaging (a cosine
        schedule depends on ``epochs`` itself; ensembles and averages keep several epochs); else empty."""
        best = getattr(self, "best_epoch_", [])
        if len(best) != 1 or best[0] is None or self.average != 1 or self.schedule != "constant":
            return {}
        return {"epochs": int(best[0])}

    def check_params(self) -> None:
        check_int(self, "max_len", 2)
        for name in ("dim", "layers", "heads", "inner", "batch_size", "epochs", "patience", "average", "ensemble"):
            check_int(self, name)
        if self.dim % self.heads:
            raise ConfigError(f"SASRec needs dim divisible by heads (each head gets dim / heads), "
                              f"got dim={self.dim} with heads={self.heads}")
        check_int(self, "stride", none="stride = max_len")
        if self.stride is not None and self.stride > self.max_len:
            raise ConfigError(f"SASRec needs 1 <= stride <= max_len (or None), got stride={self.stride} "
                              f"with max_len={self.max_len}")
        for name in ("dropout", "attn_dropout", "label_smoothing"):
            check_number(self, name, 0.0, 1.0, high_open=True)
        check_choice(self, "norm", ("pre", "post"))
        check_choice(self, "schedule", ("constant", "cosine"))
        if not is_int(self.warmup_epochs) or not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"SASRec needs an integer 0 <= warmup_epochs < epochs (0 = no warmup); got "
                              f"warmup_epochs={self.warmup_epochs!r} with epochs={self.epochs}")
        check_number(self, "learning_rate", 0.0, low_open=True)
        check_number(self, "weight_decay", 0.0)
        check_number(self, "history_margin", 0.0, hint=" (0 = the plain cross-entropy)")
        check_number(self, "contrastive", 0.0, hint=" (0 = no contrastive term)")
        check_number(self, "contrastive_temperature", 0.0, low_open=True)
        check_choice(self, "contrastive_positives", ("view", "target"),
                     hint=" ('view': the other dropout view only; 'target': every position with the same next item)")
        for name in ("tie_output", "output_bias", "tie_shuffle", "repeat_score", "verbose"):
            check_bool(self, name)
        if not isinstance(self.item_features, (bool, type(None))):
            raise ConfigError(f"SASRec needs item_features to be True, False or None (genres when the dataset "
                              f"has them); got item_features={self.item_features!r}")
        check_choice(self, "side_vectors", SIDE_VECTORS, hint=" (None: no side vectors)")
        check_text(self, "embedding_cache", path=True, none="no cache")
        check_int(self, "threads", 0, none="every core this process may use, as 0 does")
        check_int(self, "seed", 0)

    def _fit(self, dataset: Dataset) -> None:
        torch = self._torch()
        self.sequences_ = dataset.histories()
        if self.tie_shuffle:
            if not dataset.interactions.has_timestamps:
                raise ConfigError("SASRec(tie_shuffle=True) needs a timestamp on every interaction (items "
                                  "sharing one are shuffled); use tie_shuffle=False for a dataset without "
                                  "them")
            self._times = dataset.history_timestamps()
        use = self.item_features
        if use is None:  # genres when the dataset has them
            use = "genres" in dataset.items.columns and dataset.genre_matrix[0].shape[1] > 0
        rows = ([self._item_feature_rows(dataset)] if use else []) + \
            ([self._side_vector_rows(dataset)] if self.side_vectors else [])
        self.features_ = np.hstack(rows).astype(np.float32) if rows else None
        # per member: valid NDCG@10 by epoch, epochs run, best epoch, epochs whose weights were averaged
        # training record, one entry per ensemble member (lists even for ensemble=1): validation
        # NDCG@10 by epoch, epochs run, best epoch, epochs whose weights were averaged
        self.valid_ndcg_, self.epochs_run_, self.best_epoch_, self.averaged_epochs_ = [], [], [], []
        self.learning_rates_ = []  # per member: the learning rate of each epoch run
        # wall and CPU seconds of every training epoch of every member (CPU time is the fairer figure
        # on a shared machine)
        self.epoch_seconds_, self.epoch_cpu_seconds_ = [], []
        members = []
        with self._threads():
            for seed in range(self.seed, self.seed + self.ensemble):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    self.nets_ = [self._build()]  # scored alone while it trains: its own early stopping
                    self._train(torch, np.random.default_rng(seed))
                members += self.nets_
        self.nets_ = members

    def _train(self, torch, rng: np.random.Generator) -> None:
        """Train ``self.nets_[0]`` (the only net while it trains) and record its run."""
        import time

        from recstrata.evaluation import evaluate

        fn = torch.nn.functional
        net = self.nets_[0]
        opt = torch.optim.AdamW(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        best, stale, best_epoch, epochs_run = -1.0, 0, None, 0
        kept: list[tuple[float, int, dict]] = []  # (valid ndcg or epoch, epoch, weights): the `average` best
        valid_ndcg: list[float] = []
        rates: list[float] = []
        for epoch in range(self.epochs):
            start, cpu = time.perf_counter(), time.process_time()
            for group in opt.param_groups:
                group["lr"] = self._learning_rate(epoch)
            rates.append(opt.param_groups[0]["lr"])
            net.train()
            inputs, targets = self._windows(rng)  # (W, T), (W, T): item rows, 0 = padding / no target
            total = 0.0
            for idx in self._batches(inputs, rng):
                width = int((inputs[idx] > 0).sum(1).max())  # leading all-padding columns are dropped
                x, y = torch.from_numpy(inputs[idx, -width:]), torch.from_numpy(targets[idx, -width:])
                h = net(x)  # (B, T, C)
                keep = y > 0
                logits = net.scores(h[keep])  # (N, n_items)
                if net.repeat is not None:  # learned: the same term scoring adds
                    logits = self._add_read_term(torch, logits, x, keep, net.repeat(h[keep]))
                if self.history_margin:  # training only
                    logits = self._add_read_term(torch, logits, x, keep, self.history_margin)
                loss = fn.cross_entropy(logits, y[keep] - 1, label_smoothing=self.label_smoothing)
                if self.contrastive:  # training only: a second pass draws other dropout masks
                    loss = loss + self.contrastive * self._contrastive_loss(torch, h[keep], net(x)[keep], y[keep])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            self.epoch_seconds_.append(time.perf_counter() - start)
            self.epoch_cpu_seconds_.append(time.process_time() - cpu)
            epochs_run = epoch + 1
            state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if self._valid is None:
                self._log(f"epoch {epoch + 1}: loss {total / len(inputs):.4f} ({self.epoch_seconds_[-1]:.1f}s)")
                kept = sorted(kept + [(epoch, epoch, state)], key=lambda k: -k[0])[: self.average]
                continue
            net.eval()
            ndcg = evaluate(self, self._valid, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
            valid_ndcg.append(ndcg)
            self._log(f"epoch {epoch + 1}: loss {total / len(inputs):.4f} valid ndcg@10 {ndcg:.4f} "
                      f"({self.epoch_seconds_[-1]:.1f}s wall, "
                      f"{self.epoch_cpu_seconds_[-1]:.1f}s CPU)")
            kept = sorted(kept + [(ndcg, epoch, state)], key=lambda k: -k[0])[: self.average]
            if ndcg > best:
                best, stale, best_epoch = ndcg, 0, epoch + 1
            else:
                stale += 1
                if stale >= self.patience:
                    break
        self.valid_ndcg_.append(valid_ndcg)
        self.learning_rates_.append(rates)
        self.epochs_run_.append(epochs_run)
        self.best_epoch_.append(best_epoch)
        self.averaged_epochs_.append(sorted(e + 1 for _, e, _ in kept))
        net.load_state_dict({k: torch.stack([w[k] for _, _, w in kept]).mean(0) for k in kept[0][2]})
        net.eval()

    @staticmethod
    def _add_read_term(torch, logits, x, keep, value):
        """``logits`` (N, n_items) of the positions ``keep`` (B, T) marks in the left-padded input rows
        ``x`` (B, T), each raised by ``value`` (a number, or one per row: (N, 1)) on the items its
        position has read: ``x[b, s]`` for ``s <= t`` (the network's own input, nothing older; an item
        read twice counts once).

        Built for the kept rows only, as an (N, T) index added with one out-of-place ``scatter_add``:
        no (B, T, n_items) mask, so the peak memory stays at twice the logits.
        """
        width = x.shape[1]
        earlier = torch.ones(width, width, dtype=torch.bool).tril(-1)  # [s, s'] = s' < s
        first = (x > 0) & ~((x[:, :, None] == x[:, None, :]) & earlier).any(2)  # (B, T) first reading
        rows, t = keep.nonzero(as_tuple=True)  # (N,) each: the kept positions, in logits' row order
        read = first[rows] & (torch.arange(width)[None, :] <= t[:, None])  # (N, T)
        return logits.scatter_add(1, (x[rows] - 1).clamp(min=0), read.to(logits.dtype) * value)

    def _contrastive_loss(self, torch, first, second, targets):
        """InfoNCE between two dropout views of the same positions (``first``, ``second``: (N, C)
        states; ``targets``: (N,) their next items), over the 2N states of the batch.

        Each state's positives are its other view (``"view"``) or every other state whose position
        has the same next item, its other view included (``"target"``: supervised contrastive
        learning, Khosla et al., NeurIPS 2020, the positives DuoRec samples; the loss is averaged
        over them); with ``"view"`` the states sharing its next item are left out of its negatives
        (they are not negatives). The similarity is the dot product over ``contrastive_temperature``,
        as DuoRec's. Memory: a few (2N, 2N) matrices.
        """
        states = torch.cat([first, second])  # (2N, C)
        same = torch.cat([targets, targets])
        same = same[:, None] == same[None, :]  # (2N, 2N): the same next item, the diagonal included
        itself = torch.eye(len(states), dtype=torch.bool)
        if self.contrastive_positives == "view":
            positive = itself.roll(len(first), 1)  # [i, i + N] and [i + N, i]
            ignored = itself | (same & ~positive)
        else:
            positive = same & ~itself
            ignored = itself
        sim = (states @ states.T / self.contrastive_temperature).masked_fill(ignored, float("-inf"))
        log_p = sim - sim.logsumexp(1, keepdim=True)
        return -(log_p.masked_fill(~positive, 0.0).sum(1) / positive.sum(1)).mean()

    def _learning_rate(self, epoch: int) -> float:
        """The learning rate of 0-based ``epoch``: linear warmup, then constant or cosine decay to 0.

        Warmup epoch ``e`` uses ``(e + 1) / (warmup_epochs + 1)`` of ``learning_rate``, so no epoch
        trains at 0; the cosine then runs from ``learning_rate`` at the first epoch after warmup to
        0 after epoch ``epochs`` (the last epoch's rate is small but not 0). Early stopping may end
        training before the decay does, so ``epochs`` sets the schedule's length.
        """
        import math

        if epoch < self.warmup_epochs:
            return self.learning_rate * (epoch + 1) / (self.warmup_epochs + 1)
        if self.schedule == "constant":
            return self.learning_rate
        done = (epoch - self.warmup_epochs) / (self.epochs - self.warmup_epochs)  # in [0, 1)
        return self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * done))

    def _batches(self, inputs: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Shuffled batches of windows of similar length (less padding), in random order."""
        lengths = (inputs > 0).sum(1)
        order = rng.permutation(len(inputs))
        order = order[np.argsort(lengths[order], kind="stable")]  # random within a length
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _windows(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Left-padded (input, next-item target) windows (W, max_len) x 2; target 0 = not trained.

        The window ending at ``end`` holds inputs ``seq[end - 1 - max_len : end - 1]`` and trains the
        targets ``seq[start : end]``, from where the next older window stops; window ends step back by
        ``stride``, the second newest by a random 1..stride so contexts vary across epochs. The oldest
        window, whose inputs reach the start of the history, trains every target left in it.
        """
        length = self.max_len
        stride = self.stride or length
        sequences = self._epoch_sequences(rng)
        spans = []  # (user, start, end)
        for u, seq in enumerate(sequences):
            end, start = len(seq), len(seq) - int(rng.integers(1, stride + 1))
            while end > 1:
                start = 1 if end - 1 <= length else max(start, 1)  # the oldest window takes all that is left
                spans.append((u, start, end))
                end, start = start, start - stride
        inputs = np.zeros((len(spans), length), np.int64)
        targets = np.zeros((len(spans), length), np.int64)
        for row, (u, start, end) in enumerate(spans):
            seq = sequences[u] + 1  # item rows: 0 is padding
            inp = seq[max(0, end - 1 - length) : end - 1]
            inputs[row, length - len(inp) :] = inp
            targets[row, length - (end - start) :] = seq[start:end]  # seq[j] sits under its input seq[j - 1]
        return inputs, targets

    def _epoch_sequences(self, rng: np.random.Generator) -> list[np.ndarray]:
        """The histories an epoch trains on: as recorded or, with ``tie_shuffle``, each run of items
        sharing a timestamp in a fresh random order (the order across timestamps kept)."""
        if not self.tie_shuffle:
            return self.sequences_
        lengths = np.array([len(s) for s in self.sequences_])
        if not lengths.sum():
            return self.sequences_
        items, times = np.concatenate(self.sequences_), np.concatenate(self._times)
        users = np.repeat(np.arange(len(lengths)), lengths)
        shuffled = items[np.lexsort((rng.random(len(items)), times, users))]
        return np.split(shuffled, np.cumsum(lengths)[:-1])

    # ---- scoring ----------------------------------------------------------------------------------
    def _score_sequences(self, sequences: list[np.ndarray], histories: sp.csr_matrix) -> np.ndarray:
        torch = self._torch()
        width = max([min(len(s), self.max_len) for s in sequences] + [1])
        batch = np.zeros((len(sequences), width), np.int64)  # (B, T) left-padded item rows, T <= max_len
        for row, seq in enumerate(sequences):
            tail = np.asarray(seq, np.int64)[-width:]
            if tail.size:
                batch[row, -tail.size :] = tail + 1
        with self._threads(), torch.inference_mode():
            out = []
            for s in range(0, len(batch), 1024):
                x = torch.from_numpy(batch[s : s + 1024])
                out.append(sum(self._logits(net, x) for net in self.nets_).numpy() / len(self.nets_))
        return np.concatenate(out) if out else np.zeros((0, self.n_items_), np.float32)

    def _logits(self, net, batch):
        """One network's scores (B, n_items) for left-padded item rows (B, T)."""
        net.eval()
        h = net(batch)[:, -1]  # (B, C): the state after the latest item
        logits = net.scores(h)  # (B, n_items)
        if net.repeat is None:
            return logits
        torch = self._torch()
        last = torch.zeros(batch.shape, dtype=torch.bool)
        last[:, -1] = True  # the latest position has read the whole window
        return self._add_read_term(torch, logits, batch, last, net.repeat(h))

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._score_sequences([self.sequences_[u] for u in users], self.seen_[users])

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        # a binary matrix carries no order: items are taken in index order (pass item lists instead)
        return self._score_sequences([histories[r].indices for r in range(histories.shape[0])], histories)

    def item_vectors(self) -> np.ndarray:
        """(n_items, ensemble * dim): the members' output embeddings side by side (for similarity and
        export; a user's state depends on the whole sequence, so SASRec is not served by ANN search)."""
        self._check_fitted()
        return np.concatenate([net.item_table().detach().numpy() for net in self.nets_], axis=1)

    # ---- persistence ------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        lengths = np.array([len(s) for s in self.sequences_], np.int64)
        state = {
            "seq_items": np.concatenate(self.sequences_).astype(np.int64) if self.sequences_ else np.zeros(0, np.int64),
            "seq_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        }
        for m, net in enumerate(self.nets_):
            for key, tensor in net.state_dict().items():
                if m and key == "item_features":  # the same rows in every member: saved once, with member 0
                    continue
                state[f"{_NET_PREFIX}{m}.{key}"] = tensor.detach().numpy()
        return state

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        torch = self._torch()
        offsets, items = arrays["seq_offsets"], arrays["seq_items"]
        self.sequences_ = [items[offsets[u] : offsets[u + 1]] for u in range(len(offsets) - 1)]
        # the networks' buffers hold the feature rows; _build only needs their shape
        rows = arrays.get(f"{_NET_PREFIX}0.item_features")
        self.features_ = None if rows is None else np.asarray(rows, np.float32)[1:]
        weights: dict[int, dict] = {}  # member -> its state dict
        for key, value in arrays.items():
            if key.startswith(_NET_PREFIX):
                member, name = key[len(_NET_PREFIX) :].split(".", 1)
                if not member.isdigit():  # saved before ensembles: one network, no member index
                    member, name = "0", key[len(_NET_PREFIX) :]
                weights.setdefault(int(member), {})[name] = torch.from_numpy(np.array(value))
        # members after the first share member 0's feature rows (older artefacts hold copies)
        for m in weights:
            if m and rows is not None:
                weights[m].setdefault("item_features", weights[0]["item_features"])
        self.nets_ = []
        for m in sorted(weights):
            with seeded(self.seed):  # the initial weights are overwritten: leave the caller's RNG alone
                self.nets_.append(self._build())
            self.nets_[-1].load_state_dict(weights[m])
            self.nets_[-1].eval()

    # ---- helpers ----------------------------------------------------------------------------------
    def _torch(self):
        return require("torch", extra="torch", purpose="the SASRec model")

    def _build(self):
        from recstrata.retrieval._sasrec_net import SASRecNet

        torch = self._torch()
        features = getattr(self, "features_", None)
        net = SASRecNet(self.n_items_, self.max_len, self.dim, self.layers, self.heads, self.inner,
                        self.dropout, self.attn_dropout, self.norm, tie_output=self.tie_output,
                        output_bias=self.output_bias, repeat_score=self.repeat_score,
                        n_features=0 if features is None else features.shape[1])
        if features is not None:
            with torch.no_grad():
                net.item_features[1:] = torch.from_numpy(features)
        return net

    @staticmethod
    def _item_feature_rows(dataset: Dataset) -> np.ndarray:
        """(n_items, G) genre rows normalised to sum 1 (all zero for an item without genres)."""
        if "genres" not in dataset.items.columns:
            raise ConfigError("SASRec(item_features=True) needs item genres (a 'genres' column in the "
                              "dataset's items); use item_features=False for a dataset without them")
        genres, _ = dataset.genre_matrix  # (n_items, G) binary CSR
        if genres.shape[1] == 0:
            raise ConfigError("SASRec(item_features=True) found no genres in the dataset's items; "
                              "use item_features=False")
        rows = np.asarray(genres.todense(), np.float32)
        return rows / np.maximum(rows.sum(1, keepdims=True), 1.0)

    def _side_vector_rows(self, dataset: Dataset) -> np.ndarray:
        """(n_items, d) L2-normalised item vectors: the MiniLM embedding of each item's text, or the
        item factors of an implicit ALS fitted on ``dataset`` (factors = ``dim``)."""
        if self.side_vectors == "text":
            from recstrata.data.embeddings import item_text_embeddings

            vectors = item_text_embeddings(dataset, cache_dir=self.embedding_cache)
        else:
            from recstrata.retrieval.als import ALS

            vectors = ALS(factors=self.dim, regularization=20.0, alpha=2.0, seed=self.seed).fit(dataset).item_vectors()
        vectors = np.asarray(vectors, np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    @contextlib.contextmanager
    def _threads(self):
        """Run torch with ``threads`` threads (default: every core this process may use), then restore."""
        torch = self._torch()
        wanted = self.threads
        if not wanted:
            wanted = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        before = torch.get_num_threads()
        torch.set_num_threads(max(1, int(wanted or 1)))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _log(self, message: str) -> None:
        if self.verbose:
            print(f"[sasrec] {message}", flush=True)
