"""Shared fixtures: small hand-made datasets with known answers, and the real ML-100K files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recstrata.data.dataset import Dataset
from recstrata.data.loaders._build import build_dataset

from tests_support import ML100K_DIR, PROTOCOL_DIR, with_ratings


def make_blocks(n_blocks: int = 4, block: int = 10, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Users in block b interacted with every item of block b except one: user u misses item
    ``b*block + u % block``. That missing item is the known right answer for every CF model.

    Returns the dataset and ``expected[u]`` = internal index of user u's missing item.
    """
    users, items, stamps = [], [], []
    expected = []
    t = 0
    for b in range(n_blocks):
        for j in range(block):
            u = b * block + j
            missing = b * block + j
            expected.append(missing)
            for i in range(b * block, (b + 1) * block):
                if i != missing:
                    users.append(str(u))
                    items.append(str(i))
                    stamps.append(t)
                    t += 1
    item_table = pd.DataFrame({
        "item_id": [str(i) for i in range(n_blocks * block)],
        "title": [f"Movie {i}" for i in range(n_blocks * block)],
        "genres": [(f"genre{i // block}",) for i in range(n_blocks * block)],
        "year": [1990 + i // block for i in range(n_blocks * block)],
    })
    user_table = pd.DataFrame({
        "user_id": [str(u) for u in range(n_blocks * block)],
        "gender": ["F" if u % 2 else "M" for u in range(n_blocks * block)],
        "age": [20 + u for u in range(n_blocks * block)],
    })
    ds = build_dataset(
        "blocks",
        users=np.array(users, dtype=object),
        items=np.array(items, dtype=object),
        ratings=np.ones(len(users)),
        timestamps=np.array(stamps, dtype=np.int64),
        item_table=item_table,
        user_table=user_table,
    )
    return ds, np.array(expected)


@pytest.fixture(scope="session")
def blocks() -> tuple[Dataset, np.ndarray]:
    return make_blocks()


@pytest.fixture(scope="session")
def rated_blocks(blocks) -> tuple[Dataset, np.ndarray]:
    """The blocks with ratings 1-5 varying from cell to cell (same pairs, same expected answers)."""
    ds, expected = blocks
    inter = ds.interactions
    ratings = (1 + (3 * inter.user.astype(np.int64) + inter.item) % 5).astype(np.float32)
    return with_ratings(ds, ratings), expected


@pytest.fixture(scope="session")
def ml100k() -> Dataset:
    if not (ML100K_DIR / "ml-100k.inter").is_file():
        pytest.skip(f"{ML100K_DIR} not present")
    from recstrata.data.loaders.recbole import load_recbole_atomic

    return load_recbole_atomic(ML100K_DIR, "ml-100k")


@pytest.fixture(scope="session")
def recbole_split(ml100k):
    from recstrata.data.split import split_from_files

    return split_from_files(ml100k, PROTOCOL_DIR / "general")
