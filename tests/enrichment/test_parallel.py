"""Several worker processes on one store: same results as one process, nothing done twice."""

from __future__ import annotations

import pytest
from fakes import (
    backend_missing_its_package,
    TwoPartError,
    backend_raising_a_two_part_error,
    backend_raising_an_unpicklable_error,
    scripted_items,
    unavailable_backend,
)

from recstrata.enrichment import EnrichmentStore, ItemAttributesJob, iter_outputs, run_job
from recstrata.enrichment.parallel import run_job_parallel
from recstrata.errors import (
    ArtifactError,
    ConfigError,
    LLMUnavailableError,
    MissingDependencyError,
    RecstrataError,
)


def test_two_workers_store_what_one_process_stores_and_a_rerun_is_a_noop(movies, tmp_path):
    par = run_job_parallel(ItemAttributesJob(), movies, scripted_items, tmp_path / "par.db", workers=2,
                           progress=False)
    assert (par.total, par.stored, par.failed, par.already_done) == (movies.n_items, movies.n_items, 0, 0)
    assert par.model == "scripted-1" and par.tokens_out > 0
    with EnrichmentStore(tmp_path / "one.db") as store:
        run_job(ItemAttributesJob(), movies, scripted_items(), store, progress=False)
        serial = dict(iter_outputs(store, "items"))
    with EnrichmentStore(tmp_path / "par.db") as store:
        assert dict(iter_outputs(store, "items")) == serial
        assert store.count("items") == movies.n_items  # every item exactly once
    again = run_job_parallel(ItemAttributesJob(), movies, scripted_items, tmp_path / "par.db", workers=2,
                             progress=False)
    assert (again.already_done, again.stored) == (movies.n_items, 0)


def test_a_worker_whose_backend_is_down_stops_the_run_with_that_error(movies, tmp_path):
    with pytest.raises(LLMUnavailableError, match="simulated"):
        run_job_parallel(ItemAttributesJob(), movies, unavailable_backend, tmp_path / "e.db", workers=2,
                         progress=False)
    with EnrichmentStore(tmp_path / "e.db") as store:
        assert store.count("items") == 0


def test_a_worker_missing_an_optional_package_stops_the_run_with_that_error(movies, tmp_path):
    with pytest.raises(MissingDependencyError, match=r"pip install 'recstrata\[llm\]'") as info:
        run_job_parallel(ItemAttributesJob(), movies, backend_missing_its_package, tmp_path / "e.db", workers=2,
                         progress=False)
    assert (info.value.package, info.value.extra) == ("llama_cpp", "llm")


def test_a_worker_error_whose_init_takes_other_arguments_reaches_the_caller_as_itself(movies, tmp_path):
    # TwoPartError's __init__ takes two arguments: pickle's default rebuild would fail in the parent
    with pytest.raises(TwoPartError, match=r"^the backend: cannot start \(simulated\)$"):
        run_job_parallel(ItemAttributesJob(), movies, backend_raising_a_two_part_error, tmp_path / "e.db",
                         workers=2, progress=False)


def test_a_worker_error_that_cannot_be_pickled_still_reaches_the_caller_with_its_message(movies, tmp_path):
    with pytest.raises(RecstrataError, match=r"RecstrataError: the backend cannot start \(simulated\)"):
        run_job_parallel(ItemAttributesJob(), movies, backend_raising_an_unpicklable_error, tmp_path / "e.db",
                         workers=2, progress=False)


def test_a_file_that_is_not_a_store_stops_a_parallel_run_before_any_worker_loads_a_model(movies, tmp_path):
    path = tmp_path / "e.db"
    path.write_bytes(b"not an SQLite file\n" * 300)
    # the parent opens the store first: its error, not the workers' backend error, ends the run
    with pytest.raises(ArtifactError, match=r"e\.db cannot be opened.*move it aside"):
        run_job_parallel(ItemAttributesJob(), movies, unavailable_backend, path, workers=2, progress=False)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(movies, tmp_path, workers):
    with pytest.raises(ConfigError, match="workers"):
        run_job_parallel(ItemAttributesJob(), movies, scripted_items, tmp_path / "e.db", workers=workers)
