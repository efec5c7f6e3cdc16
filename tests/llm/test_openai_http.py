"""The HTTP backend without a server: httpx.MockTransport plays the server, ``sleep`` is recorded."""

from __future__ import annotations

import json
import logging
import random

import pytest
from llm_support import ItemTags

from recstrata.errors import LLMError, LLMOutputError, LLMProtocolError, LLMTimeoutError, LLMUnavailableError
from recstrata.llm import OpenAIHTTPBackend, UsageLedger, get_backend
from recstrata.llm.settings import HTTPSettings, LLMSettings

httpx = pytest.importorskip("httpx")

SECRET = "sk-test-DO-NOT-LEAK-1234567890"


def _ok(content="hello there", prompt_tokens=7, completion_tokens=2, finish="stop"):
    return httpx.Response(
        200,
        json={
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )


class Server:
    """Scripted responses (or exceptions) in order; keeps the requests it saw."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item

    def body(self, i=-1) -> dict:
        return json.loads(self.requests[i].content)


def _backend(server, sleeps=None, **kw):
    kw.setdefault("max_retries", 3)
    return OpenAIHTTPBackend(
        "http://llm.test/v1", "m1", transport=httpx.MockTransport(server),
        sleep=(sleeps.append if sleeps is not None else lambda s: None), rng=random.Random(0), **kw,
    )


def test_chat_request_and_reply():
    server = Server(_ok())
    ledger = UsageLedger()
    c = _backend(server, ledger=ledger).generate("hi", max_tokens=9, temperature=0.3, seed=4, stop="END")
    assert (c.text, c.usage.prompt_tokens, c.usage.completion_tokens, c.finish_reason) == ("hello there", 7, 2, "stop")
    req = server.requests[0]
    assert req.url == "http://llm.test/v1/chat/completions"
    assert server.body() == {"model": "m1", "max_tokens": 9, "temperature": 0.3, "seed": 4, "stop": ["END"],
                             "messages": [{"role": "user", "content": "hi"}]}
    assert ledger.total().prompt_tokens == 7


def test_completion_mode_posts_a_transcript():
    server = Server(httpx.Response(200, json={"choices": [{"text": " Paris.", "finish_reason": "stop"}],
                                               "usage": {"prompt_tokens": 5, "completion_tokens": 2}}))
    c = _backend(server, prompt_mode="completion").generate("Capital of France?")
    assert c.text == "Paris."
    assert server.requests[0].url.path == "/v1/completions"
    assert server.body()["prompt"].endswith("User: Capital of France?\nAssistant:")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("json_schema", {"type": "json_schema", "json_schema": {"name": "ItemTags", "schema": ItemTags.model_json_schema(), "strict": True}}),
        ("json_object", {"type": "json_object", "schema": ItemTags.model_json_schema()}),
        ("none", None),
    ],
)
def test_schema_is_sent_and_reply_validated(mode, expected):
    server = Server(_ok('{"tags": ["x"], "summary": "y"}'))
    c = _backend(server, structured_output=mode).generate("tag", schema=ItemTags)
    assert c.parsed == ItemTags(tags=["x"], summary="y")
    assert server.body().get("response_format") == expected


def test_garbage_json_in_reply_is_output_error():
    with pytest.raises(LLMOutputError):
        _backend(Server(_ok("Sure! Here are tags: comedy"))).generate("tag", schema=ItemTags)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"object": "list"}),
        httpx.Response(200, json={"choices": [{"message": {"content": 42}}]}),
    ],
)
def test_malformed_server_reply_is_a_protocol_error(response):
    with pytest.raises(LLMProtocolError, match="not an OpenAI-style completion"):
        _backend(Server(response)).generate("hi")


def test_content_held_back_is_the_servers_doing_content_cut_short_the_models():
    with pytest.raises(LLMProtocolError, match="no content .*content_filter"):
        _backend(Server(_ok(None, finish="content_filter"))).generate("hi")
    with pytest.raises(LLMOutputError):  # cut before any text: an empty reply fails the schema
        _backend(Server(_ok(None, finish="length"))).generate("tag", schema=ItemTags)


def test_retries_5xx_with_exponential_backoff_then_succeeds():
    sleeps: list[float] = []
    server = Server(httpx.Response(503), httpx.Response(502), httpx.Response(500), _ok())
    c = _backend(server, sleeps, backoff_base_s=1.0, backoff_max_s=100).generate("hi")
    assert c.text == "hello there" and len(server.requests) == 4
    # attempt k waits base * 2**k scaled by a jitter factor in [0.5, 1]
    for k, wait in enumerate(sleeps):
        assert 0.5 * 2**k <= wait <= 2**k
    assert sleeps[0] < sleeps[2]


def test_backoff_is_capped():
    sleeps: list[float] = []
    server = Server(httpx.Response(503))
    with pytest.raises(LLMUnavailableError):
        _backend(server, sleeps, max_retries=6, backoff_base_s=1.0, backoff_max_s=3.0).generate("hi")
    assert max(sleeps) <= 3.0 and len(sleeps) == 6


def test_429_honours_retry_after():
    sleeps: list[float] = []
    server = Server(httpx.Response(429, headers={"Retry-After": "2"}), _ok())
    _backend(server, sleeps, backoff_base_s=0.01).generate("hi")
    assert sleeps == [2.0]


def test_connect_errors_retry_a_bounded_number_of_times():
    sleeps: list[float] = []
    server = Server(httpx.ConnectError("connection refused"))
    with pytest.raises(LLMUnavailableError, match="after 4 attempts"):
        _backend(server, sleeps, max_retries=3).generate("hi")
    assert len(server.requests) == 4 and len(sleeps) == 3


def test_client_errors_are_not_retried():
    server = Server(httpx.Response(400, json={"error": {"message": "max_tokens is too large"}}), _ok())
    with pytest.raises(LLMError, match="max_tokens is too large"):
        _backend(server).generate("hi")
    assert len(server.requests) == 1


def test_read_timeout_is_a_timeout_and_not_retried():
    server = Server(httpx.ReadTimeout("slow"), _ok())
    with pytest.raises(LLMTimeoutError):
        _backend(server).generate("hi")
    assert len(server.requests) == 1


def test_deadline_stops_retrying():
    sleeps: list[float] = []
    server = Server(httpx.Response(503))
    with pytest.raises(LLMTimeoutError):
        _backend(server, sleeps, backoff_base_s=5.0).generate("hi", deadline=1.0)
    assert sleeps == [] and len(server.requests) == 1


def test_deadline_bounds_the_request_timeout():
    seen = {}

    def handler(request):
        seen.update(request.extensions["timeout"])
        return _ok()

    _backend(handler, timeout_s=30).generate("hi", deadline=2.0)
    assert 0 < seen["read"] <= 2.0


# --- secrets ---------------------------------------------------------------------------------------

def test_api_key_is_sent_but_never_shown(caplog):
    caplog.set_level(logging.DEBUG)
    echo = httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    server = Server(_ok(), httpx.Response(503), echo)
    backend = _backend(server, api_key=SECRET, max_retries=1)
    backend.generate("hi")
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    with pytest.raises(LLMUnavailableError) as info:
        backend.generate("hi")
    texts = [repr(backend), str(backend), repr(vars(backend)), str(info.value), repr(info.value),
             str(info.value.__cause__), str(info.value.__context__), caplog.text]
    assert "credentials" in str(info.value)
    assert not [t for t in texts if SECRET in t]


def test_api_key_from_settings_or_named_env_var():
    s = LLMSettings(http=HTTPSettings(base_url="http://llm.test/v1", api_key_env="MY_LLM_KEY"))
    b = get_backend("openai", s, env={"MY_LLM_KEY": SECRET})
    assert b.has_api_key and SECRET not in repr(b)
    assert not get_backend("openai", s, env={}).has_api_key
    s2 = LLMSettings(http=HTTPSettings(base_url="http://llm.test/v1", api_key=SECRET))
    assert get_backend("openai", s2, env={}).has_api_key
    assert SECRET not in repr(s2) and SECRET not in s2.model_dump_json()
