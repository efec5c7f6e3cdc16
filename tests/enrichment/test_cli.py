"""``recstrata enrich`` and ``recstrata llm ls`` end to end, with the mock backend (an offline dry run)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from recstrata.cli import _register, app
from recstrata.enrichment import EnrichmentStore


def _invoke(*args: str):
    _register()
    return CliRunner().invoke(app, list(args))


def test_llm_ls_lists_the_mock_as_usable():
    result = _invoke("llm", "ls")
    assert result.exit_code == 0, result.output
    assert "mock" in result.output and "smollm2" in result.output


def test_enrich_with_the_mock_is_an_offline_dry_run_that_stores_schema_valid_answers(tmp_path):
    db = tmp_path / "e.db"
    result = _invoke("enrich", "items", "--backend", "mock", "--limit", "2", "--store", str(db))
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    with EnrichmentStore(db) as store:
        assert store.count("items") == 2 and store.failures("items") == []
        record, _ = store.records("items")
        assert record.model == "mock-1" and record.output["tags"] and record.output["summary"]


def test_enrich_items_without_a_schema_counts_the_mock_reply_as_a_failure_and_stores_nothing(tmp_path):
    db = tmp_path / "e.db"  # --no-constrained sends no schema: the mock answers plain text
    result = _invoke("enrich", "items", "--dataset", "ml-latest-small", "--backend", "mock",
                     "--limit", "3", "--store", str(db), "--no-constrained")
    assert result.exit_code == 0, result.output
    assert "failed" in result.output
    with EnrichmentStore(db) as store:
        assert store.count("items") == 0
        assert [r for _, r, _ in store.failures("items")] == ["schema"] * 3


def test_unknown_backend_is_a_clean_error(tmp_path):
    result = _invoke("enrich", "users", "--dataset", "ml-latest-small", "--backend", "nope",
                     "--store", str(tmp_path / "e.db"))
    assert result.exit_code == 2 and "unknown LLM backend" in result.output


def test_enrich_with_two_workers_counts_every_task_once(tmp_path):
    db = tmp_path / "e.db"
    result = _invoke("enrich", "items", "--dataset", "ml-latest-small", "--backend", "mock",
                     "--limit", "5", "--store", str(db), "--workers", "2")
    assert result.exit_code == 0, result.output
    with EnrichmentStore(db) as store:
        assert store.count("items") == 5 and store.failures("items") == []


def test_every_enrich_command_runs(tmp_path):
    """Each job's command reaches the job and stores the mock's placeholder answers."""
    for job in ("items", "users", "negatives"):
        db = tmp_path / f"{job}.db"
        result = _invoke("enrich", job, "--dataset", "ml-latest-small", "--backend", "mock",
                         "--limit", "2", "--store", str(db))
        assert result.exit_code == 0, (job, result.output)
        with EnrichmentStore(db) as store:
            assert store.count(job) == 2 and store.failures(job) == [], job


@pytest.mark.parametrize("option", ["--limit", "--threads"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_counts_below_one_are_refused(tmp_path, option, value):
    db = tmp_path / "e.db"
    result = _invoke("enrich", "items", "--backend", "mock", "--store", str(db), option, value)
    assert result.exit_code == 2 and option in result.output, result.output
    assert not db.exists()


def test_the_default_store_sits_in_the_serving_runs_dir(tmp_path, monkeypatch):
    from recstrata.config import get_settings

    monkeypatch.setenv("RECSTRATA_SERVING__RUNS_DIR", str(tmp_path / "deploy"))
    get_settings.cache_clear()
    try:
        result = _invoke("enrich", "items", "--backend", "mock", "--limit", "1")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with EnrichmentStore(tmp_path / "deploy" / "enrichment.db") as store:
        assert store.count("items") == 1
