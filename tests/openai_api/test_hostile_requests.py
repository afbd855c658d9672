"""The OpenAI-compatible API refuses requests of any size and shape in OpenAI's error shape,
`{"error": {"message", "type", "param", "code"}}`, with a sentence a person can act on:
bodies over the limits, too many fields or files, broken multipart forms, bodies that are
not a JSON object, wrong types and lengths, hidden characters, ids that do not exist.
Never a 500 or a traceback, never a hidden character quoted raw, and nothing is stored.

The status codes are OpenAI's, which its `openai` SDK maps to exceptions (400
BadRequestError, 401 AuthenticationError, 404 NotFoundError, 413 and 422 APIStatusError).
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from django.conf import settings
from django.test import Client, override_settings

from apps.accounts.services import api_token_create
from apps.catalog.models import Dataset
from apps.core.storage import storage_root
from apps.jobs.models import Job
from apps.openai_api.files import FILES_DIR
from apps.openai_api.models import OpenAIBatch, OpenAIFile
from tests.api.test_hostile_requests import RAW_WORDS

# Unicode categories that must never reach a message raw (apps.core.text).
HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}
BIDI_ID = "file-\u202egnp.exe"


@pytest.fixture
def oa(owner: Any) -> Client:
    token = api_token_create(user=owner, name="hostile")[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


def assert_refused(
    response: Any, status: int, param: str | None = None, says: str = "", code: str | None = None
) -> str:
    """An error of OpenAI's shape: one sentence, no pydantic or Python words, nothing
    hidden quoted raw. Returns the message."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    answer = response.json()
    assert list(answer) == ["error"], answer
    error = answer["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    kind = "authentication_error" if status == 401 else "invalid_request_error"
    assert (error["type"], error["param"], error["code"]) == (kind, param, code), error
    message = error["message"]
    assert says in message, message
    assert_sentence(message)
    return message


def assert_sentence(message: str) -> None:
    """One sentence, which may open with the parameter it is about quoted ("'limit' must
    be …"); no pydantic or Python words, nothing hidden quoted raw."""
    assert message[0].isupper() or message.startswith("'"), message
    assert message.endswith((".", ")", "?")), message
    assert not RAW_WORDS.search(message), message
    assert not [ch for ch in message if unicodedata.category(ch) in HIDDEN], ascii(message)
    assert len(message) < 500, message


def _stored_files() -> set[Path]:
    folder = storage_root() / FILES_DIR
    return set(folder.iterdir()) if folder.exists() else set()


@pytest.fixture
def nothing_stored() -> Callable[[], None]:
    """Call it after a refusal: no file, batch, job or dataset was made, and no file was
    written to the storage (where earlier tests of the session leave theirs)."""
    before = _stored_files()

    def check() -> None:
        assert not OpenAIFile.objects.exists()
        assert not OpenAIBatch.objects.exists()
        assert not Job.objects.exists()
        assert not Dataset.objects.filter(owner__isnull=False).exists()
        assert _stored_files() == before

    return check


def _batch_body(**overrides: Any) -> dict[str, Any]:
    return {
        "input_file_id": "file-000000000000000000000000",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        **overrides,
    }


def _jsonl(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


# --- bodies the server does not read --------------------------------------------------


def test_a_batch_body_over_the_upload_limit_answers_413(nothing_stored, oa):
    # About 2.6 MB of metadata: over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB).
    body = json.dumps(_batch_body(metadata={"k": "x" * 2_700_000}))
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = oa.post("/openai/v1/batches", body, content_type="application/json")
    assert_refused(response, 413, says="larger than the server accepts (2.5 MiB")
    nothing_stored()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
@pytest.mark.parametrize(
    "url,content_type,body",
    [
        ("/openai/v1/batches", "application/json", b"{" + b" " * 2000 + b"}"),
        ("/openai/v1/batches", "application/json", b"\xff" * 2000),  # and not even text
        ("/openai/v1/batches", "text/plain", b"x" * 2000),
        ("/openai/v1/files", "application/x-www-form-urlencoded", b"purpose=" + b"x" * 2000),
    ],
    ids=["json", "binary", "text", "form"],
)
def test_any_body_over_the_limit_answers_413(nothing_stored, oa, url, content_type, body):
    response = oa.post(url, body, content_type=content_type)
    assert_refused(response, 413, says="larger than the server accepts")
    nothing_stored()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_form_field_over_the_limit_beside_the_file_answers_413(nothing_stored, oa):
    upload = {"purpose": "batch" + " " * 5000, "file": _jsonl("b.jsonl", b"{}\n")}
    assert_refused(oa.post("/openai/v1/files", upload), 413, says="shorter metadata")
    nothing_stored()


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10)
@pytest.mark.parametrize(
    "method,url,data",
    [
        ("get", "/openai/v1/files?" + "&".join(f"p{i}=1" for i in range(50)), None),
        ("get", "/openai/v1/batches?" + "&".join(f"p{i}=1" for i in range(50)), None),
        ("post", "/openai/v1/files", {f"f{i}": "1" for i in range(50)}),
    ],
    ids=["files-query", "batches-query", "form"],
)
def test_too_many_fields_answer_413(nothing_stored, oa, method, url, data):
    response = getattr(oa, method)(url, data) if data else getattr(oa, method)(url)
    assert_refused(response, 413, says="more than 10 fields or query parameters.")
    nothing_stored()


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=3)
def test_too_many_files_answer_413_naming_the_file(nothing_stored, oa):
    files = [_jsonl(f"part{i}.jsonl", b"{}\n") for i in range(5)]
    response = oa.post("/openai/v1/files", {"purpose": "batch", "file": files})
    assert_refused(response, 413, "file", "more than 3 files; POST /files takes one file")
    nothing_stored()


