"""The model store: concurrent publishers get distinct versions and CURRENT ends at the newest."""

from __future__ import annotations

import threading
import time

from recstrata.retrieval.popularity import Popularity
from recstrata.serving.modelstore import ModelStore


class SlowToSave(Popularity):
    """Saving takes a while: long enough for a second publisher to pick its version meanwhile."""

    def save(self, directory):
        time.sleep(0.3)
        return super().save(directory)


def test_concurrent_publishers_get_distinct_versions(blocks, tmp_path):
    model = SlowToSave().fit(blocks[0])
    got = []
    # two stores on the same directory, as two training processes would open it
    threads = [threading.Thread(target=lambda: got.append(ModelStore(tmp_path, "blend").publish(model)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = ModelStore(tmp_path, "blend")
    assert sorted(got) == ["1", "2"]
    assert store.current() == "2"
    for version in got:
        loaded, _ = store.load(version)
        assert loaded.recommend([0], k=3)[0].tolist() == model.recommend([0], k=3)[0].tolist()
