"""Atomic writes and hash-checked manifests."""

from __future__ import annotations

import pytest

from recstrata._atomic import atomic_directory, atomic_write_text
from recstrata.artifacts import read_manifest, write_manifest
from recstrata.errors import ArtifactError


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        from recstrata._atomic import atomic_open

        with atomic_open(target, "w") as fh:
            fh.write("two, half-written")
            raise Boom
    assert target.read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_directory_swaps_only_when_complete(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as d:
        (d / "x.txt").write_text("v1")
    with pytest.raises(RuntimeError), atomic_directory(target) as d:
        (d / "x.txt").write_text("v2")
        raise RuntimeError("crash mid-save")
    assert (target / "x.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_manifest_detects_truncation_and_missing_files(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"0123456789")
    write_manifest(tmp_path, kind="thing", params={"a": 1})
    assert read_manifest(tmp_path, kind="thing")["params"] == {"a": 1}
    with pytest.raises(ArtifactError, match="not a 'other'"):
        read_manifest(tmp_path, kind="other")
    (tmp_path / "w.bin").write_bytes(b"01234")
    with pytest.raises(ArtifactError, match="w.bin.*truncated"):
        read_manifest(tmp_path)
    (tmp_path / "w.bin").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        read_manifest(tmp_path)
    with pytest.raises(ArtifactError, match="not a saved"):
        read_manifest(tmp_path / "nope")
