"""The refusal the OpenAI-compatible API answers with a 4xx, in OpenAI's error shape."""

from __future__ import annotations


class Refused(Exception):
    """A request the API answers with 4xx: `status`, a sentence, and the parameter."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
