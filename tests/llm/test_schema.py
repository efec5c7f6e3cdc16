"""Output contracts: pydantic models and the JSON-schema subset used for dict schemas."""

from __future__ import annotations

import pytest
from llm_support import ItemTags

from recstrata.errors import ConfigError, LLMOutputError
from recstrata.llm._schema import OutputContract

SCHEMA = {
    "title": "Rating",
    "type": "object",
    "properties": {
        "stars": {"type": "integer", "minimum": 1, "maximum": 5},
        "mood": {"enum": ["happy", "sad"]},
        "words": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 2},
        "score": {"type": ["number", "null"]},
    },
    "required": ["stars"],
    "additionalProperties": False,
}


def test_pydantic_contract_returns_model():
    contract = OutputContract.from_schema(ItemTags)
    assert contract.name == "ItemTags"
    assert contract.parse(' {"tags": ["a"], "summary": "b"}\n') == ItemTags(tags=["a"], summary="b")


@pytest.mark.parametrize(
    "text",
    ['{"stars": 3}', '{"stars": 5, "mood": "sad", "words": ["hi", "yo"], "score": null}', '{"stars": 1, "score": 0.5}'],
)
def test_dict_schema_accepts(text):
    assert isinstance(OutputContract.from_schema(SCHEMA).parse(text), dict)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("stars: 3", "not valid JSON"),
        ('{"mood": "happy"}', "missing required key 'stars'"),
        ('{"stars": "3"}', "expected integer"),
        ('{"stars": true}', "expected integer"),
        ('{"stars": 9}', "maximum"),
        ('{"stars": 3, "mood": "angry"}', "not one of"),
        ('{"stars": 3, "words": ["toolong"]}', "string length"),
        ('{"stars": 3, "words": ["a", "b", "c"]}', "items outside"),
        ('{"stars": 3, "extra": 1}', "unexpected key"),
        ('[1, 2]', "expected object"),
    ],
)
def test_dict_schema_rejects_with_a_reason(text, why):
    with pytest.raises(LLMOutputError, match=why):
        OutputContract.from_schema(SCHEMA).parse(text)


def test_bad_schema_argument():
    with pytest.raises(ConfigError):
        OutputContract.from_schema("ItemTags")  # type: ignore[arg-type]
    assert OutputContract.from_schema(None) is None
