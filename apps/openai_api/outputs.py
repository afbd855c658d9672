"""A batch's output and error files, in OpenAI's shapes, written once its job has ended.

Streaming: the job's results, its errors.jsonl, the requests and their custom_ids are all
in sample order, so one pass over each writes both files with constant memory. Every
request is accounted for once: an answer in the output file, or a line in the error file
(refused at validation, failed in the model, or not run because the batch was cancelled
or failed), both in input order.
"""

from __future__ import annotations

import base64
import heapq
import json
import logging
import secrets
import struct
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from django.db.models import Q
from django.utils import timezone

from apps.core.storage import storage_root
from apps.jobs.models import JobStatus
from apps.openai_api.files import file_write
from apps.openai_api.models import FilePurpose, OpenAIBatch

log = logging.getLogger(__name__)

CLAIM_SECONDS = 600  # a writer that died keeps the claim this long, then another may redo it


def batch_folder(batch: OpenAIBatch) -> Path:
    return storage_root() / "openai" / "batches" / batch.public_id


def _jsonl(path: Path) -> Iterator[Any]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _claim(batch: OpenAIBatch) -> bool:
    now = timezone.now()
    stale = now - timedelta(seconds=CLAIM_SECONDS)
    return bool(
        OpenAIBatch.objects.filter(pk=batch.pk, outputs_at__isnull=True)
        .filter(Q(outputs_claimed_at__isnull=True) | Q(outputs_claimed_at__lt=stale))
        .update(outputs_claimed_at=now)
    )


def batch_outputs_write(batch: OpenAIBatch) -> None:
    """Write the files of a batch whose job has ended (or that never got one); once."""
    job = batch.job
    if job is not None and not job.is_terminal:
        return
    if not _claim(batch):
        return
    folder = batch_folder(batch)
    folder.mkdir(parents=True, exist_ok=True)
    out_tmp, err_tmp = folder / ".output.tmp", folder / ".errors.tmp"
    writer = _Writer(batch)
    with out_tmp.open("w", encoding="utf-8") as out, err_tmp.open("w", encoding="utf-8") as err:
        errors = heapq.merge(
            (
                (e["line"], e["custom_id"], e["code"], e["message"])
                for e in _jsonl(folder / "line_errors.jsonl")
            ),
            writer.answers(out),
        )
        for _, custom_id, code, message in errors:
            err.write(writer.error_line(custom_id, code, message))
    user = batch.owner
    if writer.completed:
        batch.output_file = file_write(
            user=user,
            name=f"{batch.public_id}_output.jsonl",
            source=out_tmp,
            purpose=FilePurpose.BATCH_OUTPUT,
        )
    if writer.failed or batch.invalid_requests:
        batch.error_file = file_write(
            user=user,
            name=f"{batch.public_id}_error.jsonl",
            source=err_tmp,
            purpose=FilePurpose.BATCH_OUTPUT,
        )
    out_tmp.unlink(missing_ok=True)
    err_tmp.unlink(missing_ok=True)
    batch.completed_requests = writer.completed
    batch.failed_requests = writer.failed + batch.invalid_requests
    batch.prompt_tokens, batch.completion_tokens = writer.prompt_tokens, writer.completion_tokens
    batch.outputs_at = timezone.now()
    batch.save()


