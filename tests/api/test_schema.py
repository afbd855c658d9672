"""The OpenAPI schema is checked against the API with schemathesis (a bounded run).

Positive and negative data both: schema-valid requests must get documented answers that
match the schema, and requests that break the schema (wrong types, missing or unknown
fields, out-of-range numbers, unknown enum values) must be refused with a 4xx, never a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import CheckConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apps.accounts.services import api_token_create
from apps.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# Refusals are client errors with a JSON message; a 5xx never counts as a refusal (the
# default list accepts one).
schema.config.checks.negative_data_rejection = CheckConfig(
    expected_statuses=["400", "401", "404", "405", "409", "413", "415", "422"]
)


@pytest.fixture
def auth_headers(owner, catalog, redis_server):
    from tests.factories import make_project

    make_project(owner, "Demo")
    return {"Authorization": f"Bearer {api_token_create(user=owner, name='fuzz')[1]}"}


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_schema(case, auth_headers):
    # Never a 500, every response documented and matching its schema, bad input refused.
    # Schema-valid bodies may still name things that do not exist (a 400 with the field),
    # so "positive data acceptance" does not apply.
    case.call_and_validate(
        headers=_headers_for(case, auth_headers), excluded_checks=[positive_data_acceptance]
    )


def _headers_for(case, auth_headers: dict[str, str]) -> dict[str, str]:
    """The real token, unless the case is about the headers: its Authorization header is
    missing or broken on purpose, so it must go without one (and get a 401). Sending the
    token anyway would turn the case into a valid request that is then "accepted"."""
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if header is not None and header.mode.is_negative:
        return {}
    return auth_headers
