"""REST API v1 (used by the `batchstudio` CLI). OpenAPI schema at /api/v1/openapi.json.

One router per resource in apps/api/routers/ (account, catalog, projects, jobs, results,
webhooks);
every answer that is not a success is made in apps/api/errors.py.
"""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.operation import Operation

from apps.api import errors
from apps.api.auth import TokenAuth
from apps.api.routers import account, catalog, jobs, projects, results, webhooks


class BatchStudioAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # ninja names an operation after its module: keep the ids of the published schema
        # from when every endpoint lived in this module, so generated clients keep working.
        return f"apps_api_api_{operation.view_func.__name__}"


api = BatchStudioAPI(
    title="BatchStudio API",
    version="1",
    description="Batch inference jobs: projects, ML Apps, models, datasets, jobs, results.",
    auth=TokenAuth(),
    urls_namespace="api",
)
errors.install_handlers(api)
for module in (account, catalog, projects, jobs, results, webhooks):
    api.add_router("", module.router)
