"""The text-generation request: what a sample may say, and how it is refused."""

from __future__ import annotations

import json

import pytest

from worker.runners import SampleFailure
from worker.runners.generation import (
    GenerationParams,
    Request,
    StopScanner,
    chatml,
    params_from_settings,
    parse_request,
    parse_stop,
)

DEFAULTS = GenerationParams(max_new_tokens=32, temperature=0.5, top_p=0.9, seed=7)


def _request(body: object, system: str = "") -> Request:
    request = parse_request(json.dumps(body), DEFAULTS, system)
    assert isinstance(request, Request), request
    return request


def test_a_text_is_the_users_message_after_the_system_prompt():
    request = _request({"text": "Summarise: the sky is blue."}, system="Be brief.")
    assert request.messages == (("system", "Be brief."), ("user", "Summarise: the sky is blue."))
    assert request.shown_text == "Summarise: the sky is blue."
    assert request.params == DEFAULTS


def test_a_chat_keeps_its_own_system_message_and_its_settings_win():
    request = _request(
        {
            "messages": [
                {"role": "developer", "content": "Answer in French."},
                {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            ],
            "max_tokens": 5,
            "temperature": 0,
            "stop": ["\n"],
            "seed": 3,
        },
        system="ignored, the chat has one",
    )
    assert request.messages == (("system", "Answer in French."), ("user", "Hello"))
    assert request.params == GenerationParams(
        max_new_tokens=5, temperature=0.0, top_p=0.9, seed=3, stop=("\n",)
    )
    assert request.params.greedy


def test_a_raw_prompt_gets_no_template():
    request = _request({"prompt": "Once upon a time"})
    assert request.prompt == "Once upon a time" and request.messages is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("not json", "bad request: Expecting value"),
        ("[1, 2]", "bad request: the request must be a JSON object"),
        ('{"messages": []}', "'messages' must be a non-empty list"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "each message needs a role"),
        ('{"messages": [{"role": "user"}]}', "each message needs a 'content' string"),
        (
            '{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
            "only text message parts",
        ),
        (
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "b"},
                    ]
                }
            ),
            "the last message must not be the assistant's",
        ),
        ('{"text": "x", "max_tokens": 0}', "'max_tokens' must be between 1 and 4096"),
        ('{"text": "x", "temperature": "hot"}', "'temperature' must be a number"),
        ('{"text": "x", "stop": ["a", "b", "c", "d", "e"]}', "at most 4 stop sequences"),
        ('{"text": "   "}', "no prompt: give 'messages', 'prompt' or a text"),
    ],
)
def test_a_bad_request_is_one_failed_sample_with_the_reason(payload, reason):
    failure = parse_request(payload, DEFAULTS)
    assert isinstance(failure, SampleFailure)
    assert reason in failure.reason


def test_stop_sequences_from_the_form_and_from_the_api():
    assert parse_stop("\\n\\n|###") == ("\n\n", "###")
    assert parse_stop("a\\|b|c") == ("a|b", "c")
    assert parse_stop(["END"]) == ("END",)
    assert parse_stop('["x", "y"]') == ("x", "y")
    assert parse_stop("") == ()
    with pytest.raises(ValueError, match="non-empty string"):
        parse_stop(["ok", ""])


def test_settings_become_the_default_parameters():
    params = params_from_settings(
        {"max_new_tokens": 12, "temperature": 0.0, "top_p": 1.0, "seed": 9, "stop": ["."]}
    )
    assert params == GenerationParams(12, 0.0, 1.0, 9, (".",))


def test_the_stop_scanner_cuts_before_the_first_stop_sequence_across_pieces():
    scanner = StopScanner(["END", "\n\n"])
    assert not scanner.feed("The answer is 4")
    assert not scanner.feed(". E")
    assert scanner.feed("ND and more")
    assert scanner.text == "The answer is 4. "
    rewriting = StopScanner(["##"])
    assert not rewriting.see("a #")
    assert rewriting.see("a b ## c")  # the decoder rewrote its tail: looked at afresh
    assert rewriting.text == "a b "


def test_chatml_ends_where_the_assistant_answers():
    assert chatml([("system", "S"), ("user", "U")]) == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    )