@pytest.mark.parametrize(
    "content_type,body,param,says",
    [
        # Django gives up on the form: no boundary, or one it cannot use.
        ("multipart/form-data", b"--xyz\r\n", None, "multipart form could not be read"),
        ("multipart/form-data; boundary=" + "x" * 300, b"--x\r\n", None, "could not be read"),
        # Cut off mid-part: Django reads no field, so the file is what is missing.
        (
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbat',
            "file",
            "The file is missing",
        ),
        # An empty body goes without a Content-Type (Django's test client drops it).
        ("multipart/form-data; boundary=xyz", b"", None, "multipart form"),
        ("application/json", b'{"purpose": "batch"}', None, "multipart form"),
        ("text/plain", b"purpose=batch", None, "multipart form"),
    ],
    ids=["no-boundary", "long-boundary", "truncated", "empty", "json", "text"],
)
def test_an_upload_that_is_not_a_readable_form_is_400(
    nothing_stored, oa, content_type, body, param, says
):
    response = oa.post("/openai/v1/files", body, content_type=content_type)
    assert_refused(response, 400, param, says)
    nothing_stored()


# --- POST /batches: the JSON body ----------------------------------------------------


@pytest.mark.parametrize(
    "content_type,body,says",
    [
        ("application/json", b'{"input_file_id": ', "not valid JSON (Expecting value at"),
        ("application/json", b'{"input_file_id": "f",}', "not valid JSON"),
        ("application/json", b'{"input_file_id": "\xff"}', "not UTF-8"),
        ("application/json", b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        ("application/json", b'{"metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001, "deeply"),
        ("text/plain", b"input_file_id=f", "not valid JSON"),
        ("application/x-www-form-urlencoded", b"input_file_id=f", "not valid JSON"),
        ("application/xml", b"<batch><endpoint/></batch>", "not valid JSON"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-", "JSON"),
    ],
    ids=[
        "truncated", "trailing-comma", "not-utf8", "deep", "deep-metadata", "text", "form",
        "xml", "multipart",
    ],
)  # fmt: skip
def test_a_batch_body_that_is_not_json_is_400(nothing_stored, oa, content_type, body, says):
    response = oa.post("/openai/v1/batches", body, content_type=content_type)
    assert_refused(response, 400, says=says)
    nothing_stored()


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b"1", b'"batch"', b"true", b"null", b""])
def test_json_that_is_not_an_object_is_400(nothing_stored, oa, body):
    response = oa.post("/openai/v1/batches", body, content_type="application/json")
    assert_refused(response, 400, says="JSON object")
    nothing_stored()


@pytest.mark.parametrize(
    "overrides,param,says",
    [
        ({"input_file_id": 5}, "input_file_id", "The input file ID must be text"),
        ({"input_file_id": None}, "input_file_id", "The input file ID must be text"),
        ({"endpoint": ["/v1/embeddings"]}, "endpoint", "The endpoint must be text"),
        ({"completion_window": "48h"}, "completion_window", "'completion_window' must be 24h."),
        ({"endpoint": "/v1/\u202eresponses"}, "endpoint", "'/v1/\\u202eresponses'"),
        ({"metadata": "team=search"}, "metadata", "The metadata must be a JSON object"),
        ({"metadata": {"team": 5}}, "metadata", "The metadata value of 'team' must be a string."),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "at most 16 keys"),
        ({"metadata": {"k" * 65: "v"}}, "metadata", "The metadata key is longer than 64"),
        ({"metadata": {"team": "v" * 513}}, "metadata", "is longer than 512 characters."),
        ({"metadata": {"te\u202eam": "v"}}, "metadata", "(it holds U+202E RIGHT-TO-LEFT"),
        ({"metadata": {"team\n": "v"}}, "metadata", "may not contain control characters"),
        ({"metadata": {"team": "a\x00b"}}, "metadata", "holds a NUL byte or a lone surrogate"),
    ],
    ids=[
        "id-number", "id-null", "endpoint-list", "window", "endpoint-bidi", "metadata-text",
        "metadata-number", "metadata-17-keys", "metadata-long-key", "metadata-long-value",
        "metadata-bidi-key", "metadata-newline-key", "metadata-nul-value",
    ],
)  # fmt: skip
def test_wrong_types_lengths_and_hidden_characters_read_as_sentences(
    nothing_stored, oa, overrides, param, says
):
    response = oa.post("/openai/v1/batches", _batch_body(**overrides), "application/json")
    assert_refused(response, 400, param, says)
    nothing_stored()


