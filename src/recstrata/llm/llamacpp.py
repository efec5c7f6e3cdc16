"""Local GGUF models through llama.cpp (llama-cpp-python), in-process, CPU.

* Prompts: in ``"chat"`` mode the messages are rendered with the chat template stored in the GGUF
  (SmolLM2-Instruct has one); in ``"completion"`` mode with :func:`render_transcript` (Gemma-3-270M
  here is a base model without a chat template: through ``create_chat_completion`` it answers with
  empty text). ``"auto"`` picks chat when the file has a template. Both modes end in the same
  ``create_completion`` call, so grammar, stop strings and the deadline work identically.
* Structured output: the schema is compiled to a GBNF grammar (``LlamaGrammar.from_json_schema``,
  cached per schema) that constrains sampling, so the reply is JSON of the schema's shape; it is
  then validated like every backend's reply. Give string and list fields ``max_length`` so the
  document fits in ``max_tokens``; a reply cut at ``max_tokens`` fails validation.
* Deadline: a stopping criterion checks the monotonic clock after every sampled token; when the
  budget is spent generation stops and the call raises LLMTimeoutError (see ``base``). Prompt
  evaluation (prefill) cannot be interrupted; to avoid starting work that cannot finish in time the
  backend keeps a running estimate of its prefill speed and refuses at once (LLMTimeoutError, no
  compute spent) when the uncached part of the prompt would not even be read before the deadline.
  Refusals measure nothing, so an estimate older than ``PROBE_AFTER_S`` no longer refuses: one call
  goes through and re-measures. An estimate taken on a cold or busy moment cannot refuse every later
  call, and on a machine that really is that slow at most one call a minute overruns its deadline.
  Before the first measurement a call can overrun by its prefill time (~450 tokens/s for SmolLM2).
* Greedy structured output (temperature 0, the enrichment default) checks the grammar lazily: the
  best token is taken when the grammar allows it, and only otherwise is the grammar applied to the
  whole vocabulary (llama.cpp's own ``common_sampler`` does the same; the binding's
  ``create_completion`` masks all 49k candidates at every step). Same tokens, less time; see
  :mod:`._greedy_grammar`. ``lazy_grammar=False`` restores the eager path.
* KV-cache prefix reuse: llama-cpp-python keeps the previous prompt's KV cache and evaluates only the
  part of a new prompt after the longest common token prefix (``Llama.generate``). Calls sharing a
  system prompt / few-shot preamble through the same backend object therefore skip re-reading it
  (measured: a 589-token prefix, 6.7 s cold, 0.03 s warm under load). Keep shared text first.
* Thread-safety: a llama.cpp context is not thread-safe; one lock serialises load and generation.
  Waiting for the lock counts against the deadline.
* ``n_threads``: 2 suits an idle 2-core machine. On an oversubscribed one (load far above the core
  count) llama.cpp's per-token thread barrier stalls: measured 0.2 tok/s with 2 threads vs 6 tok/s
  with 1 at load ~25. Use 1 thread when sharing the CPU with other jobs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from recstrata._optional import require
from recstrata.errors import ConfigError, LLMError, LLMTimeoutError, LLMUnavailableError, MissingDependencyError
from recstrata.llm.base import TRANSCRIPT_STOPS, LLMBackend, RawReply, Request, render_transcript
from recstrata.llm.gguf import ModelFile, check_model_file
from recstrata.llm.usage import Price, UsageLedger

__all__ = ["LlamaCppBackend"]

ModelSource = str | Path | ModelFile | Callable[[], ModelFile]

#: seconds after which a prefill-speed estimate no longer refuses calls (see the module docstring)
PROBE_AFTER_S = 60.0
_LOOSE_CHAR = r'char ::= [^"\\]'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F]'


class LlamaCppBackend(LLMBackend):
    """A GGUF model run by llama.cpp. ``model`` is a path, a :class:`ModelFile`, or a callable giving one
    (resolved lazily on first use, e.g. to assemble Gemma only when needed)."""

    kind = "llama.cpp"

    def __init__(
        self,
        model: ModelSource,
        *,
        model_id: str | None = None,
        prompt_mode: Literal["auto", "chat", "completion"] = "auto",
        n_threads: int = 2,
        n_ctx: int = 2048,
        n_batch: int = 512,
        verify_sha256: bool = True,
        lazy_grammar: bool = True,
        ledger: UsageLedger | None = None,
        price: Price | None = None,
    ) -> None:
        super().__init__(ledger=ledger, price=price)
        self.source = model
        self.model_id = model_id
        self.prompt_mode = prompt_mode
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.verify_sha256 = verify_sha256
        self.lazy_grammar = lazy_grammar
        self._lock = threading.Lock()
        self._llm: Any = None
        self._formatter: Any = None
        self._grammars: dict[str, Any] = {}
        self._samplers: dict[str, Any] = {}  # GBNF text -> GrammarSampler (lazy greedy path)
        self._mode: str | None = None
        self._prefill_tps: float | None = None  # running estimate of prompt tokens read per second
        self._prefill_at = 0.0  # time.monotonic() of its last measurement

    @property
    def model(self) -> str:
        if self.model_id:
            return self.model_id
        src = self.source
        if isinstance(src, ModelFile):
            return src.path.stem
        if isinstance(src, (str, Path)):
            return Path(src).stem
        return "gguf"

    @property
    def resolved_prompt_mode(self) -> str | None:
        """``"chat"`` or ``"completion"`` once loaded, else None."""
        return self._mode

    # --- loading ------------------------------------------------------------------
    def _model_file(self) -> ModelFile:
        src = self.source
        if callable(src) and not isinstance(src, (str, Path, ModelFile)):
            src = src()
        if isinstance(src, (str, Path)):
            path = Path(src).expanduser()
            if path.suffix != ".gguf":
                raise ConfigError(f"llama.cpp needs a .gguf model file, got {path}")
            src = ModelFile(path, package="(a local file)", remedy="check the path")
        return src

    def load(self) -> LlamaCppBackend:
        """Check the model file and load it (done automatically on first ``generate``)."""
        with self._lock:
            self._load_locked()
        return self

    def _load_locked(self) -> None:
        if self._llm is not None:
            return
        try:
            llama_cpp = require(
                "llama_cpp", extra="llm", purpose="the llama.cpp backend", package="llama-cpp-python"
            )
        except MissingDependencyError as exc:  # a backend that cannot run: callers degrade, as for a missing model
            raise LLMUnavailableError(str(exc)) from exc
        mf = self._model_file()
        path = check_model_file(mf, verify_sha256=self.verify_sha256)
        if self.model_id is None:
            self.model_id = path.stem
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_batch=self.n_batch,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"llama.cpp could not load {path}: {exc}; is it a valid GGUF file?") from exc
        template = llm.metadata.get("tokenizer.chat_template")
        mode = self.prompt_mode
        if mode == "auto":
            mode = "chat" if template else "completion"
        if mode == "chat":
            if not template:
                llm.close()
                raise ConfigError(
                    f"{path.name} has no chat template (a base model); use prompt_mode='completion'"
                )
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llm._model.token_get_text(llm.token_eos()),
                bos_token=llm._model.token_get_text(llm.token_bos()),
            )
        self._mode = mode
        self._llm = llm

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
            for sampler in self._samplers.values():
                sampler.close()
            self._samplers.clear()
            self._llm, self._formatter, self._mode = None, None, None
            self._grammars.clear()

    # --- generation ---------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        with self._lock:
            self._load_locked()
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _prompt(self, request: Request) -> tuple[list[int], list[str]]:
        llm = self._llm
        if self._mode == "chat":
            chat = [{"role": m.role, "content": m.content} for m in request.messages]
            rendered = self._formatter(messages=chat)
            tokens = llm.tokenize(
                rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
            )
            stops = list(rendered.stop or []) if not isinstance(rendered.stop, str) else [rendered.stop]
        else:
            text = render_transcript(request.messages)
            tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
            stops = list(TRANSCRIPT_STOPS)
        return tokens, stops + list(request.stop)

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema)  # property order matters: the grammar emits keys in this order
        if key not in self._grammars:
            from llama_cpp import LlamaGrammar
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            try:
                gbnf = json_schema_to_gbnf(key)
            except Exception as exc:  # the converter raises bare Exceptions on unsupported keywords
                raise ConfigError(f"llama.cpp cannot turn this JSON schema into a grammar: {exc}") from exc
            # The converter's string rule admits raw control characters (a newline inside a string),
            # which strict JSON parsers reject; exclude them as newer llama.cpp versions do.
            gbnf = gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)
            self._grammars[key] = LlamaGrammar.from_string(gbnf, verbose=False)
        return self._grammars[key]

    def _complete(self, request: Request) -> RawReply:
        remaining = request.remaining()
        if not self._lock.acquire(timeout=-1 if remaining is None else max(remaining, 0.0)):
            raise LLMTimeoutError(f"llama.cpp model {self.model} stayed busy past the deadline")
        try:
            self._load_locked()
            if request.expired():
                return RawReply("", 0, 0, "deadline")
            tokens, stops = self._prompt(request)
            room = self.n_ctx - len(tokens)
            if room < 1:
                raise LLMError(
                    f"the prompt has {len(tokens)} tokens but the context holds {self.n_ctx}; "
                    "shorten the prompt or raise n_ctx"
                )
            cached = self._llm.input_ids[: self._llm.n_tokens].tolist()  # tokens now in the KV cache
            uncached = len(tokens) - self._llm.longest_token_prefix(cached, tokens)
            remaining = request.remaining()
            if (remaining is not None and self._prefill_tps and uncached / self._prefill_tps > remaining
                    and time.monotonic() - self._prefill_at < PROBE_AFTER_S):
                return RawReply("", 0, 0, "deadline")
            hit_deadline = False
            started = time.monotonic()
            first_token_at: float | None = None

            def out_of_time(_ids: Any, _logits: Any) -> bool:
                nonlocal hit_deadline, first_token_at
                if first_token_at is None:
                    first_token_at = time.monotonic()
                hit_deadline = hit_deadline or request.expired()
                return hit_deadline

            grammar = self._grammar(request.contract.json_schema) if request.contract is not None else None
            if grammar is not None and request.temperature == 0 and self.lazy_grammar:
                from recstrata.llm import _greedy_grammar

                if _greedy_grammar.supported(self._llm):
                    return self._greedy_structured(request, tokens, stops, grammar, uncached)
            from llama_cpp import StoppingCriteriaList

            try:
                out = self._llm.create_completion(
                    tokens,
                    max_tokens=min(request.max_tokens, room),
                    temperature=request.temperature,
                    stop=stops,
                    seed=request.seed,
                    grammar=grammar,
                    stopping_criteria=StoppingCriteriaList([out_of_time]),
                )
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"llama.cpp generation failed: {exc}") from exc
            if first_token_at is not None:
                self._note_prefill(uncached, first_token_at - started)
        finally:
            self._lock.release()
        choice, usage = out["choices"][0], out["usage"]
        finish = "deadline" if hit_deadline else ("length" if choice["finish_reason"] == "length" else "stop")
        return RawReply(
            text=choice["text"].strip(),
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            finish_reason=finish,
        )

    def _note_prefill(self, uncached: int, seconds: float) -> None:
        if uncached >= 16:  # short suffixes say little about speed
            tps = uncached / max(seconds, 1e-6)
            self._prefill_tps = tps if self._prefill_tps is None else 0.7 * self._prefill_tps + 0.3 * tps
            self._prefill_at = time.monotonic()

    def _greedy_structured(
        self, request: Request, tokens: list[int], stops: list[str], grammar: Any, uncached: int
    ) -> RawReply:
        """Greedy decoding with the grammar checked lazily (see :mod:`._greedy_grammar`); the lock is held."""
        from recstrata.llm import _greedy_grammar as G

        sampler = self._samplers.get(grammar._grammar)
        if sampler is None:
            sampler = self._samplers[grammar._grammar] = G.GrammarSampler(
                self._llm._model.vocab, grammar._grammar, grammar._root
            )
        started = time.monotonic()
        try:
            G.prime(self._llm, tokens)
            self._note_prefill(uncached, time.monotonic() - started)
            room = self.n_ctx - len(tokens)
            budget = min(request.max_tokens, room)
            result = G.greedy_with_grammar(self._llm, sampler, budget, stops, request.expired)
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"llama.cpp generation failed: {exc}") from exc
        return RawReply(
            text=result.text.strip(),
            prompt_tokens=len(tokens),
            completion_tokens=len(result.tokens),
            finish_reason=result.finish_reason,
            extra={"full_grammar_passes": result.full_grammar_passes},
        )
