"""Prompt building blocks: untrusted text is escaped and delimited, fixed instructions come first.

Two rules every enrichment prompt follows:

1. Catalog and user text is *data*: it is escaped (so it cannot close its own delimiter or
   open a new one) and wrapped in ``<item>...</item>``-style tags that the instructions name.
   The output contract is enforced by schema-constrained decoding and validation, so an item
   that says "ignore previous instructions" cannot change the output shape either.
2. All fixed text (instructions, schema description) sits in the system message and the item in
   the final user message: consecutive calls share the longest possible token prefix, which
   llama.cpp keeps in its KV cache, so only the item's own tokens are read per call.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_untrusted(text: object, max_chars: int = 400) -> str:
    """Make ``text`` safe to put between delimiters: no markup, no control characters, one line,
    at most ``max_chars`` characters (cut at a word boundary, marked with an ellipsis)."""
    s = _SPACE.sub(" ", _CONTROL.sub(" ", str(text))).strip()
    s = "".join(_ESCAPES.get(ch, ch) for ch in s)
    if len(s) > max_chars:
        cut = s[:max_chars].rsplit(" ", 1)[0] or s[:max_chars]
        s = cut.rstrip("&;") + "…"
    return s


def delimit(tag: str, text: object, max_chars: int = 400) -> str:
    """``<tag>escaped text</tag>``."""
    return f"<{tag}>{escape_untrusted(text, max_chars)}</{tag}>"


def chat(system: str, user: str, examples: tuple[tuple[str, str], ...] = ()) -> list[dict[str, str]]:
    """Fixed system prompt, fixed few-shot (user, assistant) turns, then the variable part last."""
    msgs = [{"role": "system", "content": system}]
    for question, answer in examples:
        msgs += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return msgs + [{"role": "user", "content": user}]
