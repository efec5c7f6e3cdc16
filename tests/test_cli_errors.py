"""The command line on bad input: one clear message naming what was wrong and how to fix it, exit
code 2, no traceback, nothing written; what needs no data is checked before a dataset is loaded."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from recstrata.cli import _register, app


def _invoke(*args: str):
    _register()
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def no_loading(monkeypatch):
    """Loading a dataset fails the test: the error must come first."""
    import recstrata.data.registry

    monkeypatch.setattr(recstrata.data.registry, "load_dataset", lambda *a, **k: pytest.fail("dataset loaded"))


def _clean_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in " ".join(result.output.split()), (fragment, result.output)


@pytest.mark.parametrize("args, fragments", [
    (("--metric", "foo@10"), ("'foo@10' is not an accuracy metric", "recall, precision, ndcg, mrr, hit, map")),
    (("--metric", "coverage@10"), ("'coverage@10' is not an accuracy metric",)),
    (("--models", ""), ("no model to evaluate",)),
    (("--models", ","), ("no model to evaluate",)),
    (("--models", "pop,eas"), ("unknown model 'eas' (did you mean 'ease'?)",)),
    (("--k", "0"), ("--k",)),
    (("--protocol", "bogus"), ("unknown protocol 'bogus'",)),
])
def test_evaluate_checks_its_options_before_loading_and_writes_nothing(tmp_path, no_loading, args, fragments):
    out = tmp_path / "r.json"
    _clean_error(_invoke("evaluate", "--output", str(out), *args), *fragments)
    assert not out.exists()
