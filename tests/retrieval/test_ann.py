"""Known-answer tests for recstrata.retrieval.ann (every index kind, filters, save/load, validation)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("faiss")

from recstrata.errors import ArtifactError, ConfigError, NotFittedError  # noqa: E402
from recstrata.retrieval.ann import (  # noqa: E402
    INDEX_KINDS,
    VectorIndex,
    load_index,
    make_index,
    measure_recall,
    recall_of,
)

KINDS = sorted(INDEX_KINDS)
N, DIM = 2000, 32


@pytest.fixture(scope="module", autouse=True)
def one_omp_thread():
    """Tiny problems: OpenMP start-up and spinning dominate, badly so on a busy 2-core CI box."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def clustered():
    """2,000 unit vectors in 20 tight-ish clusters; ids are scattered, not row numbers."""
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((20, DIM)).astype(np.float32)
    x = centers[rng.integers(0, 20, N)] + 0.35 * rng.standard_normal((N, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = rng.permutation(N).astype(np.int64) * 10 + 3
    queries = x[rng.choice(N, 40, replace=False)] + 0.1 * rng.standard_normal((40, DIM)).astype(np.float32)
    return x, ids, queries.astype(np.float32)


@pytest.fixture(scope="module")
def built(clustered):
    x, ids, _ = clustered
    return {kind: make_index(kind).build(x, ids) for kind in KINDS}


def brute_force(x, ids, q, k, mask=None):
    scores = q @ x.T
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids[order], np.take_along_axis(scores, order, 1)


# ---------------------------------------------------------------- known answers
def test_exact_search_on_hand_made_vectors():
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0]], dtype=np.float32)
    index = make_index("exact").build(vectors, ids=[10, 20, 30, 40])
    ids, scores = index.search(np.array([[1, 0.1, 0], [0.1, 0.2, -1]], dtype=np.float32), k=2)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    assert ids.tolist() == [[10, 40], [40, 20]]
    np.testing.assert_allclose(scores[0], [1.0, 0.68], rtol=1e-6)
    assert len(index) == 4 and index.dim == 3


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_reaches_recall_at_10(kind, built, clustered):
    _, _, queries = clustered
    recall = measure_recall(built[kind], built["exact"], queries, 10)
    assert recall >= 0.9, f"{kind}: recall@10 {recall:.3f}"


@pytest.mark.parametrize("kind", KINDS)
def test_scores_are_exact_inner_products_of_returned_ids(kind, built, clustered):
    x, ids, queries = clustered
    got_ids, got_scores = built[kind].search(queries[:5], 10)
    row_of = {int(i): r for r, i in enumerate(ids)}
    pairs = zip(got_ids, queries[:5], strict=True)
    expect = np.array([[x[row_of[int(i)]] @ q for i in row] for row, q in pairs])
    assert np.all(np.diff(got_scores, axis=1) <= 1e-6), "results must be sorted best first"
    if kind != "ivfpq" or built[kind].refine_factor:  # every kind re-scores exactly
        np.testing.assert_allclose(got_scores, expect, rtol=1e-4, atol=1e-5)


def test_recall_of_counts_overlap():
    approx = np.array([[1, 2, 3, -1], [5, 6, 7, 8]])
    exact = np.array([[1, 2, 4, 9], [8, 7, 6, 5]])
    np.testing.assert_allclose(recall_of(approx, exact), [0.5, 1.0])


def test_sharded_exact_matches_unsharded(clustered):
    x, ids, queries = clustered
    one = make_index("exact").build(x, ids).search(queries, 25)
    for threads in (1, 2):
        three = make_index("exact", shards=3, threads=threads).build(x, ids).search(queries, 25)
        np.testing.assert_array_equal(three[0], one[0])
        np.testing.assert_allclose(three[1], one[1], rtol=1e-6)


# ---------------------------------------------------------------- filters
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("filter_exact_below", [0, 10_000], ids=["in-index", "exact-small-sets"])
def test_exclude_per_query_never_returns_excluded(kind, filter_exact_below, clustered):
    x, ids, queries = clustered
    index = make_index(kind, filter_exact_below=filter_exact_below).build(x, ids)
    top, _ = index.search(queries, 10)
    exclude = [row[: 5 + i % 3] for i, row in enumerate(top)]  # the best hits of each query are "seen"
    got, scores = index.search(queries, 10, exclude=exclude)
    for row, ex in zip(got, exclude, strict=True):
        assert not set(row.tolist()) & set(ex.tolist())
        assert (row >= 0).all(), "k results exist, so k must be returned"
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("filter_exact_below", [0, 10_000], ids=["in-index", "exact-small-sets"])
def test_allow_list_is_honoured_and_still_returns_k(kind, filter_exact_below, clustered):
    x, ids, queries = clustered
    index = make_index(kind, filter_exact_below=filter_exact_below).build(x, ids)
    allowed = ids[::7]  # ~286 items spread over all clusters: a selective attribute filter
    got, _ = index.search(queries, 20, allow=allowed)
    assert np.isin(got, allowed).all(), "an id outside the allow-list was returned"
    mask = np.isin(ids, allowed)[None, :]
    want, _ = brute_force(x, ids, queries, 20, mask)
    assert recall_of(got, want).mean() >= 0.9


