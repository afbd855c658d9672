"""Every URL of the app and the API, as an anonymous visitor, an outsider and the owner.

The list of URLs comes from the URL configuration itself, so a new view cannot be
forgotten: a route with parameters that this file does not know how to fill fails
`test_every_route_is_in_the_matrix` until it is added to OBJECT_ROUTES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.services import api_token_create
from apps.catalog.models import MLApp
from apps.catalog.services import dataset_add
from apps.openai_api.files import file_create
from apps.openai_api.services import batch_create
from apps.webhooks.services import webhook_add
from tests.conftest import wait_for_job
from tests.factories import make_project, sentiment_job

# Routes anyone may reach (the login page, health check, API schema and docs).
PUBLIC = {
    "login",
    "logout",
    "healthz",
    "api:openapi-json",
    "api:openapi-view",
    "api:api-root",
    "api:no_such_endpoint",  # the JSON 404 for any other address under /api/v1/
    "openai:openapi-json",
    "openai:openapi-view",
    "openai:api-root",
    "openai:no_such_endpoint",  # OpenAI's JSON 404 for any other address under /openai/v1/
}

# Which of the owner's objects fills a route's parameters (a tuple: one per parameter).
OBJECT_ROUTES: dict[str, str | tuple[str, ...]] = {
    "projects:detail": "project",
    "projects:delete": "project",
    "jobs:new": "project",
    "jobs:check_name": "project",
    "jobs:check_path": "project",
    "jobs:detail": "job",
    "jobs:row": "job",
    "jobs:preview": "job",
    "jobs:quit": "job",
    "jobs:delete": "job",
    "exports:results": "job",
    "exports:download": "job",
    "exports:panel": "job",
    "exports:create": "job",
    "exports:history": "job",
    "catalog:model_detail": "model",
    "catalog:model_delete": "model",
    "catalog:dataset_detail": "dataset",
    "catalog:dataset_delete": "dataset",
    "catalog:dataset_import_card": "dataset",
    "catalog:dataset_import_resume": "dataset",
    "accounts:token_revoke": "token",
    "accounts:member_remove": "membership",
    "accounts:member_limit": "membership",
    "api:project_delete_view": "project",
    "api:job_info": "job",
    "api:job_delete_view": "job",
    "api:job_quit_view": "job",
    "api:job_download": "job",
    "api:job_export_create": "job",
    "api:job_export_list": "job",
    "api:model_delete_view": "model",
    "api:dataset_delete_view": "dataset",
    "api:dataset_info": "dataset",
    "api:dataset_import_resume_api": "dataset",
    "openai:file_get": "openai_file",
    "openai:file_remove": "openai_file",
    "openai:file_content": "openai_file",
    "openai:batch_get": "openai_batch",
    "openai:batch_cancel": "openai_batch",
    "webhooks:add": "project",
    "webhooks:delete": ("project", "webhook"),
    "api:webhook_list": "project",
    "api:webhook_add_view": "project",
    "api:webhook_delete_view": ("project", "webhook"),
    "api:job_deliveries": "job",
}


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    params: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.name.startswith(("api:", "openai:"))

    def url(self, objects: dict[str, Any]) -> str:
        path = "/" + self.pattern
        kinds = OBJECT_ROUTES[self.name] if self.params else ()
        kinds = (kinds,) * len(self.params) if isinstance(kinds, str) else kinds
        for param, kind in zip(self.params, kinds, strict=True):
            obj = objects[kind]
            key = str(getattr(obj, "public_id", obj.pk))  # the OpenAI API's ids are strings
            path = path.replace(f"<int:{param}>", key).replace(f"<{param}>", key)
        return path


def _walk(patterns: list[Any], prefix: str = "", namespace: str | None = None) -> list[Route]:
    routes = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue  # Django's own admin: staff-only, tested by Django
            routes += _walk(
                entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace
            )
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else str(entry.name)
            params = tuple(entry.pattern.regex.groupindex)
            routes.append(Route(name, prefix + str(entry.pattern), params))
    return routes


ROUTES = _walk(get_resolver().url_patterns)
PRIVATE = [r for r in ROUTES if r.name not in PUBLIC]


def test_every_route_is_in_the_matrix():
    unknown = [r.name for r in PRIVATE if r.params and r.name not in OBJECT_ROUTES]
    assert not unknown, f"add these routes to OBJECT_ROUTES: {unknown}"
    assert len(PRIVATE) > 40


@pytest.fixture
def objects(owner, colleague, catalog, live_worker):
    project = make_project(owner, "Matrix")
    job = wait_for_job(sentiment_job(owner, project, name="matrix-job").pk)
    app = MLApp.objects.get(key="sentiment-analysis")
    dataset = dataset_add(
        user=owner,
        name="matrix-data",
        ml_apps=[app],
        uploads=[SimpleUploadedFile("m.txt", b"fine\n")],
    )
    from apps.catalog.services import model_add
    from tests.catalog.test_services import _hf_files, _zip_upload

    model = model_add(
        user=owner, name="matrix-model", ml_app=app, uploads=[_zip_upload(_hf_files())]
    )
    token, _ = api_token_create(user=owner, name="matrix")
    webhook = webhook_add(user=owner, project=project, url="http://127.0.0.1:9/matrix", events=[])
    openai_file = file_create(
        user=owner, upload=SimpleUploadedFile("matrix.jsonl", b"{}\n"), purpose="batch"
    )
    # All its lines refused: a failed batch, no job to wait for.
    openai_batch = batch_create(
        user=owner,
        input_file_id=openai_file.public_id,
        endpoint="/v1/embeddings",
        completion_window="24h",
        metadata=None,
    )
    return {
        "openai_file": openai_file,
        "openai_batch": openai_batch,
        "project": project,
        "job": job,
        "dataset": dataset,
        "model": model,
        "token": token,
        "membership": colleague.membership,
        "webhook": webhook,
    }


VALID_API_BODY = {
    "bucket": "results-bucket",
    "access_key_id": "AKIAEXAMPLE",
    "secret_access_key": "not-a-real-secret",
}


def _api(user: Any) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=user, name='m')[1]}"})


@pytest.mark.worker
def test_anonymous_visitors_are_sent_to_login_or_get_401(objects):
    anonymous = Client()
    for route in PRIVATE:
        url = route.url(objects)
        statuses = {}
        for method in ("get", "post", "delete"):
            response = getattr(anonymous, method)(url)
            statuses[method] = response.status_code
            if not route.is_api and method != "delete":
                assert response.status_code == 302, (method, url, response.status_code)
                assert response["Location"].startswith("/accounts/login/"), url
        if route.is_api:
            # 405 only for a method the route does not have; the ones it has ask for a token.
            assert set(statuses.values()) <= {401, 405}, (url, statuses)
            assert 401 in statuses.values(), (url, statuses)


@pytest.mark.worker
def test_outsiders_get_404_for_every_object_route(objects, outsider, owner):
    web = Client()
    web.force_login(outsider)
    api = _api(outsider)
    for route in PRIVATE:
        if not route.params:
            continue
        url = route.url(objects)
        if route.is_api:
            # A well-formed body, so the answer is about access, not about the payload.
            statuses = {
                "get": api.get(url).status_code,
                "post": api.post(url, VALID_API_BODY, content_type="application/json").status_code,
                "delete": api.delete(url).status_code,
            }
        else:
            statuses = {m: getattr(web, m)(url).status_code for m in ("get", "post", "delete")}
        assert set(statuses.values()) <= {404, 405}, (url, statuses)
        assert 404 in statuses.values(), (url, statuses)
    # Nothing was changed by all that: every object is still there, as it was.
    for name in (
        "job",
        "project",
        "token",
        "dataset",
        "model",
        "membership",
        "openai_file",
        "openai_batch",
        "webhook",
    ):
        objects[name].refresh_from_db()  # raises DoesNotExist if a route deleted it
    assert objects["job"].status == "COMPLETED"
    assert objects["token"].revoked_at is None
    assert objects["membership"].organization == owner.membership.organization


@pytest.mark.worker
def test_outsiders_lists_do_not_show_the_owners_objects(objects, outsider):
    web = Client()
    web.force_login(outsider)
    api = _api(outsider)
    names = ("Matrix", "matrix-job", "matrix-data", "matrix-model")
    for route in PRIVATE:
        if route.params or route.name in WRITE_ONLY:  # not a list (POST only)
            continue
        response = (api if route.is_api else web).get(route.url(objects))
        if route.name in REDIRECTS:
            assert response.status_code == 302, (route.name, response.status_code)
            response = web.get(response["Location"])
        # Every list answers: a page that fails is not a page that hides the owner's objects.
        assert response.status_code == 200, (route.name, response.status_code)
        body = response.content.decode()
        leaked = [n for n in names if n in body]
        assert not leaked, (route.name, leaked)


# What the owner's GET answers where it is not a page (200): a redirect to a page of the
# app, or 405 for a route that only changes state (POST, or DELETE in the API).
REDIRECTS = {"home": "/projects/"}
WRITE_ONLY = {
    "accounts:token_revoke",
    "accounts:member_remove",
    "accounts:member_limit",
    "api:project_delete_view",
    "api:job_quit_view",
    "api:model_delete_view",
    "projects:delete",
    "catalog:model_delete",
    "catalog:dataset_delete",
    "catalog:dataset_import_resume",
    "api:dataset_import_resume_api",
    "api:dataset_import_view",
    "jobs:quit",
    "jobs:delete",
    "exports:create",
    "openai:batch_cancel",
    "webhooks:add",
    "webhooks:delete",
    "api:webhook_delete_view",
}
# Pages that also take a POST (a form posting to itself).
FORM_PAGES = {
    "jobs:new",
    "projects:list",
    "accounts:tokens",
    "accounts:organization",
    "catalog:model_add",
    "catalog:dataset_add",
    "catalog:dataset_import",
}


def test_the_expected_answers_name_real_routes():
    names = {r.name for r in PRIVATE}
    assert (set(REDIRECTS) | WRITE_ONLY | FORM_PAGES) <= names


@pytest.mark.worker
def test_owner_reaches_every_route_and_writes_need_post_and_csrf(objects, owner):
    web = Client()
    web.force_login(owner)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    api = _api(owner)
    for route in PRIVATE:
        url = route.url(objects)
        response = (api if route.is_api else web).get(url)
        if route.name in WRITE_ONLY:
            assert response.status_code == 405, (url, response.status_code)
        elif route.name in REDIRECTS:
            assert response.status_code == 302, (url, response.status_code)
            assert response["Location"] == REDIRECTS[route.name], url
        else:
            assert response.status_code == 200, (url, response.status_code)
        if not route.is_api and (route.name in WRITE_ONLY or route.name in FORM_PAGES):
            # A state-changing URL refuses a POST without a CSRF token.
            assert strict.post(url).status_code == 403, url


@pytest.mark.worker
def test_owner_quits_a_finished_job_and_posts_an_empty_export_form(objects, owner):
    """The two write routes the matrix can post without destroying its objects, posted
    for real: both answer with the app's own page, and nothing is lost."""
    web = Client()
    web.force_login(owner)
    job = objects["job"]
    quit_response = web.post(f"/jobs/{job.pk}/quit/")
    assert quit_response.status_code == 302, quit_response.status_code
    assert quit_response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.status == "COMPLETED"  # a finished job stays as it ended
    export = web.post(f"/jobs/{job.pk}/exports/")
    assert export.status_code == 400, export.status_code  # the form again, with its errors
    assert "This field is required" in export.content.decode()
    assert not job.exports.exists()
