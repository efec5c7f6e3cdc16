"""Greedy decoding under a GBNF grammar that checks the grammar lazily, for llama-cpp-python.

``Llama.create_completion(grammar=...)`` runs the grammar sampler over the whole vocabulary at
every step (49,152 candidates for SmolLM2): about a quarter of the time of a short structured
completion goes there. llama.cpp's own samplers (``common_sampler_sample``) avoid that: pick the
best token *without* the grammar, check only that one token against it, and fall back to the
full grammar pass only when it is rejected. The binding does not expose that path, so this module
drives the model token by token with the binding's low-level sampler API. The result is the
same token sequence as greedy decoding with the grammar applied to every candidate (the
greedy pick is kept only when the grammar allows it, otherwise the best allowed token is taken).

Imports llama_cpp at module level: import it only from ``recstrata.llm.llamacpp``, which checks
that llama-cpp-python is installed first. Not thread-safe: the caller holds the model's lock.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np

_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.float32), ("p", np.float32)], align=True)


def supported(llm: Any) -> bool:
    """Whether this llama-cpp-python exposes what the lazy path drives (the vocab-era sampler API,
    llama.cpp 2025+); older versions fall back to ``create_completion``."""
    needed = ("llama_sampler_init_grammar", "llama_sampler_apply", "llama_vocab_is_eog", "llama_get_logits_ith")
    return all(hasattr(llama_cpp, name) for name in needed) and hasattr(getattr(llm, "_model", None), "vocab")


@dataclass
class GreedyResult:
    tokens: list[int]
    text: str
    finish_reason: str  # "stop" | "length" | "deadline"
    full_grammar_passes: int  # steps where the greedy token broke the grammar


class GrammarSampler:
    """One compiled GBNF grammar as a llama.cpp sampler; ``reset`` rewinds it to the root rule."""

    def __init__(self, vocab: Any, gbnf: str, root: str = "root") -> None:
        self._ptr = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), root.encode("utf-8"))
        if not self._ptr:
            raise ValueError("llama.cpp could not compile the grammar")

    def reset(self) -> None:
        llama_cpp.llama_sampler_reset(self._ptr)

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self._ptr, token)

    def apply(self, candidates: np.ndarray) -> None:
        """Set the logit of every candidate the grammar forbids to -inf (in place)."""
        arr = llama_cpp.llama_token_data_array(
            data=candidates.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)),
            size=candidates.shape[0],
            selected=-1,
            sorted=False,
        )
        llama_cpp.llama_sampler_apply(self._ptr, ctypes.byref(arr))

    def close(self) -> None:
        if self._ptr:
            llama_cpp.llama_sampler_free(self._ptr)
            self._ptr = None


def prime(llm: Any, tokens: Sequence[int]) -> None:
    """Evaluate ``tokens`` as the prompt, reusing the KV cache of the longest common prefix."""
    cached = llm.input_ids[: llm.n_tokens].tolist()
    keep = min(llm.longest_token_prefix(cached, tokens), len(tokens) - 1)  # re-read >= 1 token for logits
    if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
        llm.n_tokens = keep
    else:
        llm.reset()
        keep = 0
    llm.eval(list(tokens[keep:]))


def greedy_with_grammar(
    llm: Any,
    grammar: GrammarSampler,
    max_tokens: int,
    stops: Sequence[str],
    expired: Callable[[], bool],
) -> GreedyResult:
    """Greedy continuation of the prompt already evaluated in ``llm`` (see :func:`prime`)."""
    n_vocab = llm.n_vocab()
    vocab = llm._model.vocab
    ctx = llm._ctx.ctx
    full = np.zeros(n_vocab, dtype=_TOKEN_DATA)  # (V,) reused candidate array for fallback passes
    full["id"] = np.arange(n_vocab, dtype=np.intc)
    one = np.zeros(1, dtype=_TOKEN_DATA)
    grammar.reset()
    out: list[int] = []
    fallbacks = 0
    finish = "length"
    while len(out) < max_tokens:
        if expired():
            finish = "deadline"
            break
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))  # (V,)
        token = int(np.argmax(logits))
        one["id"], one["logit"] = token, logits[token]
        grammar.apply(one)
        if not np.isfinite(one["logit"][0]):  # the greedy pick breaks the grammar: full pass
            fallbacks += 1
            full["logit"] = logits
            grammar.apply(full)
            token = int(np.argmax(full["logit"]))
            if not np.isfinite(full["logit"][token]):
                raise ValueError("the grammar allows no token at this point")
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            finish = "stop"
            break
        grammar.accept(token)
        out.append(token)
        llm.eval([token])
        text = _text(llm, out)
        hit = [text.find(s) for s in stops if s and s in text]
        if hit:
            return GreedyResult(out, text[: min(hit)], "stop", fallbacks)
    return GreedyResult(out, _text(llm, out), finish, fallbacks)


def _text(llm: Any, tokens: list[int]) -> str:
    return llm.detokenize(tokens).decode("utf-8", errors="ignore")
