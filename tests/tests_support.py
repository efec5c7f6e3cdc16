"""Helpers importable from any test module (tests/ is on sys.path via rootdir conftest)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from recstrata.data.dataset import Dataset
from recstrata.data.loaders._build import build_dataset

# ../shared beside the checkout holds the real data for tests (never used by shipped code)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ML100K_DIR = SHARED / "datasets" / "ml-100k"
PROTOCOL_DIR = SHARED / "protocol" / "ml-100k"


def tiny_dataset(histories: list[list[int]], n_items: int) -> Dataset:
    """A dataset from per-user item-index lists over items 0..n_items-1 (ids are the indices)."""
    import pandas as pd

    users = [str(u) for u, h in enumerate(histories) for _ in h]
    items = [str(i) for h in histories for i in h]
    table = pd.DataFrame({"item_id": [str(i) for i in range(n_items)]})
    return build_dataset(
        "tiny",
        users=np.array(users, dtype=object),
        items=np.array(items, dtype=object),
        ratings=None,
        timestamps=np.arange(len(users), dtype=np.int64),
        item_table=table,
    )


def with_timestamps(ds: Dataset, timestamps, name: str | None = None) -> Dataset:
    """``ds`` with its interactions' timestamps replaced (file order kept), optionally renamed."""
    from recstrata.data.dataset import Interactions

    inter = ds.interactions
    return ds.with_interactions(Interactions.from_arrays(inter.user, inter.item, inter.weight,
                                                         np.asarray(timestamps, np.int64)), name)


def with_ratings(ds: Dataset, ratings: np.ndarray) -> Dataset:
    """``ds`` with its interactions' weights (the explicit ratings) replaced by ``ratings``."""
    from recstrata.data.dataset import Interactions

    inter = ds.interactions
    return ds.with_interactions(Interactions.from_arrays(inter.user, inter.item, ratings, inter.timestamp))


def good_sentence(title: str = "Movie 1") -> str:
    """An LLM reply that satisfies the explanation contract on the block dataset."""
    import json

    return json.dumps({"sentence": f"Because you watched {title}, this one fits your taste."})


def assert_load_leaves_torch_rng_alone(model, directory: Path) -> None:
    """Saving then loading ``model`` must not draw from the caller's global torch RNG."""
    import torch

    from recstrata.retrieval.base import Recommender

    model.save(directory)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    Recommender.load(directory)
    assert torch.equal(torch.rand(3), expected)


class MigrationsAfterBarrier(list):
    """A store's MIGRATIONS that no opener gets to see (``for`` or ``len``) before ``parties`` openers
    have got there: every opener has read the file's schema state before any of them migrates it."""

    def __init__(self, items, parties: int = 2) -> None:
        super().__init__(items)
        self.barrier = threading.Barrier(parties, timeout=20)

    def __iter__(self):
        self.barrier.wait()
        return super().__iter__()

    def __len__(self):
        self.barrier.wait()
        return super().__len__()


def errors_of_side_by_side(fn, n: int = 2) -> list[Exception]:
    """Call ``fn`` in ``n`` threads at once (each opening its own connection, as processes would);
    the exceptions they raised."""
    errors: list[Exception] = []

    def run():
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - collected for the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
