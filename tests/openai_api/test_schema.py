"""The OpenAI-compatible API's OpenAPI schema (/openai/v1/openapi.json) is checked against
the API with schemathesis, as tests/api/test_schema.py checks /api/v1's (a bounded run).

Schema-valid requests must get documented answers that match the schema, and requests
that break it must be refused with a 4xx in OpenAI's error shape, never a 5xx. Left out,
as for /api/v1: "positive data acceptance", since a schema-valid body may still name a
file that does not exist (a 404). The schema documents what BatchStudio serves, not
OpenAI's whole API: the `openai` SDK's own checks (an `endpoint` and `purpose` of its
enums) are not in it, so schemathesis sends values the SDK would not, and they are
refused with a 400 as any client's would be.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import CheckConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apps.accounts.services import api_token_create
from apps.wsgi import application
from tests.api.test_schema import _headers_for

schema = schemathesis.openapi.from_wsgi("/openai/v1/openapi.json", application)
schema.config.checks.negative_data_rejection = CheckConfig(
    expected_statuses=["400", "401", "404", "405", "413", "422"]
)


@pytest.fixture
def auth_headers(owner, catalog):
    return {"Authorization": f"Bearer {api_token_create(user=owner, name='fuzz')[1]}"}


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_openai_api_matches_its_schema(case, auth_headers):
    case.call_and_validate(
        headers=_headers_for(case, auth_headers), excluded_checks=[positive_data_acceptance]
    )
