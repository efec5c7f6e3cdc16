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


@pytest.mark.parametrize("args, fragments", [
    (("--model", "als", "--params", '{"factor": 64}'),
     ("model 'als' (ALS) has no parameter 'factor' (did you mean 'factors'?)", "factors, regularization, alpha")),
    (("--sources", "ease,als", "--source-params", '{"ease": {"regg": 250}}'),
     ("model 'ease' (EASE) has no parameter 'regg' (did you mean 'reg'?)",)),
    (("--model", "als", "--params", '{"factors": "many"}'), ("ALS needs an integer factors >= 1, got factors='many'",)),
    (("--model", "als", "--params", '{"factors": 0}'), ("ALS needs an integer factors >= 1, got factors=0",)),
    (("--model", "bpr", "--params", '{"learning_rate": -1}'), ("BPR needs 0 < learning_rate",)),
    (("--sources", "ease,als", "--source-params", '{"als": {"regularization": -1}}'), ("0 <= regularization",)),
    (("--sources", "ease", "--source-params", '{"ease": 250}'), ("the parameters of 'ease' must map",)),
    (("--sources", ","), ("a pipeline needs at least one source",)),
    (("--sources", "ease", "--source-params", "{ease: 1}"),
     ("--source-params is not valid JSON", """example: '{"ease": {"reg": 250}, "als": {"factors": 64}}'""")),
    (("--model", "als", "--params", "[64]"), ("--params must be a JSON object", """example: '{"factors": 64}'""")),
])
def test_train_checks_models_and_parameters_before_loading_and_publishes_nothing(tmp_path, no_loading, args,
                                                                                   fragments):
    _clean_error(_invoke("train", "--runs-dir", str(tmp_path), *args), *fragments)
    assert not any(tmp_path.iterdir())


def test_a_p_value_below_float_resolution_is_not_printed_as_zero():
    from recstrata.cli.evaluate import _versus

    assert _versus({"difference": -0.1, "p_value": 0.0, "significant": True}) == "-0.1000 (p < 1e-16)*"
    assert _versus({"difference": 0.01, "p_value": 0.0312, "significant": False}) == "+0.0100 (p 0.031)"


def test_datasets_explains_columns_for_the_command_line_in_one_unwrapped_line(tmp_path, monkeypatch):
    from recstrata.cli._common import console

    monkeypatch.setattr(console, "width", 80)  # a narrow terminal: Rich would break the message inside quotes
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    result = _invoke("datasets", str(path))
    _clean_error(result, "Name the header's columns user_id and item_id")
    [line] = [line for line in result.output.splitlines() if "error:" in line]
    assert line.endswith("columns={'user': ..., 'item': ..., 'rating': ..., 'timestamp': ...}).")
