"""The output contract of an explanation: one sentence that names only grounded facts.

A sentence is rejected when it is empty or too long, has several sentences, mentions a catalog
title that is not among the facts, or a number (year, rating, count) that the facts don't have.
Item text is untrusted: the check is on the output, whatever the prompt contained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recstrata.personalization.grounding import Grounding

_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


class TitleIndex:
    """Catalog titles to look for in generated text (long enough to be unambiguous)."""

    def __init__(self, titles, min_len: int = 5) -> None:
        self.titles = sorted({t.strip() for t in titles if isinstance(t, str) and len(t.strip()) >= min_len},
                             key=len, reverse=True)
        self._lower = [t.lower() for t in self.titles]

    def mentioned(self, text: str) -> set[str]:
        low = text.lower()
        return {t for t, tl in zip(self.titles, self._lower) if tl in low}


def check(sentence: str, g: Grounding, titles: TitleIndex, max_chars: int = 240) -> Verdict:
    s = sentence.strip()
    if not s:
        return Verdict(False, "empty")
    if len(s) > max_chars:
        return Verdict(False, "too long")
    if len(s.split()) < 5:
        return Verdict(False, "not a sentence (fewer than 5 words)")
    if len(re.findall(r"[.!?](\s|$)", s)) > 1:
        return Verdict(False, "more than one sentence")
    allowed = {g.title.lower(), *(b.lower() for b in g.because)}
    for t in titles.mentioned(s):
        tl = t.lower()
        if not any(tl in a for a in allowed):
            return Verdict(False, f"mentions {t!r}, which is not in the grounding")
    grounded_numbers = set(_NUMBER.findall(" ".join([g.title, *g.because, str(g.year or "")])))
    for n in _NUMBER.findall(s):
        if n not in grounded_numbers:
            return Verdict(False, f"mentions the number {n}, which is not in the grounding")
    if not any(a in s.lower() for a in allowed | {x.lower() for x in g.genres}):
        return Verdict(False, "names none of the grounding facts")
    return Verdict(True)
