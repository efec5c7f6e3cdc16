"""Deterministic train / validation / test splits (named protocols, see DESIGN.md).

- ``ratio``: per-user random 80/10/10 after a global shuffle (RecBole's default protocol);
- ``loo``: leave-one-out by time (last event = test, second last = validation);
- ``cold-items``: a fraction of items never seen in training; half of them validate, half test;
- ``temporal``: one global time cut for validation and one for test;
- ``from-files``: an externally given split (e.g. the exact files RecBole builds).

Every part shares the full dataset's id maps and catalog. The evaluation of a part excludes
what the model has already seen: train items for validation, train + validation for test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset, Interactions
from recstrata.data.loaders._frames import (
    ids_column,
    numeric_column,
    rating_column,
    require_columns,
    timestamp_column,
)
from recstrata.data.loaders.tabular import read_table
from recstrata.errors import ConfigError, DataError

PROTOCOLS = ("ratio", "loo", "cold-items", "temporal", "from-files")


@dataclass(frozen=True, eq=False)
class Split:
    """Three datasets over the same users and items, plus what evaluation needs to know."""

    protocol: str
    train: Dataset
    valid: Dataset
    test: Dataset
    params: dict = field(default_factory=dict)
    valid_candidates: np.ndarray | None = None  # item indices ranked for validation (None = all items)
    test_candidates: np.ndarray | None = None
    exclude_seen: bool = True  # RecBole's sequential protocol ranks seen items too
    #: sequential protocols score each user from the time-ordered history (train, + valid for test)
    sequential: bool = False

    def seen(self, part: str) -> sp.csr_matrix:
        """Items to exclude when ranking for ``part``: train for validation, train + valid for test."""
        if part == "valid":
            return self.train.user_items
        if part == "test":
            both = self.train.user_items + self.valid.user_items
            both.data[:] = 1.0
            return both
        raise ConfigError(f"part must be 'valid' or 'test', not {part!r}")

    def sequences(self, part: str) -> list[np.ndarray]:
        """Time-ordered input histories for ranking ``part``: train events (+ valid events for test)."""
        if part == "valid":
            return self.train.histories()
        inter = self.train.interactions
        both = Interactions.from_arrays(
            np.concatenate([inter.user, self.valid.interactions.user]),
            np.concatenate([inter.item, self.valid.interactions.item]),
            None,
            np.concatenate([inter.timestamp, self.valid.interactions.timestamp]),
        )
        return self.train.with_interactions(both).histories()

    def part(self, name: str) -> Dataset:
        if name not in ("train", "valid", "test"):
            raise ConfigError(f"split part must be train, valid or test, not {name!r}")
        return getattr(self, name)

    def candidates(self, part: str) -> np.ndarray | None:
        return self.valid_candidates if part == "valid" else self.test_candidates

    def __repr__(self) -> str:
        return (
            f"Split({self.protocol}: train {len(self.train):,}, valid {len(self.valid):,}, "
            f"test {len(self.test):,})"
        )


def _parts(ds: Dataset, assign: np.ndarray, protocol: str, **kw) -> Split:
    """assign[i] in {0, 1, 2} = train / valid / test for interaction row i."""
    inter = ds.interactions
    return Split(
        protocol=protocol,
        train=ds.with_interactions(inter.take(assign == 0), f"{ds.name}/train"),
        valid=ds.with_interactions(inter.take(assign == 1), f"{ds.name}/valid"),
        test=ds.with_interactions(inter.take(assign == 2), f"{ds.name}/test"),
        **kw,
    )


def _check_ratios(ratios: tuple[float, float, float]) -> None:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")


def _group_counts(total: int, ratios: tuple[float, float, float]) -> tuple[int, int, int]:
    """How many of a user's ``total`` events go to train / valid / test (RecBole's rounding:
    floor the small parts, give the rest to train, but lend a tiny part one event while train keeps > 1)."""
    cnt = [int(r * total) for r in ratios]
    cnt[0] = total - sum(cnt[1:])
    for i in (1, 2):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * total < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt[0], cnt[1], cnt[2]


def ratio_split(ds: Dataset, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 2020) -> Split:
    """Per-user random split: shuffle all events globally (seeded), then cut each user's events."""
    _check_ratios(ratios)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds))
    users = ds.interactions.user[order]
    grouped = order[np.argsort(users, kind="stable")]  # per user, in shuffled order
    counts = np.bincount(ds.interactions.user, minlength=ds.n_users)
    assign = np.zeros(len(ds), np.int8)
    start = 0
    for total in counts:
        if total:
            n_tr, n_va, _ = _group_counts(int(total), ratios)
            rows = grouped[start : start + total]
            assign[rows[n_tr : n_tr + n_va]] = 1
            assign[rows[n_tr + n_va :]] = 2
        start += total
    return _parts(ds, assign, "ratio", params={"ratios": list(ratios), "seed": seed})


def loo_split(ds: Dataset, exclude_seen: bool = True) -> Split:
    """Leave-one-out by time: each user's last event is test, the one before is validation.

    Users with fewer than 3 events keep everything in train. Ties in time keep file order.
    """
    inter = ds.interactions
    order = np.lexsort((np.arange(len(ds)), inter.timestamp, inter.user))
    users = inter.user[order]
    counts = np.bincount(users, minlength=ds.n_users)
    ends = np.cumsum(counts)
    eligible = counts >= 3
    assign = np.zeros(len(ds), np.int8)
    assign[order[ends[eligible] - 1]] = 2
    assign[order[ends[eligible] - 2]] = 1
    return _parts(ds, assign, "loo", params={"exclude_seen": exclude_seen}, exclude_seen=exclude_seen,
                  sequential=True)