def test_a_lone_surrogate_in_metadata_is_refused(nothing_stored, oa):
    # Valid JSON ("\ud800" is an escape), but no UTF-8 text and no PostgreSQL jsonb.
    body = json.dumps(_batch_body(metadata={"team": "PLACEHOLDER"})).replace(
        "PLACEHOLDER", "\\ud800"
    )
    response = oa.post("/openai/v1/batches", body, content_type="application/json")
    assert_refused(response, 400, "metadata", "lone surrogate")
    nothing_stored()


def test_every_refused_field_is_one_sentence_naming_the_first(oa):
    body = {"input_file_id": 5, "completion_window": 24}
    response = oa.post("/openai/v1/batches", body, content_type="application/json")
    assert_refused(response, 400, "input_file_id", "The input file ID must be text")


# --- the query and the ids -------------------------------------------------------------


@pytest.mark.parametrize(
    "url,param,says",
    [
        ("/openai/v1/files?limit=abc", "limit", "The limit must be a whole number."),
        ("/openai/v1/files?limit=0", "limit", "'limit' must be between 1 and 10000."),
        (f"/openai/v1/files?limit={10**30}", "limit", "'limit' must be between 1 and 10000."),
        ("/openai/v1/files?order=up", "order", "'order' must be asc or desc."),
        ("/openai/v1/batches?limit=101", "limit", "'limit' must be between 1 and 100."),
        ("/openai/v1/files?after=%E2%80%AEx", "after", "(\\u202ex)"),
        ("/openai/v1/batches?after=a%00b", "after", "(a\\u0000b)"),
        ("/openai/v1/batches?after=" + "x" * 5000, "after", "names no object of this list"),
    ],
)
def test_bad_query_values_are_400(oa, url, param, says):
    assert_refused(oa.get(url), 400, param, says)


def test_an_unknown_purpose_lists_nothing(oa):
    response = oa.get("/openai/v1/files", {"purpose": "a\x00b"})
    assert response.status_code == 200 and response.json()["data"] == []


@pytest.mark.parametrize(
    "ref", [BIDI_ID, "file-a\x00b", "x" * 5000, "file-\u2028x"], ids=["rlo", "nul", "long", "ls"]
)
@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/openai/v1/files/{}"),
        ("get", "/openai/v1/files/{}/content"),
        ("delete", "/openai/v1/files/{}"),
        ("get", "/openai/v1/batches/{}"),
        ("post", "/openai/v1/batches/{}/cancel"),
    ],
)
def test_unknown_ids_are_404_quoted_escaped(oa, method, url, ref):
    message = assert_refused(getattr(oa, method)(url.format(ref)), 404, says="No ")
    assert message.startswith(("No file '", "No batch '")), message


