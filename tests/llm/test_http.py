"""The OpenAI-compatible backend's retries, errors and secrecy, with httpx.MockTransport."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from pydantic import BaseModel

from recstrata.errors import LLMOutputError, LLMTimeoutError, LLMUnavailableError
from recstrata.llm.openai_http import OpenAIHTTPBackend

KEY = "sk-test-SECRET-123"


def reply(text: str, status: int = 200, **headers) -> httpx.Response:
    body = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    return httpx.Response(status, json=body if status == 200 else {"error": "x"}, headers=headers)


def backend(handler, **kw) -> OpenAIHTTPBackend:
    return OpenAIHTTPBackend("http://llm.test/v1", model="m", api_key=KEY, backoff=0.001,
                             transport=httpx.MockTransport(handler), **kw)


def test_sends_schema_and_key_and_parses_usage():
    seen = {}

    class Out(BaseModel):
        x: int

    def handler(request: httpx.Request):
        seen["auth"] = request.headers["authorization"]
        seen["body"] = json.loads(request.content)
        return reply('{"x": 3}')

    out = backend(handler).generate("hi", schema=Out)
    assert out.parsed == Out(x=3) and out.usage.prompt_tokens == 7
    assert seen["auth"] == f"Bearer {KEY}"
    assert seen["body"]["response_format"]["json_schema"]["schema"]["title"] == "Out"


def test_retries_then_succeeds_on_503_and_429():
    calls = []

    def handler(request):
        calls.append(1)
        return reply("", 503) if len(calls) == 1 else reply("", 429, **{"retry-after": "0"}) if len(calls) == 2 else reply("ok")

    assert backend(handler, max_retries=2).generate("hi").text == "ok"
    assert len(calls) == 3


def test_retries_are_bounded():
    calls = []

    def handler(request):
        calls.append(1)
        raise httpx.ConnectError("refused")

    with pytest.raises(LLMUnavailableError, match="cannot reach"):
        backend(handler, max_retries=3).generate("hi")
    assert len(calls) == 4


def test_client_errors_are_not_retried_and_garbage_is_an_output_error():
    calls = []

    def bad_request(request):
        calls.append(1)
        return httpx.Response(400, text="bad")

    with pytest.raises(LLMUnavailableError, match="400"):
        backend(bad_request).generate("hi")
    assert len(calls) == 1
    with pytest.raises(LLMOutputError, match="malformed"):
        backend(lambda r: httpx.Response(200, text="<html>")).generate("hi")


def test_deadline_caps_the_wait():
    def slow(request):
        raise httpx.ReadTimeout("slow")

    with pytest.raises(LLMTimeoutError):
        backend(slow).generate("hi", deadline=0.05)


def test_api_key_never_leaks(caplog):
    caplog.set_level(logging.DEBUG)
    b = backend(lambda r: httpx.Response(500, text="boom"), max_retries=0)
    with pytest.raises(LLMUnavailableError) as err:
        b.generate("hi")
    assert KEY not in str(err.value) and KEY not in repr(b) and KEY not in caplog.text
