"""Bitmaps of a read-only global allow-list are built once per index and reused; nothing else is cached."""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytest.importorskip("faiss")

from recstrata.retrieval.ann import make_index  # noqa: E402
from recstrata.retrieval.ann.filters import AllowCache, plan_filters  # noqa: E402


def _frozen(ids) -> np.ndarray:
    arr = np.array(ids, dtype=np.int64)
    arr.setflags(write=False)
    return arr


def test_a_read_only_allow_list_is_built_once_and_equals_the_uncached_bitmap():
    cache, lookups = AllowCache(), []

    def lookup(ext):
        lookups.append(len(ext))
        return ext

    allow = _frozen(np.arange(0, 1000, 3))
    first = plan_filters(None, allow, 1, 1000, lookup, cache)
    second = plan_filters(None, allow, 1, 1000, lookup, cache)
    assert lookups == [len(allow)]  # the second plan reused the bitmap
    assert second.bitmaps[0] is first.bitmaps[0] and not first.bitmaps[0].flags.writeable
    fresh = plan_filters(None, allow.copy(), 1, 1000, lambda e: e)  # writable: not cacheable
    np.testing.assert_array_equal(first.bitmaps[0], fresh.bitmaps[0])
    assert second.count(0) == len(allow)


def test_exclusions_are_applied_to_a_copy_never_to_the_cached_bitmap():
    cache = AllowCache()
    allow = _frozen(np.arange(100))
    with_ex = plan_filters([5, 6], allow, 1, 1000, lambda e: e, cache)
    assert with_ex.count(0) == 98
    assert plan_filters(None, allow, 1, 1000, lambda e: e, cache).count(0) == 100


@pytest.mark.parametrize("make", [
    lambda: np.arange(50, dtype=np.int64),  # writable
    lambda: _frozen(np.arange(100))[::2],  # a view: its base could change
    lambda: list(range(50)),  # not an array
])
def test_arrays_that_could_change_are_never_cached(make):
    cache = AllowCache()
    plan_filters(None, make(), 1, 1000, lambda e: e, cache)
    assert len(cache) == 0


def test_a_freed_list_is_not_served_from_the_cache_and_the_cache_is_bounded():
    cache = AllowCache(maxsize=2)
    keep = [_frozen([i]) for i in range(3)]
    for arr in keep:
        plan_filters(None, arr, 1, 64, lambda e: e, cache)
    assert len(cache) == 2
    allow = _frozen([1, 2])
    plan_filters(None, allow, 1, 64, lambda e: e, cache)
    del allow
    gc.collect()
    assert len(cache) == 1  # the freed list's entry is gone at once, not at eviction
    other = _frozen([7])  # may reuse the freed object's id: must get its own bitmap
    assert plan_filters(None, other, 1, 64, lambda e: e, cache).count(0) == 1


def test_index_search_with_a_cached_allow_list_matches_the_uncached_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 16)).astype(np.float32)
    ids = np.arange(500, dtype=np.int64) * 3
    index = make_index("exact", filter_exact_below=0).build(x, ids)
    allow = _frozen(ids[::4])
    q = rng.standard_normal((3, 16)).astype(np.float32)
    want = index.search(q, 10, allow=allow.copy())
    for _ in range(2):
        got = index.search(q, 10, allow=allow)
        np.testing.assert_array_equal(got[0], want[0])
    assert len(index._allow_cache_) == 1