@pytest.mark.parametrize("shards", [1, 3])
def test_filtered_exact_search_equals_brute_force_over_allowed(shards, clustered):
    x, ids, queries = clustered
    index = make_index("exact", filter_exact_below=0, shards=shards, threads=2)
    index.build(x, ids)
    rng = np.random.default_rng(1)
    allow = [rng.choice(ids, 300, replace=False) for _ in queries]
    exclude = [a[:50] for a in allow]
    got, got_scores = index.search(queries, 15, allow=allow, exclude=exclude)
    for i, q in enumerate(queries):
        mask = np.isin(ids, allow[i]) & ~np.isin(ids, exclude[i])
        want, want_scores = brute_force(x, ids, q[None], 15, mask[None])
        np.testing.assert_array_equal(got[i], want[0])
        np.testing.assert_allclose(got_scores[i], want_scores[0], rtol=1e-5)


def test_dense_bitmap_path_gives_the_same_filtered_results(clustered, monkeypatch):
    from recstrata.retrieval.ann import filters

    x, ids, queries = clustered
    index = make_index("exact", filter_exact_below=0).build(x, ids)
    rng = np.random.default_rng(2)
    allow = [rng.choice(ids, 300, replace=False) for _ in queries]
    exclude = [a[:50] for a in allow]
    sparse = index.search(queries, 15, allow=allow, exclude=exclude)
    monkeypatch.setattr(filters, "DENSE_SET_ABOVE", 0)  # every bitmap built from a dense mask
    dense = index.search(queries, 15, allow=allow, exclude=exclude)
    np.testing.assert_array_equal(dense[0], sparse[0])
    np.testing.assert_allclose(dense[1], sparse[1])


def test_csr_exclude_and_padding_when_fewer_allowed_than_k(clustered):
    x, ids, queries = clustered
    index = make_index("hnsw").build(x, ids)
    q = queries[:2]
    indptr, flat = np.array([0, 1, 1]), ids[:1]
    got, scores = index.search(q, 5, allow=ids[:3], exclude=(indptr, flat))
    assert sorted(got[0][:2].tolist()) == sorted(ids[1:3].tolist())
    assert got[0][2:].tolist() == [-1, -1, -1] and np.isneginf(scores[0][2:]).all()
    assert sorted(got[1][:3].tolist()) == sorted(ids[:3].tolist()) and got[1][3:].tolist() == [-1, -1]


def test_unknown_ids_in_filters_are_ignored(built, clustered):
    _, ids, queries = clustered
    got, _ = built["exact"].search(queries[:3], 5, exclude=[[-7, 1], [], None])
    want, _ = built["exact"].search(queries[:3], 5)
    np.testing.assert_array_equal(got, want)  # neither -7 nor 1 is an indexed id (ids are 10*i + 3)


# ---------------------------------------------------------------- persistence
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip_is_identical(kind, mmap, built, clustered, tmp_path):
    _, _, queries = clustered
    before = built[kind].search(queries, 10, exclude=[[int(built[kind].ids[0])]] * len(queries))
    path = built[kind].save(tmp_path / "idx")
    loaded = VectorIndex.load(path, mmap=mmap)
    assert type(loaded) is type(built[kind]) and loaded.get_params() == built[kind].get_params()
    assert isinstance(loaded.ids, np.memmap) is mmap
    after = loaded.search(queries, 10, exclude=[[int(built[kind].ids[0])]] * len(queries))
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert sorted(p.name for p in path.iterdir())[-1] == "vectors.npy" or not loaded.keeps_vectors


def test_save_replaces_an_existing_index_atomically(built, tmp_path):
    built["exact"].save(tmp_path / "idx")
    built["hnsw"].save(tmp_path / "idx")
    assert load_index(tmp_path / "idx").kind == "hnsw"
    assert [p.name for p in tmp_path.iterdir()] == ["idx"], "no temp directories left behind"


@pytest.mark.parametrize("damage", ["flip-byte", "truncate"])
def test_corrupt_index_file_raises_artifact_error_naming_it(damage, built, tmp_path):
    path = built["sq8"].save(tmp_path / "idx")
    target = path / "shard-001.faiss"
    data = bytearray(target.read_bytes())
    if damage == "flip-byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 3]
    target.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="shard-001.faiss"):
        VectorIndex.load(path)


