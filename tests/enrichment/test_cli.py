"""``recstrata enrich`` and ``recstrata llm ls`` end to end, with the mock backend."""

from __future__ import annotations

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


def test_enrich_items_with_a_mock_that_breaks_the_schema_counts_failures_and_stores_nothing(tmp_path):
    db = tmp_path / "e.db"
    result = _invoke("enrich", "items", "--dataset", "ml-latest-small", "--backend", "mock",
                     "--limit", "3", "--store", str(db))
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
        assert sorted(r for _, r, _ in store.failures("items")) == ["schema"] * 5


def test_every_enrich_command_runs(tmp_path):
    """Each job's command reaches the job (the mock breaks the schema, so every task is a counted failure)."""
    for job in ("items", "users", "negatives"):
        db = tmp_path / f"{job}.db"
        result = _invoke("enrich", job, "--dataset", "ml-latest-small", "--backend", "mock",
                         "--limit", "2", "--store", str(db))
        assert result.exit_code == 0, (job, result.output)
        with EnrichmentStore(db) as store:
            assert store.count(job) == 0 and len(store.failures(job)) == 2, job