def cold_item_split(ds: Dataset, fraction: float = 0.1, seed: int = 2020) -> Split:
    """Hold ``fraction`` of the interacted items out of training; half validate, half test.

    Rankings for each part are restricted to that part's cold items (``*_candidates``), which is
    what a cold-start recommender must do: rank new items for existing users.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.bincount(ds.interactions.item, minlength=ds.n_items))
    n_cold = max(2, int(round(fraction * len(active))))
    cold = rng.choice(active, size=n_cold, replace=False)
    valid_items, test_items = np.sort(cold[: n_cold // 2]), np.sort(cold[n_cold // 2 :])
    item = ds.interactions.item
    assign = np.zeros(len(ds), np.int8)
    assign[np.isin(item, valid_items)] = 1
    assign[np.isin(item, test_items)] = 2
    return _parts(
        ds,
        assign,
        "cold-items",
        params={"fraction": fraction, "seed": seed},
        valid_candidates=valid_items,
        test_candidates=test_items,
    )


def temporal_split(ds: Dataset, valid_fraction: float = 0.1, test_fraction: float = 0.1) -> Split:
    """Global time cut: the latest ``test_fraction`` of events test, the ``valid_fraction`` before validate."""
    if not ds.interactions.has_timestamps:
        raise DataError(f"{ds.name}: the temporal protocol needs timestamps on every interaction")
    if valid_fraction <= 0 or test_fraction <= 0 or valid_fraction + test_fraction >= 1:
        raise ConfigError("valid_fraction and test_fraction must be positive and sum to less than 1")
    ts = ds.interactions.timestamp
    order = np.lexsort((np.arange(len(ds)), ts))
    n = len(ds)
    n_test, n_valid = int(round(test_fraction * n)), int(round(valid_fraction * n))
    assign = np.zeros(n, np.int8)
    assign[order[n - n_test - n_valid : n - n_test]] = 1
    assign[order[n - n_test :]] = 2
    cut_valid, cut_test = int(ts[order[n - n_test - n_valid]]), int(ts[order[n - n_test]])
    return _parts(
        ds,
        assign,
        "temporal",
        params={"valid_fraction": valid_fraction, "test_fraction": test_fraction,
                "valid_from": cut_valid, "test_from": cut_test},
    )


def split_from_files(
    ds: Dataset, directory: str | os.PathLike[str], *, exclude_seen: bool | None = None,
    sequential: bool | None = None,
) -> Split:
    """Use ``train.csv``, ``valid.csv`` and ``test.csv`` from ``directory`` (columns user_id,
    item_id[, rating, timestamp, pos]); every id must exist in ``ds``.

    A ``pos`` column (0-based position in the user's sequence, as in RecBole's sequential
    split) marks a sequential split: events are ordered by it, models get ordered histories and,
    as RecBole does there, seen items are not excluded. Both can be forced with the arguments.
    """
    root = Path(directory)
    parts = {}
    for name in ("train", "valid", "test"):
        path = root / f"{name}.csv"
        df = read_table(path)
        file = str(path)
        require_columns(df, ["user_id", "item_id"], file)
        users = ds.user_ids.to_index(ids_column(df, "user_id", file), missing="mask")
        items = ds.item_ids.to_index(ids_column(df, "item_id", file), missing="mask")
        for col, idx in (("user_id", users), ("item_id", items)):
            if (idx < 0).any():
                row = int(np.flatnonzero(idx < 0)[0])
                raise DataError(
                    f"id {df[col].iloc[row]!r} is not in dataset {ds.name!r}: the split must come from this dataset",
                    file=file, row=row + 2, column=col,
                )
        weight = rating_column(df, "rating", file) if "rating" in df else None
        stamps = timestamp_column(df, "timestamp", file) if "timestamp" in df else None
        if "pos" in df:  # the sequence position is the authoritative order (timestamps tie)
            stamps = numeric_column(df, "pos", file).astype(np.int64)
            has_pos = True
        else:
            has_pos = False
        parts[name] = ds.with_interactions(
            Interactions.from_arrays(users, items, weight, stamps), f"{ds.name}/{name}"
        )
    sequential = has_pos if sequential is None else sequential
    exclude_seen = (not sequential) if exclude_seen is None else exclude_seen
    return Split(
        protocol="from-files",
        params={"directory": str(root), "exclude_seen": exclude_seen, "sequential": sequential},
        exclude_seen=exclude_seen,
        sequential=sequential,
        **parts,
    )


def check_protocol(protocol: str, split_dir: str | None = None) -> None:
    """ConfigError for a protocol :func:`make_split` does not know, or 'from-files' without its folder."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if protocol == "from-files" and split_dir is None:
        raise ConfigError("protocol 'from-files' needs split_dir (the folder with train/valid/test.csv)")


def make_split(ds: Dataset, protocol: str, *, seed: int = 2020, split_dir: str | None = None, **kw) -> Split:
    """Build a split by protocol name (see :data:`PROTOCOLS`)."""
    check_protocol(protocol, split_dir)
    if protocol == "ratio":
        return ratio_split(ds, seed=seed, **kw)
    if protocol == "loo":
        return loo_split(ds, **kw)
    if protocol == "cold-items":
        return cold_item_split(ds, seed=seed, **kw)
    if protocol == "temporal":
        return temporal_split(ds, **kw)
    assert split_dir is not None  # protocol == "from-files"
    return split_from_files(ds, split_dir, **kw)
