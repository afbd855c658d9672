"""The OpenAPI schema is checked against the API with schemathesis (a bounded run)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from apps.accounts.services import api_token_create
from apps.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def auth_headers(owner, catalog, redis_server):
    from tests.factories import make_project

    make_project(owner, "Demo")
    return {"Authorization": f"Bearer {api_token_create(user=owner, name='fuzz')[1]}"}


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_schema(case, auth_headers):
    # Never a 500, every response documented and matching its schema, bad input refused.
    # Schema-valid bodies may still name things that do not exist (a 400 with the field),
    # so "positive data acceptance" does not apply; unknown query parameters are ignored.
    case.call_and_validate(
        headers=auth_headers, excluded_checks=[positive_data_acceptance, negative_data_rejection]
    )
