"""The output contract of an explanation: one sentence that names only grounded facts.

A sentence is rejected when it is empty or too long, has several sentences, mentions a catalog
title (whole words, as :class:`TitleIndex` tells titles from ordinary words) that is not among
the facts, or a number (year, rating, count) that the facts don't have.
Item text is untrusted: the check is on the output, whatever the prompt contained.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from recstrata.personalization.grounding import Grounding

_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"\w+")
_PARENS = re.compile(r"\(([^()]*)\)")
_AKA = re.compile(r"^\s*(a\.?k\.?a\.?)\s+", re.I)
_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+(?=\S)", re.I)
# MovieLens moves a title's article to the end: "Postman, The", "Avventura, L'", "Haine, La"
_ARTICLES = "the|a|an|l'|la|le|les|il|lo|gli|el|los|las|der|die|das|den|det|de|het|un|une"
_TRAILING_ARTICLE = re.compile(rf",\s*({_ARTICLES})\s*$", re.I)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


def _plain(text: str) -> str:
    """``text`` without accents ("Amélie" -> "Amelie"): a reader does not tell them apart."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def words(text: str) -> tuple[str, ...]:
    """The words of ``text`` (runs of letters and digits, accents dropped, case kept)."""
    return tuple(_WORD.findall(_plain(text)))


def title_forms(title: str) -> list[tuple[str, ...]]:
    """The ways ``title`` is written in prose, as words: without its parenthesised parts, and each
    parenthesised alternative title ("Postman, The (Postino, Il)", "Seven (a.k.a. Se7en)"), each
    without a leading or a MovieLens-style trailing article (a reader writes "The Postman")."""
    forms: list[tuple[str, ...]] = []
    for part in [_PARENS.sub(" ", title), *(_AKA.sub("", p) for p in _PARENS.findall(title))]:
        part = part.strip()
        form = words(_LEADING_ARTICLE.sub("", _TRAILING_ARTICLE.sub("", part))) or words(part)
        if form and form not in forms:
            forms.append(form)
    return forms


def _within(needle: tuple[str, ...], haystack: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def _capital(word: str) -> bool:
    return any(c.isupper() for c in word)


def _sentence_start(text: str, at: int) -> bool:
    before = text[:at].rstrip(" \t\n\"'([\u201c\u2018")
    return not before or before[-1] in ".!?"


@dataclass(frozen=True)
class Mention:
    words: tuple[str, ...]  # as matched, case-folded
    titles: frozenset[str]  # the catalog titles written this way


class TitleIndex:
    """Catalog titles to look for in generated text, matched as a reader would tell a title.

    - Whole words: text and titles are compared word by word (letters and digits; punctuation,
      spacing and accents ignored), so "Alien (1979)" and "Alien." mention Alien, "alienation" and
      "A classic" mention neither Alien nor Class, and "Mission Impossible" is Mission: Impossible.
      Where several titles start at the same word, the longest one is the mention ("Toy Story 2").
    - Leading and MovieLens-style trailing articles are not part of the match ("The Postman" is
      "Postman, The"); a parenthesised alternative title is a way to write the title too.
    - Case is the evidence that a word is a title: every word the catalog writes with a capital
      letter needs one in the text, so "an alien", "just in time" or "a lot of class" are ordinary
      words, not the films Alien, In Time and Class.
    - A one-word title needs that evidence: as the first word of a sentence, where every word is
      capitalised, it is not a mention ("It is..." and "Her charm..." are pronouns; "you liked It,"
      and "like Up," are films). One-word titles the catalog writes without a capital, one-letter
      titles ("M", "W.", and "I" would be everywhere) and titles without a letter ("9": the number
      rule of :func:`check` covers numbers) are therefore not looked for.
    - A title written like one of ``genres`` (the catalog's genre names) is not looked for in that
      form: a capitalised "Romance" or "Adventure" in an explanation is the genre.

    Built once per catalog (an index from each title's first word to its forms): looking a text
    up costs a dictionary lookup per word, however many titles the catalog has.
    """

    def __init__(self, titles, genres=()) -> None:
        generic = {tuple(w.casefold() for w in words(x)) for x in genres}
        forms: dict[tuple[tuple[str, ...], tuple[bool, ...]], set[str]] = {}
        for title in titles:
            if not isinstance(title, str) or not title.strip():
                continue
            for form in title_forms(title):
                letters = sum(c.isalpha() for c in "".join(form))
                if letters < 2 or (len(form) == 1 and not _capital(form[0])):
                    continue
                key = (tuple(w.casefold() for w in form), tuple(_capital(w) for w in form))
                if key[0] in generic:
                    continue
                forms.setdefault(key, set()).add(title.strip())
        self._by_first: dict[str, list[tuple[tuple[str, ...], tuple[bool, ...], frozenset[str]]]] = {}
        for (folded, caps), names in forms.items():
            self._by_first.setdefault(folded[0], []).append((folded, caps, frozenset(names)))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))  # the longest title at a place wins

    def mentions(self, text: str) -> list[Mention]:
        plain = _plain(text)
        found = [(m.group(), m.start()) for m in _WORD.finditer(plain)]
        folded = [w.casefold() for w, _ in found]
        out: list[Mention] = []
        i = 0
        while i < len(found):
            for key, caps, names in self._by_first.get(folded[i], ()):
                n = len(key)
                if tuple(folded[i:i + n]) != key:
                    continue
                if not all(_capital(w) for (w, _), cap in zip(found[i:i + n], caps) if cap):
                    continue
                if n == 1 and _sentence_start(plain, found[i][1]):
                    continue
                out.append(Mention(key, names))
                i += n - 1
                break
            i += 1
        return out

    def mentioned(self, text: str) -> set[str]:
        """The catalog titles that ``text`` mentions."""
        return {t for m in self.mentions(text) for t in m.titles}


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
    grounded_titles = {g.title, *g.because}
    # a mention that is part of a grounded fact is that fact ("Toy Story" of "Toy Story 2", the genre Romance)
    grounded = [tuple(w.casefold() for w in f) for t in grounded_titles for f in title_forms(t)]
    genres = [tuple(w.casefold() for w in words(x)) for x in g.genres]
    for m in titles.mentions(s):
        if not m.titles & grounded_titles and not any(_within(m.words, f) for f in grounded + genres):
            return Verdict(False, f"mentions {min(m.titles)!r}, which is not in the grounding")
    grounded_numbers = set(_NUMBER.findall(" ".join([g.title, *g.because, str(g.year or "")])))
    for n in _NUMBER.findall(s):
        if n not in grounded_numbers:
            return Verdict(False, f"mentions the number {n}, which is not in the grounding")
    said = tuple(w.casefold() for w in words(s))
    if not any(_within(f, said) for f in grounded) and not any(x.lower() in s.lower() for x in g.genres):
        return Verdict(False, "names none of the grounding facts")
    return Verdict(True)
