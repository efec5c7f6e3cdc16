"""Fixtures for the enrichment tests."""

from __future__ import annotations

import pytest
from enrich_data import make_movies

from recstrata.enrichment.store import EnrichmentStore


@pytest.fixture
def movies():
    return make_movies()


@pytest.fixture
def store(tmp_path):
    with EnrichmentStore(tmp_path / "enrich.db") as s:
        yield s
