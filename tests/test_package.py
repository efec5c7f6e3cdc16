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


def test_every_error_pickles_with_its_message_and_attributes_whatever_its_init_takes():
    import pickle

    import recstrata.errors as errors

    special = {"DataError": ("not a number",), "MissingDependencyError": ("llama_cpp", "llm", "the GGUF backend")}
    for name in errors.__all__:
        cls = getattr(errors, name)
        exc = cls(*special.get(name, (f"{name} happened",)))
        exc.usage = {"tokens": 3}
        back = pickle.loads(pickle.dumps(exc))  # what a worker process's error goes through
        assert type(back) is cls and str(back) == str(exc) and back.usage == {"tokens": 3}, name
    back = pickle.loads(pickle.dumps(errors.DataError("x", file="r.csv", row=3, column="rating")))
    assert (back.file, back.row, back.column) == ("r.csv", 3, "rating") and str(back).startswith("file r.csv")


def test_missing_extra_error_survives_pickling_with_its_arguments():
    import pickle

    from recstrata.errors import MissingDependencyError

    exc = MissingDependencyError("llama_cpp", "llm", "the GGUF backend")
    back = pickle.loads(pickle.dumps(exc))  # what a worker process's error goes through
    assert type(back) is MissingDependencyError and str(back) == str(exc)
    assert (back.package, back.extra, back.purpose) == ("llama_cpp", "llm", "the GGUF backend")


def test_python_dash_m_runs_the_command_line():
    for module in ("recstrata", "recstrata.cli"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
        assert "train" in out.stdout and "serve" in out.stdout
