"""The model store: concurrent publishers get distinct versions and CURRENT ends at the newest."""

from __future__ import annotations

import threading
import time

import pytest

from recstrata.errors import ArtifactError
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


@pytest.mark.parametrize("pointer, says", [
    ("{not json", "is not valid JSON"),
    ("", "is empty"),
    ("{}", "names no version"),
    ('["1"]', "names no version"),
    ('{"version": 1}', "version 1 is not a positive integer in a string"),
    ('{"version": "0"}', "version '0' is not a positive integer"),
])
def test_a_corrupt_pointer_is_an_artifact_error_naming_the_file(blocks, tmp_path, pointer, says):
    store = ModelStore(tmp_path, "pop")
    store.publish(Popularity().fit(blocks[0]))
    store.pointer.write_text(pointer)
    with pytest.raises(ArtifactError) as info:
        store.load()
    assert str(info.value).startswith(str(store.pointer)) and says in str(info.value)
    assert "naming a published version (here: 1)" in str(info.value)


def test_a_version_is_never_a_path(blocks, tmp_path):
    ModelStore(tmp_path / "elsewhere", "pop").publish(Popularity().fit(blocks[0]))
    store = ModelStore(tmp_path / "runs", "pop")
    store.publish(Popularity().fit(blocks[0]))
    store.pointer.write_text('{"version": "../../elsewhere/pop/1"}')
    with pytest.raises(ArtifactError, match="is not a positive integer"):
        store.load()
    with pytest.raises(ArtifactError, match="is not a positive integer"):
        store.load("../1")
