"""Any OpenAI-compatible chat-completions server: vLLM, Ollama, llama.cpp server, hosted APIs.

Timeouts and bounded retries with exponential backoff and jitter on connection errors, 429 and
5xx (honouring Retry-After); the API key is sent as a bearer token and never logged, repr'd or
put in an error message.
"""

from __future__ import annotations

import random
import time

from recstrata._optional import require
from recstrata.errors import LLMOutputError, LLMTimeoutError, LLMUnavailableError
from recstrata.llm.base import LLMBackend, RawCompletion, Request
from recstrata.llm.usage import Usage

RETRY_STATUS = {429, 500, 502, 503, 504}


class OpenAIHTTPBackend(LLMBackend):
    kind = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "default",
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.25,
        schema_mode: str = "json_schema",  # "json_schema" (OpenAI, vLLM) or "json_object" (llama.cpp server)
        transport=None,  # an httpx transport; tests pass httpx.MockTransport
        **kw,
    ) -> None:
        super().__init__(model=model, **kw)
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.schema_mode = schema_mode
        self._transport = transport
        self._client = None

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIHTTPBackend(base_url={self.base_url!r}, model={self.model!r})"

    def _http(self):
        if self._client is None:
            httpx = require("httpx", extra="llm", purpose="the OpenAI-compatible HTTP backend")
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.Client(base_url=self.base_url, headers=headers, transport=self._transport)
        return self._client

    def _payload(self, request: Request) -> dict:
        body: dict = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        if request.json_schema is not None:
            if self.schema_mode == "json_object":
                body["response_format"] = {"type": "json_object", "schema": request.json_schema}
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": request.json_schema, "strict": True},
                }
        return body

    def _complete(self, request: Request) -> RawCompletion:
        httpx = require("httpx", extra="llm", purpose="the OpenAI-compatible HTTP backend")
        client = self._http()
        body = self._payload(request)
        attempt = 0
        while True:
            remaining = None if request.deadline is None else request.deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise LLMTimeoutError(f"{self.name}: deadline passed before the server answered")
            timeout = self.timeout if remaining is None else min(self.timeout, remaining)
            retry_after = None
            try:
                response = client.post("/chat/completions", json=body, timeout=timeout)
            except httpx.TimeoutException as exc:
                if remaining is not None and timeout >= remaining:
                    raise LLMTimeoutError(f"{self.name}: no answer within the deadline") from exc
                error: Exception = LLMTimeoutError(f"{self.name}: request timed out after {timeout:.1f}s")
            except httpx.TransportError as exc:
                error = LLMUnavailableError(f"{self.name}: cannot reach {self.base_url} ({type(exc).__name__})")
            else:
                if response.status_code == 200:
                    return self._parse(response)
                if response.status_code not in RETRY_STATUS:
                    raise LLMUnavailableError(
                        f"{self.name}: server answered HTTP {response.status_code}: {response.text[:200]!r}"
                    )
                error = LLMUnavailableError(f"{self.name}: server answered HTTP {response.status_code}")
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt >= self.max_retries:
                raise error
            delay = retry_after if retry_after is not None else self.backoff * (2**attempt) * (0.5 + random.random())
            if request.deadline is not None and time.monotonic() + delay >= request.deadline:
                raise error
            time.sleep(delay)
            attempt += 1

    def _parse(self, response) -> RawCompletion:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMOutputError(f"{self.name}: malformed response body: {response.text[:200]!r}") from exc
        usage = data.get("usage") or {}
        return RawCompletion(
            text=text.strip(),
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            finish_reason=choice.get("finish_reason") or "stop",
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
