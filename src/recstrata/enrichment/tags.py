"""A normalised tag vocabulary: lower case, lemmatised-ish, synonyms merged, optionally closed.

LLM tags are noisy ("Sci-Fi", "science-fiction", "scifi movies"): before they become features
they are mapped to one spelling so the item x tag matrix is not split over variants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_NON_WORD = re.compile(r"[^a-z0-9' ]+")
_FILLER = {"movie", "movies", "film", "films", "genre", "story", "the", "a", "an"}
# words whose trailing "s" is not a plural
_KEEP_S = {"news", "series", "sports", "thriller's", "kids", "various", "famous", "serious", "nervous",
           "religious", "mysterious", "humorous", "gorgeous", "glamorous", "dangerous", "politics",
           "physics", "music's", "boss", "chaos", "loss", "class", "grass", "business", "darkness",
           "sadness", "happiness", "madness", "illness", "witness", "this", "is", "us", "bus", "jesus"}

SYNONYMS: dict[str, str] = {
    "sci fi": "science fiction", "scifi": "science fiction", "sf": "science fiction",
    "romcom": "romantic comedy", "rom com": "romantic comedy",
    "funny": "comedy", "humor": "comedy", "humour": "comedy", "humorous": "comedy", "comedic": "comedy",
    "hilarious": "comedy",
    "scary": "horror", "frightening": "horror", "terror": "horror",
    "romance": "romance", "romantic": "romance", "love": "romance", "love story": "romance",
    "kid": "children", "kids": "children", "child": "children", "childrens": "children",
    "children's": "children", "family friendly": "family",
    "animated": "animation", "cartoon": "animation",
    "suspense": "thriller", "suspenseful": "thriller", "thrilling": "thriller",
    "war": "war", "wartime": "war", "military": "war",
    "crime": "crime", "criminal": "crime", "gangster": "crime", "mafia": "crime",
    "detective": "mystery", "whodunit": "mystery", "mysterious": "mystery",
    "musical": "musical", "music": "music",
    "documentary": "documentary", "docu": "documentary",
    "western": "western", "cowboy": "western",
    "noir": "film noir", "film noir": "film noir",
    "adventurous": "adventure", "action packed": "action",
    "dramatic": "drama", "emotional": "drama",
    "dark": "dark", "gritty": "dark", "bleak": "dark",
    "heartwarming": "heartwarming", "feel good": "heartwarming", "uplifting": "heartwarming",
    "classic": "classic", "classics": "classic",
}

DEFAULT_CLOSED_TAGS: tuple[str, ...] = (
    "action", "adventure", "animation", "children", "comedy", "crime", "documentary", "drama",
    "fantasy", "film noir", "horror", "musical", "mystery", "romance", "science fiction", "thriller",
    "war", "western", "family", "classic", "dark", "heartwarming", "satire", "biography", "history",
    "sports", "music", "superhero", "space", "alien", "robot", "time travel", "monster", "zombie",
    "vampire", "magic", "friendship", "coming of age", "revenge", "survival", "politics", "religion",
    "high school", "college", "wedding", "christmas", "road trip", "heist", "spy", "police", "prison",
    "disaster", "martial arts", "independent", "foreign", "cult", "tragedy", "suspense", "epic",
)

_CANONICAL = frozenset(DEFAULT_CLOSED_TAGS)  # already canonical: never stemmed ("martial arts")


def normalise_tag(tag: str) -> str | None:
    """One canonical spelling of a tag, or None when nothing meaningful is left."""
    s = tag.lower().replace("-", " ").replace("_", " ").replace("/", " ")
    s = _NON_WORD.sub(" ", s)
    words = [w.strip("'") for w in s.split()]
    words = [w for w in words if w and w not in _FILLER]
    if not words:
        return None
    phrase = " ".join(words)
    if phrase in _CANONICAL:
        return phrase
    if phrase in SYNONYMS:
        return SYNONYMS[phrase]
    last = words[-1]
    if last not in _KEEP_S and len(last) > 3:
        if last.endswith("ies"):
            last = last[:-3] + "y"
        elif last.endswith("oes"):
            last = last[:-2]
        elif last.endswith(("ches", "shes", "xes", "sses")):
            last = last[:-2]
        elif last.endswith("s") and not last.endswith(("ss", "us", "is")):
            last = last[:-1]
    phrase = " ".join([*words[:-1], last])
    phrase = SYNONYMS.get(phrase, phrase)
    return phrase if len(phrase) >= 2 else None


@dataclass
class TagVocabulary:
    """Normalises tags; with ``closed`` set, keeps only tags in it (the rest are counted as dropped)."""

    closed: frozenset[str] | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def default_closed(cls) -> TagVocabulary:
        return cls(closed=frozenset(DEFAULT_CLOSED_TAGS))

    def normalise(self, tags: Iterable[str]) -> list[str]:
        """Canonical, de-duplicated tags in their first-seen order."""
        out: list[str] = []
        for raw in tags:
            tag = normalise_tag(raw)
            if tag is None:
                continue
            if self.closed is not None and tag not in self.closed:
                self.dropped[tag] = self.dropped.get(tag, 0) + 1
                continue
            if tag not in out:
                out.append(tag)
        return out
