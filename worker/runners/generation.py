"""What every text-generation backend shares: the request a sample holds, the settings
that shape decoding, stop sequences, and the result one generation gives.

A sample's payload (input kind "request", worker.readers) is a JSON object:
- `{"messages": [{"role": ..., "content": ...}, ...]}`: a chat, rendered with the model's
  chat template (the job's `system_prompt` goes first unless the chat has a system turn);
- `{"prompt": "..."}`: a raw completion, no template (OpenAI's /v1/completions);
- `{"text": "..."}`: one line or document of a dataset, asked as the user's message.
A request may also carry its own `max_tokens` (or `max_new_tokens`), `temperature`,
`top_p`, `seed` and `stop`, which win over the job's settings (an OpenAI batch line does).

Django-free: backends are tested without a database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from worker.runners import SampleFailure

MAX_NEW_TOKENS_LIMIT = 4096
MAX_STOP_SEQUENCES = 4
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 0.9
    seed: int = 0
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class Request:
    """One sample's generation request: a chat (`messages`) or a raw `prompt`."""

    messages: tuple[tuple[str, str], ...] | None
    prompt: str | None
    params: GenerationParams

    @property
    def shown_text(self) -> str:
        """The text a person recognises the sample by: the prompt, or the chat's last user
        turn."""
        if self.prompt is not None:
            return self.prompt
        users = [content for role, content in self.messages or () if role == "user"]
        return users[-1] if users else ""


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str  # "stop" (end of text or a stop sequence) | "length"
    prompt_tokens: int
    completion_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "generation": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def params_from_settings(settings: dict[str, Any]) -> GenerationParams:
    """The job's decoding settings (validated by the ML App's schema)."""
    return GenerationParams(
        max_new_tokens=int(settings.get("max_new_tokens") or GenerationParams.max_new_tokens),
        temperature=float(settings.get("temperature", GenerationParams.temperature)),
        top_p=float(settings.get("top_p", GenerationParams.top_p)),
        seed=int(settings.get("seed") or 0),
        stop=parse_stop(settings.get("stop")),
    )


def parse_stop(raw: Any) -> tuple[str, ...]:
    """Stop sequences from a list of strings, one string, or the wizard's text field
    (sequences separated by `|`, with `\\n`, `\\t`, `\\|` and `\\\\` escapes)."""
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        items = _split_escaped(raw) if not raw.startswith("[") else json.loads(raw)
    else:
        items = list(raw)
    if not all(isinstance(item, str) and item for item in items):
        raise ValueError("each stop sequence must be a non-empty string")
    if len(items) > MAX_STOP_SEQUENCES:
        raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
    return tuple(items)


def _split_escaped(raw: str) -> list[str]:
    items, current, chars = [], [], iter(raw)
    escapes = {"n": "\n", "t": "\t", "|": "|", "\\": "\\"}
    for char in chars:
        if char == "\\":
            nxt = next(chars, "\\")
            current.append(escapes.get(nxt, "\\" + nxt))
        elif char == "|":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item for item in items if item]


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"'{name}' must be a number")
    if not low <= value <= high:
        raise ValueError(f"'{name}' must be between {low:g} and {high:g}")
    return float(value)


def _overrides(body: dict[str, Any], params: GenerationParams) -> GenerationParams:
    changes: dict[str, Any] = {}
    for name in ("max_new_tokens", "max_completion_tokens", "max_tokens"):
        value = _number(body, name, 1, MAX_NEW_TOKENS_LIMIT)
        if value is not None:
            changes["max_new_tokens"] = int(value)
            break
    if (value := _number(body, "temperature", 0, 2)) is not None:
        changes["temperature"] = value
    if (value := _number(body, "top_p", 0, 1)) is not None:
        changes["top_p"] = value if value > 0 else 1.0
    if (value := _number(body, "seed", -(2**63), 2**63 - 1)) is not None:
        changes["seed"] = int(value)
    if body.get("stop") is not None:
        changes["stop"] = parse_stop(body["stop"])
    return replace(params, **changes) if changes else params


def _content(message: dict[str, Any]) -> str:
    """A message's text: a string, or OpenAI's list of parts of which only text is read."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if len(texts) == len(content) and all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if isinstance(t, str))
        raise ValueError("only text message parts can be read (no images or audio)")
    raise ValueError("each message needs a 'content' string")


def _messages(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("'messages' must be a non-empty list")
    out = []
    for message in raw:
        if not isinstance(message, dict) or message.get("role") not in (*ROLES, "developer"):
            raise ValueError(f"each message needs a role ({', '.join(ROLES)})")
        role = "system" if message["role"] == "developer" else message["role"]
        out.append((role, _content(message)))
    if out[-1][0] == "assistant":
        raise ValueError("the last message must not be the assistant's")
    return tuple(out)


def parse_request(
    payload: str, defaults: GenerationParams, system_prompt: str = ""
) -> Request | SampleFailure:
    """The request in a sample's payload, or a SampleFailure saying what is wrong with it."""
    try:
        body = json.loads(payload)
        if not isinstance(body, dict):
            raise ValueError("the request must be a JSON object")
        params = _overrides(body, defaults)
        if "messages" in body:
            messages = _messages(body["messages"])
            if system_prompt and messages[0][0] != "system":
                messages = (("system", system_prompt), *messages)
            return Request(messages=messages, prompt=None, params=params)
        if isinstance(body.get("prompt"), str):
            return Request(messages=None, prompt=body["prompt"], params=params)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("no prompt: give 'messages', 'prompt' or a text")
        system = (("system", system_prompt),) if system_prompt else ()
        return Request(messages=(*system, ("user", text)), prompt=None, params=params)
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        return SampleFailure(f"bad request: {exc}")


def chatml(messages: Sequence[tuple[str, str]]) -> str:
    """The ChatML rendering the built-in Qwen model was trained on, ready for its answer."""
    turns = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return turns + "<|im_start|>assistant\n"


class StopScanner:
    """Finds the first stop sequence in text that grows a piece at a time."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(stop)
        self._longest = max((len(s) for s in self.stop), default=0)
        self.text = ""

    def see(self, text: str) -> bool:
        """Like `feed`, given the whole text so far (a decoder may rewrite its tail)."""
        if not text.startswith(self.text):
            self.text = ""
        return self.feed(text[len(self.text) :])

    def feed(self, piece: str) -> bool:
        """Add `piece`; True once a stop sequence appeared (`text` is then cut before it)."""
        if not self.stop:
            self.text += piece
            return False
        start = max(len(self.text) - self._longest + 1, 0)
        self.text += piece
        hits = [i for s in self.stop if (i := self.text.find(s, start)) >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            return True
        return False