def test_an_unknown_input_file_with_bidi_characters_is_404_quoted_escaped(nothing_stored, oa):
    body = _batch_body(input_file_id=BIDI_ID)
    response = oa.post("/openai/v1/batches", body, content_type="application/json")
    assert_refused(response, 404, "input_file_id", "No file 'file-\\u202egnp.exe'.")
    nothing_stored()


def test_an_outsider_gets_the_same_404_as_for_an_unknown_id(oa, outsider):
    uploaded = oa.post("/openai/v1/files", {"purpose": "batch", "file": _jsonl("a.jsonl", b"{}")})
    file_id = uploaded.json()["id"]
    token = api_token_create(user=outsider, name="outsider")[1]
    stranger = Client(headers={"Authorization": f"Bearer {token}"})
    response = stranger.get(f"/openai/v1/files/{file_id}")
    assert_refused(response, 404, says=f"No file '{file_id}'.")
    body = _batch_body(input_file_id=file_id)
    response = stranger.post("/openai/v1/batches", body, content_type="application/json")
    assert_refused(response, 404, "input_file_id", f"No file '{file_id}'.")
    assert not OpenAIBatch.objects.exists()


@pytest.mark.parametrize(
    "project", ["\u00b2", "\u0663", "9" * 30, "a\x00b", "\u202eDemo"],
    ids=["superscript-two", "arabic-three", "huge", "nul", "rlo"],
)  # fmt: skip
def test_a_project_header_that_names_no_project_is_404(oa, project):
    # "²" is a digit to str.isdigit() but no id; 10**30 is past every id column.
    uploaded = oa.post("/openai/v1/files", {"purpose": "batch", "file": _jsonl("a.jsonl", b"{}")})
    body = _batch_body(input_file_id=uploaded.json()["id"])
    response = oa.post(
        "/openai/v1/batches",
        body,
        content_type="application/json",
        headers={"BatchStudio-Project": project},
    )
    assert_refused(response, 404, "BatchStudio-Project", "in your organization.")
    assert not OpenAIBatch.objects.exists()


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_address_is_openais_json_404(oa, db, method):
    response = getattr(oa, method)("/openai/v1/fine_tuning/jobs/\u202e")
    assert_refused(response, 404, says="No endpoint at /openai/v1/fine_tuning/jobs/\\u202e.")


def test_a_missing_token_is_openais_401(db):
    response = Client().get("/openai/v1/files")
    assert_refused(response, 401, says="API key", code="invalid_api_key")


# --- file names and the lines of an input file ---------------------------------------


@pytest.mark.parametrize(
    "name,stored",
    [
        ("\u202egnp.exe.jsonl", "gnp.exe.jsonl"),
        ("a\tb\u200b\x00.jsonl", "ab.jsonl"),
        ("x" * 300 + ".jsonl", "x" * 249 + ".jsonl"),
    ],
    ids=["bidi", "control", "long"],
)
def test_file_names_are_cleaned_not_refused(oa, name, stored):
    # As at OpenAI, a file name is not refused: Django's multipart parser drops the
    # characters that are not printable and cuts a name to 255 characters, keeping its
    # extension. What is stored and answered is that clean name.
    response = oa.post("/openai/v1/files", {"purpose": "batch", "file": _jsonl(name, b"{}\n")})
    assert response.status_code == 200, response.content
    assert response.json()["filename"] == stored
    assert OpenAIFile.objects.get().filename == stored


def _line(custom_id: str, **overrides: Any) -> bytes:
    line = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "mini\u202elm", "input": "hello"},
        **overrides,
    }
    return json.dumps(line).encode()


