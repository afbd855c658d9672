"""The OpenAI-compatible Batch API, driven by the official `openai` package against a live
server and the real worker, as a user's script would."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import openai
import pytest
from django.utils import timezone
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion
from openai.types.create_embedding_response import CreateEmbeddingResponse

from apps.accounts.services import api_token_create
from apps.jobs.models import Job
from tests.conftest import wait_until

pytestmark = pytest.mark.worker

LLM = "qwen2.5-coder-1.5b-instruct"


@pytest.fixture
def client(live_server: Any, live_worker: Any, owner: Any) -> openai.OpenAI:
    token = api_token_create(user=owner, name="sdk")[1]
    return openai.OpenAI(base_url=f"{live_server.url}/openai/v1", api_key=token, max_retries=0)


def _upload(client: openai.OpenAI, lines: list[Any]) -> FileObject:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    return client.files.create(file=("batch.jsonl", io.BytesIO(text.encode())), purpose="batch")


def _chat(custom_id: str, question: str, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": LLM, "messages": [{"role": "user", "content": question}], **body},
    }


def _wait(client: openai.OpenAI, batch_id: str, statuses: tuple[str, ...]) -> Batch:
    def reached() -> Batch | None:
        batch = client.batches.retrieve(batch_id)
        return batch if batch.status in statuses else None

    return wait_until(reached, timeout=600, what=f"batch {batch_id} to be {statuses}", every=0.5)


def test_a_chat_batch_runs_to_completed_with_outputs_and_errors_in_input_order(client, owner):
    lines = [
        _chat("two-plus-two", "What is 2+2? Answer with the number only.", max_tokens=6),
        "this line is not json",
        _chat("capital", "What is the capital of France? Answer with one word.", max_tokens=6),
        _chat("capital", "A second line with the same custom_id.", max_tokens=6),
        {**_chat("wrong-url", "x"), "url": "/v1/embeddings"},
        {
            "custom_id": "no-model",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"messages": []},
        },
        _chat("stopped", "Count from 1 to 20, separated by commas.", max_tokens=40, stop=[", 5"]),
    ]
    uploaded = _upload(client, lines)
    assert uploaded.purpose == "batch" and uploaded.bytes > 0
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"team": "search"},
    )
    assert batch.status in ("validating", "in_progress")
    assert batch.request_counts.total == 7 and batch.metadata == {"team": "search"}
    job = Job.objects.get(openai_batch__public_id=batch.id)
    assert job.project.name == "OpenAI batches" and job.total_samples == 3  # on the dashboard
    done = _wait(client, batch.id, ("completed", "failed"))
    assert done.status == "completed", done
    assert done.request_counts.completed == 3 and done.request_counts.failed == 4
    assert done.completed_at and done.output_file_id and done.error_file_id
    output = client.files.content(done.output_file_id).text.splitlines()
    rows = [json.loads(line) for line in output]
    assert [r["custom_id"] for r in rows] == ["two-plus-two", "capital", "stopped"]
    answers = [ChatCompletion.model_validate(r["response"]["body"]) for r in rows]
    assert all(r["response"]["status_code"] == 200 and r["error"] is None for r in rows)
    assert "4" in answers[0].choices[0].message.content
    assert "paris" in answers[1].choices[0].message.content.lower()
    counted = answers[2].choices[0].message.content
    assert counted.startswith("1, 2, 3, 4") and ", 5" not in counted
    assert answers[2].choices[0].finish_reason == "stop"
    assert all(a.usage.completion_tokens > 0 and a.model == LLM for a in answers)
    assert done.usage.output_tokens == sum(a.usage.completion_tokens for a in answers)
    errors = [
        json.loads(line) for line in client.files.content(done.error_file_id).text.splitlines()
    ]
    assert [(e["custom_id"], e["error"]["code"]) for e in errors] == [
        (None, "invalid_json"),
        ("capital", "duplicate_custom_id"),
        ("wrong-url", "invalid_url"),
        ("no-model", "missing_model"),
    ]
    assert all(e["response"] is None and e["error"]["message"].endswith(".") for e in errors)


def test_embeddings_batch_and_the_sdk_parses_each_answer(client, owner):
    texts = ["The central bank raised rates.", "Knead the dough overnight.", "Rates went up again."]
    lines = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "all-MiniLM-L6-v2", "input": text},
        }
        for i, text in enumerate(texts)
    ]
    lines.append(
        {
            "custom_id": "pair",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "all-MiniLM-L6-v2", "input": texts[:2], "encoding_format": "base64"},
        }
    )
    uploaded = _upload(client, lines)
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    done = _wait(client, batch.id, ("completed", "failed"))
    assert done.status == "completed", done
    rows = [
        json.loads(line) for line in client.files.content(done.output_file_id).text.splitlines()
    ]
    # The SDK's own type for float vectors (it decodes base64 itself in embeddings.create).
    bodies = [CreateEmbeddingResponse.model_validate(r["response"]["body"]) for r in rows[:3]]
    vectors = [b.data[0].embedding for b in bodies[:3]]
    assert all(len(v) == 384 for v in vectors)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(vectors[0], vectors[2]) > dot(vectors[0], vectors[1])  # rates ~ rates
    import base64
    import struct

    pair = rows[3]["response"]["body"]["data"]
    assert [d["index"] for d in pair] == [0, 1]
    decoded = struct.unpack("<384f", base64.b64decode(pair[0]["embedding"]))
    assert max(abs(a - b) for a, b in zip(decoded, vectors[0], strict=True)) < 1e-5
    assert bodies[0].usage.prompt_tokens > 0


def test_cancel_a_running_batch_and_list_batches_page_by_page(client, owner):
    lines = [
        _chat(f"long-{i}", f"Write a long story about the number {i}.", max_tokens=400)
        for i in range(12)
    ]
    uploaded = _upload(client, lines)
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    _wait(client, batch.id, ("in_progress",))
    job = Job.objects.get(openai_batch__public_id=batch.id)
    wait_until(
        lambda: Job.objects.get(pk=job.pk).status == "RUNNING" or None,
        timeout=600,
        what="job running",
    )
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = _wait(client, batch.id, ("cancelled",))
    assert done.cancelled_at and done.cancelling_at
    assert done.request_counts.completed + done.request_counts.failed == 12
    errors = [
        json.loads(line) for line in client.files.content(done.error_file_id).text.splitlines()
    ]
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    # Three more batches (validation only: all lines bad), then page through all four.
    for _ in range(3):
        bad = _upload(client, ["{}"])
        client.batches.create(
            input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    first = client.batches.list(limit=3)
    assert len(first.data) == 3 and first.has_more
    every = [b.id for b in client.batches.list(limit=3)]  # the SDK follows has_more itself
    assert len(every) == 4 and every[-1] == batch.id and len(set(every)) == 4


def test_files_list_get_delete_and_refusals_in_openais_shape(client, owner, live_server):
    uploaded = _upload(client, [_chat("a", "hi")])
    assert client.files.retrieve(uploaded.id).filename == "batch.jsonl"
    assert uploaded.id in [f.id for f in client.files.list()]
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.files.create(file=("x.jsonl", io.BytesIO(b"{}")), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="endpoint"):
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
        )  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError, match="No file"):
        client.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    unknown = _upload(
        client,
        [
            {
                **_chat("a", "hi"),
                "body": {"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]},
            }
        ],
    )
    failed = client.batches.create(
        input_file_id=unknown.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert failed.status == "failed" and failed.errors.data[0].code == "model_not_found"
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    stranger = openai.OpenAI(
        base_url=f"{live_server.url}/openai/v1", api_key="bst_wrong", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError, match="API token"):
        stranger.files.list()


def test_a_batch_past_its_window_expires_and_keeps_what_it_answered(client, owner):
    from apps.openai_api.models import OpenAIBatch
    from apps.openai_api.services import batches_expire

    lines = [
        _chat(f"slow-{i}", f"Write a long essay about the number {i}.", max_tokens=400)
        for i in range(8)
    ]
    uploaded = _upload(client, lines)
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    job = Job.objects.get(openai_batch__public_id=batch.id)
    wait_until(
        lambda: Job.objects.get(pk=job.pk).status == "RUNNING" or None,
        timeout=600,
        what="job running",
    )
    assert batches_expire() == 0  # not due yet
    OpenAIBatch.objects.filter(public_id=batch.id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert batches_expire() == 1
    done = _wait(client, batch.id, ("expired",))
    assert done.expired_at and done.request_counts.total == 8
    errors = [
        json.loads(line) for line in client.files.content(done.error_file_id).text.splitlines()
    ]
    assert errors and {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert done.request_counts.completed + len(errors) == 8
