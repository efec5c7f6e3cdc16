"""Local GGUF models through llama.cpp (``llama-cpp-python``), on the CPU.

- Structured output: a JSON schema becomes a llama.cpp grammar, so the model can only emit
  tokens that keep the output valid: structured outputs always parse.
- Deadline: output is streamed and the clock checked between tokens; past it, decoding stops.
- Prefix reuse: llama.cpp keeps the KV cache of the previous prompt; a new prompt that shares
  its beginning (fixed instructions first, the variable item last) only evaluates the new part.
- One llama.cpp context is not thread-safe: calls are serialised with a lock.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from recstrata._optional import require
from recstrata.errors import LLMError, LLMOutputError, LLMTimeoutError, LLMUnavailableError
from recstrata.llm.base import LLMBackend, Message, RawCompletion, Request
from recstrata.llm.models import check_gguf
from recstrata.llm.usage import Usage


def render_completion_prompt(messages: tuple[Message, ...]) -> str:
    """Messages as plain text for base models without a chat template (e.g. Gemma 3 270M base)."""
    parts = []
    for m in messages:
        if m.role == "system":
            parts.append(m.content.strip())
        elif m.role == "user":
            parts.append(f"Input: {m.content.strip()}")
        else:
            parts.append(f"Output: {m.content.strip()}")
    parts.append("Output:")
    return "\n\n".join(parts)


class LlamaCppBackend(LLMBackend):
    kind = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        model: str | None = None,
        chat: bool = True,
        n_ctx: int = 2048,
        n_threads: int = 2,
        seed: int = 0,
        **kw,
    ) -> None:
        super().__init__(model=model or Path(model_path).stem, **kw)
        self.model_path = Path(model_path)
        self.chat = chat
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self._llama = None
        self._grammars: dict[str, object] = {}
        self._lock = threading.Lock()

    def _load(self):
        if self._llama is None:
            check_gguf(self.model_path)
            llama_cpp = require("llama_cpp", extra="llm", purpose="local LLMs", package="llama-cpp-python")
            try:
                self._llama = llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise LLMUnavailableError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
        return self._llama

    def _grammar(self, schema: dict):
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            llama_cpp = require("llama_cpp", extra="llm", purpose="local LLMs", package="llama-cpp-python")
            self._grammars[key] = llama_cpp.LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _complete(self, request: Request) -> RawCompletion:
        # Streamed so that the deadline is checked between tokens: leaving the stream stops decoding.
        # (An exception raised inside a llama.cpp callback would be swallowed by ctypes.)
        with self._lock:
            llama = self._load()
            if request.deadline is not None and time.monotonic() > request.deadline:
                raise LLMTimeoutError(f"{self.name}: deadline passed before generation could start")
            common = dict(
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stop=list(request.stop),
                seed=request.seed if request.seed is not None else self.seed,
                grammar=self._grammar(request.json_schema) if request.json_schema else None,
                stream=True,
            )
            pieces: list[str] = []
            finish = "stop"
            n_out = 0
            try:
                if self.chat:
                    stream = llama.create_chat_completion(
                        messages=[{"role": m.role, "content": m.content} for m in request.messages], **common
                    )
                else:
                    stream = llama.create_completion(prompt=render_completion_prompt(request.messages), **common)
                for chunk in stream:
                    choice = chunk["choices"][0]
                    piece = choice["delta"].get("content") if self.chat else choice.get("text")
                    if piece:
                        pieces.append(piece)
                        n_out += 1
                    finish = choice.get("finish_reason") or finish
                    if request.deadline is not None and time.monotonic() > request.deadline:
                        stream.close()
                        raise LLMTimeoutError(f"{self.name}: generation passed its deadline")
            except LLMError:
                raise
            except (ValueError, RuntimeError) as exc:
                raise LLMOutputError(f"{self.name}: llama.cpp failed: {exc}") from exc
            # the context now holds prompt + generated tokens
            n_prompt = max(int(llama.n_tokens) - n_out, 0)
        return RawCompletion(text="".join(pieces).strip(), usage=Usage(n_prompt, n_out), finish_reason=finish)

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