def test_truncated_file_without_hash_check_still_raises_artifact_error(built, tmp_path):
    path = built["exact"].save(tmp_path / "idx")
    target = path / "shard-000.faiss"
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="shard-000.faiss"):
        VectorIndex.load(path, verify=False)


def test_load_checks_the_requested_class(built, tmp_path):
    path = built["hnsw"].save(tmp_path / "idx")
    with pytest.raises(ArtifactError, match="hnsw"):
        INDEX_KINDS["exact"].load(path)


# ---------------------------------------------------------------- validation
@pytest.fixture(scope="module")
def small():
    x = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    return x, make_index("exact").build(x)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda ix, x: ix.search(np.ones((1, 5), np.float32), 3), "dimension 5"),
        (lambda ix, x: ix.search(x[:1], 0), "k=0"),
        (lambda ix, x: ix.search(x[:1], 51), "k=51"),
        (lambda ix, x: ix.search(np.full((1, 8), np.nan, np.float32), 3), "NaN"),
        (lambda ix, x: ix.search(x[:2], 3, exclude=[[1], [2], [3]]), "3 per-query lists"),
        (lambda ix, x: ix.search(x[:2], 3, allow=(np.array([0, 1]), np.array([4]))), "CSR"),
        (lambda ix, x: ix.search(x[:2], 3, allow=[0.5, 1.5]), "integer"),
    ],
)
def test_bad_search_input_raises_config_error(call, needle, small):
    x, index = small
    with pytest.raises(ConfigError, match=needle):
        call(index, x)


@pytest.mark.parametrize(
    ("vectors", "ids", "needle"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), None, "NaN"),
        (np.ones((3, 2)), [1, 2], "one id per vector"),
        (np.ones((3, 2)), [1, 2, 1], "duplicate"),
        (np.ones((3, 2)), [1, -2, 3], "negative"),
        (np.ones(3), None, "2-D"),
    ],
)
def test_bad_build_input_raises_config_error(vectors, ids, needle):
    with pytest.raises(ConfigError, match=needle):
        make_index("exact").build(vectors, ids)


def test_bad_kind_and_params_raise_config_error():
    with pytest.raises(ConfigError, match="unknown index kind 'annoy'"):
        make_index("annoy")
    with pytest.raises(ConfigError, match="nprobe"):
        make_index("hnsw", nprobe=3)
    with pytest.raises(ConfigError, match="pq_m=5 must divide dim=8"):
        make_index("ivfpq", pq_m=5).build(np.ones((300, 8)))
    with pytest.raises(ConfigError, match="nlist=100 is more than the 50"):
        make_index("ivf", nlist=100).build(np.ones((50, 8)))
    with pytest.raises(ConfigError, match="refine_factor"):
        make_index("sq8", refine_factor=0.5).build(np.ones((50, 8)))


def test_unbuilt_index_raises_not_fitted():
    with pytest.raises(NotFittedError, match="build"):
        make_index("hnsw").search(np.ones((1, 4)), 1)


def test_import_does_not_load_faiss():
    code = "import sys, recstrata.retrieval.ann; assert 'faiss' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": "src"})


def test_nprobe_above_nlist_searches_every_list(clustered):
    """faiss's fast-scan IVF returns garbage when nprobe > nlist; the index clamps it."""
    x, ids, queries = clustered
    want = make_index("exact").build(x, ids).search(queries, 10)[0]
    for kind in ("ivf", "ivfpq4fs"):
        got = make_index(kind, nlist=8, nprobe=64).build(x, ids).search(queries, 10)[0]
        assert recall_of(got, want).mean() >= 0.99, kind


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shards", [1, 3])
def test_exact_path_for_small_filtered_sets_equals_brute_force(kind, shards, clustered):
    """Allowed sets within ``filter_exact_below`` are searched exactly: a few exclusions (most rows
    allowed: scored in place), a third of the catalog (the same) and a seventh (gathered rows)."""
    x, ids, queries = clustered
    index = make_index(kind, shards=shards, filter_exact_below=10_000).build(x, ids)
    rng = np.random.default_rng(3)
    exclude = [rng.choice(ids, 40, replace=False) for _ in queries]
    kept = ~np.stack([np.isin(ids, e) for e in exclude])  # (n_queries, n)
    for kw, mask in (
        (dict(exclude=exclude), kept),
        (dict(allow=ids[::3]), np.isin(ids, ids[::3])[None, :].repeat(len(queries), 0)),
        (dict(allow=ids[::7], exclude=exclude), np.isin(ids, ids[::7]) & kept),
    ):
        got, got_scores = index.search(queries, 12, **kw)
        want, want_scores = brute_force(x, ids, queries, 12, mask)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)
