"""Shared schema for the LLM backend tests (importable by name)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field


class ItemTags(BaseModel):
    """The structured output the conformance suite asks for: bounded so it fits in max_tokens."""

    tags: list[Annotated[str, Field(max_length=16)]] = Field(max_length=3)
    summary: str = Field(max_length=40)
