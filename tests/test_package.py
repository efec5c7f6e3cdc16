"""Package hygiene: a light import, the public API resolves, optional deps load lazily."""

from __future__ import annotations

import subprocess
import sys

import recstrata


def test_public_api_resolves():
    for name in recstrata.__all__:
        assert getattr(recstrata, name) is not None


def test_import_does_no_heavy_work():
    code = (
        "import sys, recstrata, recstrata.retrieval, recstrata.evaluation, recstrata.data;"
        "heavy = [m for m in ('torch', 'faiss', 'lightgbm', 'implicit', 'llama_cpp', 'sentence_transformers',"
        " 'fastapi') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_extra_message_names_the_install_command(monkeypatch):
    import pytest

    from recstrata._optional import require
    from recstrata.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "implicit", None)  # makes "import implicit" raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'recstrata\[cf\]'"):
        require("implicit", extra="cf", purpose="the als model")


def test_python_dash_m_runs_the_command_line():
    for module in ("recstrata", "recstrata.cli"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
        assert "train" in out.stdout and "serve" in out.stdout
