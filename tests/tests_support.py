"""Helpers importable from any test module (tests/ is on sys.path via rootdir conftest)."""

from __future__ import annotations

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
