"""Reading a batch input file: every line checked as OpenAI checks it, the valid requests
written as the job's dataset, the others kept for the error file.

A line is `{"custom_id", "method": "POST", "url", "body"}`; `url` must be the batch's
endpoint and `body.model` the batch's model (a batch runs one model, as OpenAI's do). The
body is checked with the runner's own parser (worker.runners.generation, .embeddings), so
a request refused here would have been refused by the model, and the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from apps.api.errors import json_problem
from apps.core.text import name_problem, shown
from worker.runners import SampleFailure
from worker.runners.embeddings import TextEmbeddings, request_inputs
from worker.runners.generation import GenerationParams, parse_request
from worker.runners.textgen import TextGeneration

# endpoint → the ML App that serves it
ENDPOINTS = {
    "/v1/chat/completions": TextGeneration.key,
    "/v1/completions": TextGeneration.key,
    "/v1/embeddings": TextEmbeddings.key,
}
MAX_LINE_BYTES = 4 << 20
MAX_CUSTOM_ID = 512
# Body fields that would change what the answer means, refused when asked for
# (name → the value that is fine).
UNSUPPORTED = {
    "n": 1,
    "best_of": 1,
    "stream": False,
    "logprobs": False,
    "echo": False,
    "tools": None,
    "functions": None,
    "tool_choice": None,
    "suffix": None,
    "top_logprobs": None,
    "dimensions": None,
}
RESPONSE_FORMATS = ({"type": "text"}, None)
ENCODINGS = ("float", "base64")


@dataclass
class LineError:
    line: int  # 1-based line of the input file
    custom_id: str | None
    code: str
    message: str


@dataclass
class ReadResult:
    model: str = ""
    requests: int = 0  # valid requests written
    total: int = 0  # non-blank lines
    errors: list[LineError] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.custom_id: str | None = None


def _lines(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):  # drop the rest of an oversized line
                raw = fh.readline(1 << 20)
            yield number, b""
            continue
        if raw.strip():
            yield number, raw


def _body_check(endpoint: str, body: dict[str, Any]) -> None:
    for name, fine in UNSUPPORTED.items():
        if name in body and body[name] not in (fine, None):
            raise _Refused("unsupported_parameter", f"'{name}' is not supported by BatchStudio.")
    if body.get("response_format") not in RESPONSE_FORMATS:
        raise _Refused(
            "unsupported_parameter", "Only the text response_format is supported by BatchStudio."
        )
    if endpoint == "/v1/embeddings":
        if body.get("encoding_format", "float") not in ENCODINGS:
            raise _Refused("invalid_request", "'encoding_format' must be float or base64.")
        if "input" not in body:
            raise _Refused("invalid_request", "An embeddings request needs 'input'.")
        checked: Any = request_inputs(json.dumps({"input": body["input"]}))
    else:
        if endpoint == "/v1/chat/completions" and "messages" not in body:
            raise _Refused("invalid_request", "A chat completions request needs 'messages'.")
        if endpoint == "/v1/completions" and not isinstance(body.get("prompt"), str):
            raise _Refused("invalid_request", "A completions request needs 'prompt' (one string).")
        checked = parse_request(json.dumps(body), GenerationParams())
    if isinstance(checked, SampleFailure):
        reason = shown(checked.reason.removeprefix("bad request: "), limit=300)
        raise _Refused("invalid_request", reason[:1].upper() + reason[1:] + ".")


def _encodable(obj: Any) -> bool:
    """Whether `obj` can be written as UTF-8: json.loads turns an escaped lone surrogate
    ("\\ud800") into a character no UTF-8 file can hold."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _payload(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """What the runner reads: the body without `model`, a completions prompt kept raw."""
    payload = {k: v for k, v in body.items() if k != "model"}
    if endpoint == "/v1/chat/completions":
        payload.pop("prompt", None)
    return payload


def _check_line(
    raw: bytes, endpoint: str, seen: set[str], batch_model: str
) -> tuple[str, dict[str, Any]]:
    """(custom_id, body) of a valid line; raises _Refused (with the custom_id once known)."""
    if not raw:
        raise _Refused("line_too_long", f"The line is longer than {MAX_LINE_BYTES >> 20} MB.")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not UTF-8 is a ValueError too
        raise _Refused("invalid_json", f"The line {json_problem(exc)}.") from None
    if (b"\\ud" in raw or b"\\uD" in raw) and not _encodable(obj):
        raise _Refused(
            "invalid_json",
            "The line holds an escaped lone surrogate (\\ud800 to \\udfff without its pair), "
            "which is not text.",
        )
    if not isinstance(obj, dict):
        raise _Refused("invalid_request", "The line must be a JSON object.")
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise _Refused("missing_custom_id", "The line has no 'custom_id' string.")
    try:
        # A custom_id is a name: one line of visible text, which the error file and the
        # messages can quote without a bidi control turning it into another.
        if problem := name_problem(custom_id, what="custom_id", max_length=MAX_CUSTOM_ID):
            raise _Refused("invalid_custom_id", problem)
        if custom_id in seen:
            raise _Refused(
                "duplicate_custom_id",
                f"The custom_id '{shown(custom_id)}' is used by an earlier line.",
            )
        seen.add(custom_id)
        if obj.get("method") != "POST":
            raise _Refused("invalid_method", "'method' must be POST.")
        if obj.get("url") != endpoint:
            url = shown(obj.get("url"), limit=100)
            raise _Refused(
                "invalid_url", f"The line's url ({url}) is not the batch's endpoint ({endpoint})."
            )
        body = obj.get("body")
        if not isinstance(body, dict):
            raise _Refused("invalid_request", "'body' must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Refused("missing_model", "The body names no 'model'.")
        if batch_model and model != batch_model:
            raise _Refused(
                "model_mismatch",
                f"The body's model '{shown(model, limit=150)}' is not the batch's model "
                f"'{shown(batch_model)}' "
                "(one model a batch).",
            )
        _body_check(endpoint, body)
    except _Refused as refused:
        refused.custom_id = custom_id
        raise
    return custom_id, body


def read_batch_input(
    source: BinaryIO, endpoint: str, requests_out: Path, ids_out: Path
) -> ReadResult:
    """Check every line of `source`; write the valid requests (one JSON object a line, in
    input order) to `requests_out` and their `[custom_id, line]` to `ids_out`."""
    result = ReadResult()
    seen: set[str] = set()
    with (
        requests_out.open("w", encoding="utf-8") as out,
        ids_out.open("w", encoding="utf-8") as ids,
    ):
        for number, raw in _lines(source):
            result.total += 1
            try:
                custom_id, body = _check_line(raw, endpoint, seen, result.model)
            except _Refused as refused:
                result.errors.append(
                    LineError(number, refused.custom_id, refused.code, refused.message)
                )
                continue
            result.model = result.model or body["model"]
            out.write(json.dumps(_payload(endpoint, body), ensure_ascii=False) + "\n")
            ids.write(json.dumps([custom_id, number]) + "\n")
            result.requests += 1
    return result
