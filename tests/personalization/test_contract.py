"""The output contract's title check: whole words, titles as titles are written, fast."""

from __future__ import annotations

import time

import pytest

from recstrata.data import load_dataset
from recstrata.personalization.contract import TitleIndex, check
from recstrata.personalization.grounding import Grounding

CATALOG = ["Alien", "Aliens", "Class", "It", "Up", "Her", "Heat", "M", "9", "Toy Story", "Toy Story 2", "In Time",
           "Postman, The (Postino, Il)", "Seven (a.k.a. Se7en)", "Amélie", "Romance", "Mission: Impossible"]


@pytest.fixture(scope="module")
def titles():
    return TitleIndex(CATALOG)


def test_titles_are_whole_words_whatever_the_punctuation(titles):
    expected = {
        "A classic adventure for a quiet night.": set(),
        "Themes of alienation run through it.": set(),
        "If you liked Alien (1979), try this.": {"Alien"},
        "You will enjoy this as much as Alien.": {"Alien"},
        "Fans of Aliens will like it.": {"Aliens"},
        "Just like Toy Story 2, it is warm.": {"Toy Story 2"},  # the longest title at a place wins
        "Just like Toy Story, it is warm.": {"Toy Story"},
        "A fan of Mission Impossible?": {"Mission: Impossible"},
        "Since you liked The Postman, ...": {"Postman, The (Postino, Il)"},  # MovieLens moves the article
        "Since you liked Il Postino, ...": {"Postman, The (Postino, Il)"},  # the alternative title
        "Since you liked Se7en, ...": {"Seven (a.k.a. Se7en)"},
        "Since you liked Amelie, ...": {"Amélie"},  # accents do not matter
    }
    assert {text: titles.mentioned(text) for text in expected} == expected


def test_case_tells_titles_from_ordinary_words_and_short_titles_need_it(titles):
    expected = {
        # a word the catalog capitalises must be capitalised
        "An alien invasion with a lot of class.": set(),
        "It arrives just in time for the holidays.": set(),
        "It came In Time for you.": {"In Time"},
        "Since you liked Class and Her, try this.": {"Class", "Her"},
        "Because you liked It, this one should scare you.": {"It"},
        "If you liked Up, you will like this.": {"Up"},
        # a one-word title as a sentence's first word is just a capitalised word
        "It is a tense crime story. Her charm works.": set(),
        "Heat fans will love this.": set(),
        "Toy Story fans will love this.": {"Toy Story"},
        # one-letter titles and titles without letters are not looked for (numbers have their own rule)
        "M is for murder, and 9 lives are not enough, says I.": set(),
    }
    assert {text: titles.mentioned(text) for text in expected} == expected


def g(title="Heat", because=("Casino",), genres=("Crime", "Romance"), year=1995):
    return Grounding("1", title, tuple(because), tuple(genres), year)


def test_the_contract_accepts_ordinary_words_and_grounded_titles(titles):
    assert check("A classic crime story with plenty of class, like Casino.", g(), titles).ok
    assert check("Since you enjoyed The Postman, this crime story fits.", g(because=("Postman, The (Postino, Il)",)),
                 titles).ok
    assert check("You like Romance, and this crime story has it.", g(), titles).ok  # the genre, not the movie
    assert check("Just like Toy Story, this crime story is warm.", g(because=("Toy Story 2",)), titles).ok


def test_the_contract_rejects_titles_outside_the_grounding(titles):
    v = check("If you liked Alien, this crime story is for you.", g(because=("Aliens",)), titles)
    assert not v.ok and v.reason == "mentions 'Alien', which is not in the grounding"
    assert not check("Like Casino and Toy Story 2, a crime story.", g(), titles).ok


def test_genre_names_are_not_taken_for_titles():
    index = TitleIndex(["Romance", "Avventura, L' (Adventure, The)", "Heat"], genres=["Romance", "Adventure"])
    assert index.mentioned("A classic Adventure with Romance, like Heat.") == {"Heat"}


def test_the_real_catalog_is_checked_on_words_and_fast():
    ds = load_dataset("ml-latest-small")
    index = TitleIndex(ds.items["title"], genres={x for gs in ds.items["genres"] for x in gs})
    assert index.mentioned("A classic adventure") == set()
    assert index.mentioned("A classic Action Adventure with Romance.") == set()
    # two films are written "Heat": either in the grounding makes the mention grounded
    assert index.mentioned("Because you watched Toy Story and Heat, this fits.") == {"Toy Story", "Heat", "Heat, The"}
    sentence = "Since you enjoyed Casino and Fargo, this tense crime story should grip you too."
    start = time.perf_counter()
    for _ in range(2000):
        index.mentioned(sentence)
    assert time.perf_counter() - start < 2.0  # < 0.1 ms each: a dictionary lookup per word, not a scan of 9,742 titles
