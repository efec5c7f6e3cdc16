"""The shared conformance suite every ``Recommender`` must pass (inherit and set ``make``).

On the block dataset (see ``make_blocks``; ``rated = True`` fits on its copy with varied ratings)
each user's single unseen in-block item is the known best recommendation; the suite also checks the
contract's mechanics: batching, histories, exclusions, candidates, padding, errors and a save/load
round trip.
"""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.errors import ArtifactError, ConfigError, DataError, NotFittedError
from recstrata.retrieval.base import Recommender


class RecommenderConformance:
    #: build an unfitted model
    make = None
    #: models that cannot find the in-block answer (popularity) set this False
    knows_blocks = True
    #: fit on the blocks with varied 1-5 ratings (``rated_blocks``): models with a ``rating_weight``
    rated = False

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, blocks, request):
        ds, _ = request.getfixturevalue("rated_blocks") if cls.rated else blocks
        return cls.make().fit(ds)

    def test_fit_returns_self_and_init_stores_params(self, blocks):
        model = type(self).make()
        params = model.get_params()
        assert model.fit(blocks[0]) is model
        assert model.get_params() == params

    def test_unfitted_model_raises(self):
        with pytest.raises(NotFittedError):
            type(self).make().recommend([0], k=1)

    def test_top_item_is_the_missing_block_item(self, fitted, blocks):
        if not self.knows_blocks:
            pytest.skip("model does not use co-occurrence")
        ds, expected = blocks
        ids, scores = fitted.recommend(np.arange(ds.n_users), k=1)
        assert (ids[:, 0] == expected).mean() >= 0.95

    def test_never_recommends_seen_items(self, fitted, blocks):
        ds, _ = blocks
        ids, _ = fitted.recommend(np.arange(ds.n_users), k=5)
        seen = ds.user_items
        for u in range(ds.n_users):
            assert not set(ids[u]) & set(seen[u].indices)

    def test_scores_sorted_and_shapes(self, fitted, blocks):
        ids, scores = fitted.recommend([0, 1, 2], k=7)
        assert ids.shape == scores.shape == (3, 7)
        assert ids.dtype == np.int64
        assert np.all(np.diff(scores, axis=1) <= 1e-6)

    def test_batch_equals_one_by_one(self, fitted, blocks):
        ds, _ = blocks
        users = np.arange(ds.n_users)
        batch_ids, batch_scores = fitted.recommend(users, k=5)
        for u in (0, 7, 23, ds.n_users - 1):
            ids, scores = fitted.recommend([u], k=5)
            np.testing.assert_array_equal(ids[0], batch_ids[u])
            np.testing.assert_allclose(scores[0], batch_scores[u], rtol=1e-5, atol=1e-6)

    def test_history_of_a_known_user_gives_a_sensible_answer(self, fitted, blocks):
        if not self.knows_blocks:
            pytest.skip("model does not use co-occurrence")
        ds, expected = blocks
        history = ds.user_items[3].indices
        ids, _ = fitted.recommend(histories=[history], k=1)
        assert ids[0, 0] == expected[3]

    def test_empty_history_is_valid(self, fitted):
        ids, scores = fitted.recommend(histories=[[]], k=3)
        assert ids.shape == (1, 3)

    def test_candidates_and_exclude(self, fitted, blocks):
        ds, expected = blocks
        cands = np.array([0, 1, 2, 35, 36])
        ids, _ = fitted.recommend([0], k=3, candidates=cands, exclude_seen=False)
        assert set(ids[0]) <= set(cands)
        import scipy.sparse as sp

        excl = sp.csr_matrix(([1.0], ([0], [expected[0]])), shape=(1, ds.n_items))
        ids, _ = fitted.recommend([0], k=3, exclude=excl)
        assert expected[0] not in ids[0]

    def test_padding_when_fewer_items_than_k(self, fitted, blocks):
        ids, scores = fitted.recommend([0], k=4, candidates=[1, 2, 0])  # user 0 has seen 1, 2
        assert list(ids[0, 1:]) == [-1, -1, -1]
        assert np.isneginf(scores[0, 1:]).all()

    def test_bad_k_and_unknown_users_are_clear_errors(self, fitted, blocks):
        ds, _ = blocks
        for k in (0, -1, ds.n_items + 1):
            with pytest.raises(ConfigError, match="k"):
                fitted.recommend([0], k=k)
        with pytest.raises(DataError, match="outside"):
            fitted.recommend([ds.n_users + 5], k=2)
        with pytest.raises(DataError, match="outside"):
            fitted.recommend(histories=[[ds.n_items]], k=2)

    def test_similar_items(self, fitted, blocks):
        ds, _ = blocks
        ids, scores = fitted.similar_items([0, 15], k=3)
        assert ids.shape == (2, 3)
        assert 0 not in ids[0] and 15 not in ids[1]
        if self.knows_blocks:
            assert all(i // 10 == 0 for i in ids[0]) and all(i // 10 == 1 for i in ids[1])

    def test_save_load_round_trip_is_identical(self, fitted, blocks, tmp_path):
        ds, _ = blocks
        fitted.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(fitted)
        assert loaded.get_params() == fitted.get_params()
        a = fitted.recommend(np.arange(ds.n_users), k=5)
        b = loaded.recommend(np.arange(ds.n_users), k=5)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1], rtol=1e-6)

    def test_corrupt_artifact_is_detected(self, fitted, tmp_path):
        path = fitted.save(tmp_path / "m")
        target = path / "seen.npz"
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        with pytest.raises(ArtifactError, match="seen.npz"):
            Recommender.load(path)