# An input file whose lines are refused one by one (OpenAI's way: a line goes to the error
# file, the batch answers 200), after one valid line that names a model with a bidi
# control; no such model exists, so the batch fails and no job or dataset is made.
BAD_LINES: list[tuple[bytes, str, str]] = [
    (_line("x" * 513), "invalid_custom_id", "The custom_id is longer than 512 characters."),
    (_line("a\u202eb"), "invalid_custom_id", "(it holds U+202E RIGHT-TO-LEFT OVERRIDE)"),
    (_line("a\x00b"), "invalid_custom_id", "(it holds U+0000"),
    (_line("u", url="/v1/\u202eembeddings"), "invalid_url", "url (/v1/\\u202eembeddings) is"),
    (
        _line("m", body={"model": "other\u202e", "input": "x"}),
        "model_mismatch",
        "The body's model 'other\\u202e' is not the batch's model 'mini\\u202elm'",
    ),
    (_line("same", method="GET"), "invalid_method", "'method' must be POST."),
    (_line("same"), "duplicate_custom_id", "The custom_id 'same' is used by an earlier line."),
    (b'{"custom_id": "\\ud800", "method": "POST"}', "invalid_json", "lone surrogate"),
    (b'{"custom_id": "s", "body": {"input": "\\udfff"}}', "invalid_json", "lone surrogate"),
    (b'{"custom_id": "\xff"}', "invalid_json", "The line is not UTF-8 text."),
    (b'{"custom_id": ', "invalid_json", "The line is not valid JSON (Expecting value at line"),
    (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "The line nests too deeply."),
    (b"[1, 2]", "invalid_request", "The line must be a JSON object."),
]


def test_bad_lines_are_refused_one_by_one_in_sentences(oa, catalog):
    lines = [_line("first"), *(line for line, _, _ in BAD_LINES)]
    upload = {"purpose": "batch", "file": _jsonl("bad.jsonl", b"\n".join(lines))}
    uploaded = oa.post("/openai/v1/files", upload)
    assert uploaded.status_code == 200, uploaded.content
    body = _batch_body(input_file_id=uploaded.json()["id"], endpoint="/v1/embeddings")
    response = oa.post("/openai/v1/batches", body, content_type="application/json")
    assert response.status_code == 200, response.content
    batch = response.json()
    assert batch["status"] == "failed" and batch["request_counts"]["total"] == len(lines)
    assert not Job.objects.exists() and not Dataset.objects.filter(owner__isnull=False).exists()
    [error] = batch["errors"]["data"]
    assert error["code"] == "model_not_found", error
    assert "named 'mini\\u202elm'" in error["message"], error
    content = oa.get(f"/openai/v1/files/{batch['error_file_id']}/content")
    rows = [json.loads(row) for row in b"".join(content.streaming_content).splitlines()]
    refused = [row["error"] for row in rows if row["custom_id"] != "first"]
    assert [e["code"] for e in refused] == [code for _, code, _ in BAD_LINES]
    for error, (_, _, says) in zip(refused, BAD_LINES, strict=True):
        assert says in error["message"], (error["message"], says)
        assert_sentence(error["message"])


# --- our own bugs, and what the SDK makes of a refusal ---------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_our_own_bug_is_a_logged_500_without_a_traceback(oa, monkeypatch, caplog, debug):
    import apps.openai_api.api as api_module

    monkeypatch.setattr(settings, "DEBUG", debug)  # ninja alone answers a traceback then

    def broken(user: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api_module, "models_visible_to", broken)
    response = oa.get("/openai/v1/models")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "The server failed on this request; it is logged.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert "secret internals" not in response.content.decode()
    assert any("secret internals" in r.exc_text for r in caplog.records if r.exc_text)


def test_the_openai_sdk_raises_with_our_sentence(nothing_stored, live_server, owner):
    token = api_token_create(user=owner, name="sdk")[1]
    client = openai.OpenAI(base_url=f"{live_server.url}/openai/v1", api_key=token, max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        client.batches.create(
            input_file_id=BIDI_ID, endpoint="/v1/embeddings", completion_window="24h"
        )
    # The SDK reads OpenAI's shape: `body` is the "error" object.
    assert missing.value.body == {
        "message": "No file 'file-\\u202egnp.exe'.",
        "type": "invalid_request_error",
        "param": "input_file_id",
        "code": None,
    }
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(
            input_file_id="file-x",
            endpoint="/v1/embeddings",
            completion_window="24h",
            metadata={"te\u202eam": "search"},
        )
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in refused.value.message
    with pytest.raises(openai.BadRequestError, match="The input file ID must be text"):
        client.batches.create(
            input_file_id="file-x",
            endpoint="/v1/embeddings",
            completion_window="24h",
            extra_body={"input_file_id": 5},
        )
    nothing_stored()
