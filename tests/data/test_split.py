"""Splits: deterministic, no leakage, the protocol each promises."""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.data.split import cold_item_split, loo_split, make_split, ratio_split, split_from_files, temporal_split
from recstrata.errors import ConfigError, DataError


def rows(ds):
    i = ds.interactions
    return set(zip(i.user.tolist(), i.item.tolist(), i.timestamp.tolist()))


def assert_partition(split, full):
    parts = [rows(split.train), rows(split.valid), rows(split.test)]
    assert sum(map(len, parts)) == len(full)
    assert parts[0] | parts[1] | parts[2] == rows(full)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


@pytest.mark.parametrize("protocol", ["ratio", "loo", "cold-items", "temporal"])
def test_partition_and_determinism(ml100k, protocol):
    a, b = make_split(ml100k, protocol, seed=7), make_split(ml100k, protocol, seed=7)
    assert_partition(a, ml100k)
    assert rows(a.test) == rows(b.test) and rows(a.valid) == rows(b.valid)
    assert a.train.item_ids is ml100k.item_ids  # parts share the id maps


def test_ratio_per_user_counts_match_recbole(ml100k):
    split = ratio_split(ml100k)
    # RecBole builds exactly these totals for ML-100K with 80/10/10
    assert (len(split.train), len(split.valid), len(split.test)) == (80_808, 9_596, 9_596)
    counts = np.bincount(ml100k.interactions.user)
    test_counts = np.bincount(split.test.interactions.user, minlength=ml100k.n_users)
    np.testing.assert_array_equal(test_counts, (counts * 0.1).astype(int))
    assert rows(ratio_split(ml100k, seed=1).test) != rows(split.test)


def test_loo_takes_the_last_events(ml100k):
    split = loo_split(ml100k)
    assert len(split.test) == len(split.valid) == ml100k.n_users
    tr, te, va = split.train.interactions, split.test.interactions, split.valid.interactions
    last_train = np.full(ml100k.n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_train, tr.user, tr.timestamp)
    assert (va.timestamp >= last_train[va.user]).all()
    order = np.argsort(te.user)
    assert (te.timestamp[order] >= va.timestamp[np.argsort(va.user)]).all()
    assert split.sequential


def test_cold_items_never_in_training(ml100k):
    split = cold_item_split(ml100k, fraction=0.1, seed=3)
    cold = np.concatenate([split.valid_candidates, split.test_candidates])
    assert not np.isin(split.train.interactions.item, cold).any()
    assert np.isin(split.test.interactions.item, split.test_candidates).all()
    assert len(np.intersect1d(split.valid_candidates, split.test_candidates)) == 0


def test_temporal_cut_is_global(ml100k):
    split = temporal_split(ml100k)
    assert split.train.interactions.timestamp.max() <= split.valid.interactions.timestamp.min()
    assert split.valid.interactions.timestamp.max() <= split.test.interactions.timestamp.min()


def test_from_files_is_recbole_split(recbole_split, ml100k):
    assert (len(recbole_split.train), len(recbole_split.valid), len(recbole_split.test)) == (80_808, 9_596, 9_596)
    assert not recbole_split.sequential and recbole_split.exclude_seen


def test_from_files_rejects_foreign_ids(tmp_path, ml100k):
    for name in ("train", "valid", "test"):
        (tmp_path / f"{name}.csv").write_text("user_id,item_id\n1,1\n")
    (tmp_path / "test.csv").write_text("user_id,item_id\n1,1\n1,999999\n")
    with pytest.raises(DataError, match="999999") as err:
        split_from_files(ml100k, tmp_path)
    assert err.value.row == 3


def test_bad_protocol_arguments(ml100k):
    with pytest.raises(ConfigError, match="unknown protocol"):
        make_split(ml100k, "random")
    with pytest.raises(ConfigError):
        ratio_split(ml100k, ratios=(0.5, 0.5, 0.5))
    with pytest.raises(ConfigError):
        make_split(ml100k, "from-files")