class _Writer:
    """The answers of one batch's job, one request at a time, in sample order."""

    def __init__(self, batch: OpenAIBatch) -> None:
        self.batch = batch
        self.completed = self.failed = self.prompt_tokens = self.completion_tokens = 0
        self.created = int(batch.created_at.timestamp())
        self._tokenizer: Any = None

    def error_line(self, custom_id: str | None, code: str, message: str) -> str:
        return (
            json.dumps(
                {
                    "id": f"batch_req_{secrets.token_hex(12)}",
                    "custom_id": custom_id,
                    "response": None,
                    "error": {"code": code, "message": message},
                },
                ensure_ascii=False,
            )
            + "\n"
        )

    def answers(self, out: TextIO) -> Iterator[tuple[int, str | None, str, str]]:
        """Write each answered request to `out`; yield (line, custom_id, code, message) for
        each request that got no answer, in input order."""
        batch, job = self.batch, self.batch.job
        if job is None:
            return
        folder = batch_folder(batch)
        results_dir = storage_root() / job.results_dir
        results = _jsonl(results_dir / job.results_filename)
        failures = _jsonl(results_dir / "errors.jsonl")
        requests = _jsonl(folder / "requests.jsonl")
        result, failure = next(results, None), next(failures, None)
        unrun = self._unrun_reason(job)
        for index, ((custom_id, line), request) in enumerate(
            zip(_jsonl(folder / "custom_ids.jsonl"), requests, strict=True)
        ):
            while result is not None and result["index"] < index:
                result = next(results, None)
            while failure is not None and failure["index"] < index:
                failure = next(failures, None)
            if result is not None and result["index"] == index:
                out.write(self._answer(custom_id, request, result))
                self.completed += 1
                continue
            self.failed += 1
            if failure is not None and failure["index"] == index:
                reason = str(failure["reason"])
                code = "invalid_request" if reason.startswith("bad request") else "model_error"
                yield line, custom_id, code, reason[:1].upper() + reason[1:] + "."
            else:
                yield line, custom_id, unrun[0], unrun[1]

    def _unrun_reason(self, job: Any) -> tuple[str, str]:
        if self.batch.expired_at is not None:
            return "batch_expired", "The batch expired (24 h) before this request ran."
        if job.status == JobStatus.STOPPED:
            return "batch_cancelled", "The batch was cancelled before this request ran."
        message = job.error_message or "the job failed"
        return "batch_failed", f"The batch failed before this request ran: {message}"

    def _answer(self, custom_id: str, request: dict[str, Any], result: dict[str, Any]) -> str:
        endpoint, model = self.batch.endpoint, self.batch.model_name
        if endpoint == "/v1/embeddings":
            body = self._embeddings(request, result, model)
        else:
            prompt, completion = int(result["prompt_tokens"]), int(result["completion_tokens"])
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            if endpoint == "/v1/chat/completions":
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": result["generation"],
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": result["finish_reason"],
                }
                body = {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion"}
            else:
                choice = {
                    "text": result["generation"],
                    "index": 0,
                    "logprobs": None,
                    "finish_reason": result["finish_reason"],
                }
                body = {"id": f"cmpl-{secrets.token_hex(12)}", "object": "text_completion"}
            body.update(
                {"created": self.created, "model": model, "choices": [choice], "usage": usage}
            )
        return (
            json.dumps(
                {
                    "id": f"batch_req_{secrets.token_hex(12)}",
                    "custom_id": custom_id,
                    "response": {
                        "status_code": 200,
                        "request_id": f"req_{secrets.token_hex(12)}",
                        "body": body,
                    },
                    "error": None,
                },
                ensure_ascii=False,
            )
            + "\n"
        )

    def _embeddings(
        self, request: dict[str, Any], result: dict[str, Any], model: str
    ) -> dict[str, Any]:
        vectors = result.get("embeddings") or [result["embedding"]]
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        tokens = sum(
            len(self.tokenizer.encode(text, truncation=True, max_length=256)) for text in texts
        )
        self.prompt_tokens += tokens
        as_base64 = request.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": (
                    base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if as_base64 else v
                ),
            }
            for i, v in enumerate(vectors)
        ]
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @property
    def tokenizer(self) -> Any:
        """MiniLM's word pieces, to count an embeddings request's tokens as usage."""
        if self._tokenizer is None:
            import transformers

            from worker.runners.classification import MINILM

            self._tokenizer = transformers.AutoTokenizer.from_pretrained(MINILM.folder() / "model")
        return self._tokenizer
