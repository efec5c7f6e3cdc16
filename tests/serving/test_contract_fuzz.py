"""schemathesis against the app's own OpenAPI spec: no 5xx, responses match the contract.

Every operation gets generated requests (valid and invalid); the server must never answer 5xx
and every response must match the documented schema. A schema-valid request may only be refused
with 422 for what the schema cannot know or state, and only where it can happen (``ALLOWED``: an
unknown genre or an empty year range in a recommendation request's filters, a rating off the scale
in an event's value, an invisible character in its key), never for a constraint the schema omits.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

#: (route, loc, type) of every 422 a schema-valid request may get: the catalog-dependent ones ``invalid`` gives
ALLOWED = {
    *((path, (where, "genre"), "unknown_genre") for path, where in
      (("/v1/users/{user_id}/recommendations", "query"), ("/v1/recommendations", "body"))),
    *((path, (where, "year_min"), "year_range") for path, where in
      (("/v1/users/{user_id}/recommendations", "query"), ("/v1/recommendations", "body"))),
    ("/v1/events", ("body", "value"), "rating_scale"),
    ("/v1/events", ("body", "idempotency_key"), "printable_key"),  # Unicode categories: beyond the pattern
}


def test_openapi_contract(make_client):
    from recstrata.llm.mock import MockBackend

    from schemathesis.specs.openapi.checks import positive_data_acceptance

    from recstrata.serving.deps import SEMANTIC_ERRORS

    assert {type for _, _, type in ALLOWED} == set(SEMANTIC_ERRORS)
    client = make_client(MockBackend(default='{"sentence": "Because you watched Movie 1, enjoy this one too."}'),
                         rate_per_second=1e6, rate_burst=10**6)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.headers = {**(case.headers or {}), "X-API-Key": "admin"}
            response = case.call()
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
            if case.meta.generation.mode.is_positive and response.status_code == 422:
                got = {(case.operation.path, tuple(e["loc"]), e["type"]) for e in response.json()["detail"]}
                assert got <= ALLOWED, f"{case.method} {case.formatted_path}: {response.text}"

        run()
