"""OpenAI-compatible HTTP backend (vLLM, Ollama, llama.cpp server, hosted APIs) over httpx.

* Retries: connect errors, 429 and 5xx are retried at most ``max_retries`` times, in a loop, with
  exponential backoff and jitter (``backoff_base * 2**attempt``, capped at ``backoff_max``, times a
  random factor in [0.5, 1]); a ``Retry-After`` header in seconds is honoured up to the same cap.
  Waiting never goes past the call's deadline. Read timeouts are not retried: the server may still be
  working, and a retry would pay twice.
* Secrets: the API key is held privately, sent only in the ``Authorization`` header, and never
  appears in ``repr``, log records or exception messages (error texts are built from the status
  code and the server's JSON error message only).
* Structured output: ``structured_output="json_schema"`` sends OpenAI's
  ``response_format={"type": "json_schema", ...}`` (OpenAI, vLLM, recent Ollama);
  ``"json_object"`` sends ``{"type": "json_object", "schema": ...}`` (llama.cpp's python server);
  ``"none"`` sends nothing. The reply is validated in every case (LLMOutputError when its text breaks
  the schema; LLMProtocolError when the response is not a completion at all).
* ``prompt_mode="completion"`` posts a plain-text transcript to ``/completions`` (base models);
  servers do not constrain that endpoint with a schema, so there the reply is only validated.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import SecretStr

from recstrata._optional import require
from recstrata.errors import LLMError, LLMProtocolError, LLMTimeoutError, LLMUnavailableError
from recstrata.llm.base import TRANSCRIPT_STOPS, LLMBackend, RawReply, Request, render_transcript
from recstrata.llm.usage import Price, UsageLedger

__all__ = ["OpenAIHTTPBackend"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class OpenAIHTTPBackend(LLMBackend):
    kind = "openai-http"

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        *,
        api_key: str | SecretStr | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        structured_output: Literal["json_schema", "json_object", "none"] = "json_schema",
        prompt_mode: Literal["chat", "completion"] = "chat",
        ledger: UsageLedger | None = None,
        price: Price | None = None,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """``transport`` (an ``httpx.BaseTransport``), ``sleep`` and ``rng`` are test injection points."""
        super().__init__(ledger=ledger, price=price)
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        if isinstance(api_key, str):
            api_key = SecretStr(api_key)
        self._api_key: SecretStr | None = api_key or None  # SecretStr: its repr/str show only '**********'

        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.structured_output = structured_output
        self.prompt_mode = prompt_mode
        self.transport = transport
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._client: Any = None

    @property
    def model(self) -> str:
        return self.model_name

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def __repr__(self) -> str:
        key = "set" if self._api_key is not None else "none"
        return f"OpenAIHTTPBackend(base_url={self.base_url!r}, model={self.model_name!r}, api_key={key})"

    def _http(self) -> Any:
        if self._client is None:
            httpx = require("httpx", extra="llm", purpose="the OpenAI-compatible HTTP backend")
            headers = {"Accept": "application/json"}
            if self._api_key is not None:
                headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
            self._client = httpx.Client(
                base_url=self.base_url, headers=headers, transport=self.transport, timeout=self.timeout_s
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- request building ---------------------------------------------------------
    def _payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        stops = list(request.stop)
        if self.prompt_mode == "completion":
            body["prompt"] = render_transcript(request.messages)
            stops += list(TRANSCRIPT_STOPS)
            path = "/completions"
        else:
            body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
            path = "/chat/completions"
            contract = request.contract
            if contract is not None and self.structured_output == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": contract.name, "schema": contract.json_schema, "strict": True},
                }
            elif contract is not None and self.structured_output == "json_object":
                body["response_format"] = {"type": "json_object", "schema": contract.json_schema}
        if stops:
            body["stop"] = stops[:4]  # the OpenAI API accepts at most 4 stop sequences
        return path, body

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        wait = min(self.backoff_max_s, self.backoff_base_s * 2**attempt) * (0.5 + 0.5 * self.rng.random())
        if retry_after is not None:
            try:
                wait = max(wait, min(float(retry_after), self.backoff_max_s))
            except ValueError:  # an HTTP date: ignore, keep our own backoff
                pass
        return wait

    # --- the call -----------------------------------------------------------------
    def _complete(self, request: Request) -> RawReply:
        httpx = require("httpx", extra="llm", purpose="the OpenAI-compatible HTTP backend")
        client = self._http()
        path, body = self._payload(request)
        where = f"{self.base_url}{path}"
        problem = ""
        for attempt in range(self.max_retries + 1):
            remaining = request.remaining()
            if remaining is not None and remaining <= 0:
                raise LLMTimeoutError(
                    f"deadline passed before {where} answered ({problem or 'no reply yet'})"
                )
            timeout = self.timeout_s if remaining is None else min(self.timeout_s, remaining)
            retry_after = None
            try:
                resp = client.post(path, json=body, timeout=timeout)
            except httpx.ConnectError as exc:
                problem = f"cannot connect ({type(exc).__name__})"
            except httpx.ConnectTimeout:
                problem = "connect timed out"
            except httpx.TimeoutException as exc:
                raise LLMTimeoutError(
                    f"{where} did not answer within {timeout:.2f} s ({type(exc).__name__}); "
                    "raise the timeout / deadline or lower max_tokens"
                ) from None
            except httpx.HTTPError as exc:
                raise LLMError(f"HTTP request to {where} failed: {type(exc).__name__}") from None
            else:
                if resp.status_code < 400:
                    return self._parse(resp, where)
                problem = f"HTTP {resp.status_code}: {self._server_message(resp)}"
                if resp.status_code not in _RETRY_STATUS:
                    if resp.status_code in (401, 403):
                        raise LLMUnavailableError(
                            f"{where} refused the credentials ({problem}); set the API key with "
                            "RECSTRATA_LLM__HTTP__API_KEY or the env var named by llm.http.api_key_env"
                        )
                    raise LLMError(f"{where} rejected the request ({problem})")
                retry_after = resp.headers.get("retry-after")
            if attempt == self.max_retries:
                break
            wait = self._backoff(attempt, retry_after)
            remaining = request.remaining()
            if remaining is not None and wait >= remaining:
                raise LLMTimeoutError(f"deadline too short to retry {where} after {problem}")
            log.warning("LLM HTTP %s (attempt %d/%d); retrying in %.2f s", problem, attempt + 1,
                        self.max_retries + 1, wait)
            self.sleep(wait)
        raise LLMUnavailableError(
            f"{where} failed after {self.max_retries + 1} attempts (last: {problem}); "
            "is the server running and is llm.http.base_url right?"
        )

    def _server_message(self, resp: Any) -> str:
        """The server's own error message (JSON ``error.message``), shortened, with the key redacted."""
        try:
            err = resp.json().get("error")
            msg = err.get("message") if isinstance(err, dict) else err
        except (ValueError, AttributeError):
            msg = resp.text
        msg = " ".join(str(msg or resp.reason_phrase).split())[:200]
        if self._api_key is not None and self._api_key.get_secret_value():
            msg = msg.replace(self._api_key.get_secret_value(), "***")
        return msg

    def _parse(self, resp: Any, where: str) -> RawReply:
        try:
            data = resp.json()
            choice = data["choices"][0]
            if self.prompt_mode == "completion":
                text = choice["text"]
            else:
                text = choice["message"]["content"]
            if text is None:  # cut before any text, or held back (a content filter, a refusal, hidden reasoning)
                if choice.get("finish_reason") != "length":
                    raise LLMProtocolError(f"{where} answered with no content (finish_reason "
                                           f"{choice.get('finish_reason')!r}): the server held the text back")
                text = ""
            if not isinstance(text, str):
                raise TypeError("content is not a string")
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMProtocolError(
                f"{where} answered with something that is not an OpenAI-style completion "
                f"({type(exc).__name__}: {exc}); first bytes: {resp.text[:120]!r}"
            ) from None
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return RawReply(text.strip(), prompt_tokens, completion_tokens, finish)

