"""Output contracts: turn a ``schema`` argument into a JSON schema and validate replies against it.

A pydantic model is the recommended contract (full validation, typed result). A plain ``dict`` JSON
schema is validated with the small subset below (type, properties, required, additionalProperties,
items, enum, min/maxItems, min/maxLength, minimum/maximum), which covers what the grammar-constrained
backends can enforce anyway; it avoids a hard dependency on ``jsonschema``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pydantic

from recstrata.errors import ConfigError, LLMOutputError

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class OutputContract:
    """What a structured call must return: the JSON schema sent to the backend and how to validate."""

    json_schema: dict[str, Any]
    model: type[pydantic.BaseModel] | None = None

    @property
    def name(self) -> str:
        return str(self.json_schema.get("title") or "output")

    @classmethod
    def from_schema(cls, schema: type[pydantic.BaseModel] | dict | None) -> OutputContract | None:
        if schema is None:
            return None
        if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
            return cls(json_schema=schema.model_json_schema(), model=schema)
        if isinstance(schema, dict):
            return cls(json_schema=schema)
        raise ConfigError(
            f"schema must be a pydantic model class or a JSON-schema dict, got {type(schema).__name__}"
        )

    def parse(self, text: str) -> Any:
        """Validate ``text``; return the pydantic object (or dict), or raise LLMOutputError."""
        if self.model is not None:
            try:
                return self.model.model_validate_json(text.strip())
            except pydantic.ValidationError as exc:
                raise LLMOutputError(
                    f"reply does not match schema {self.name!r}: {_short(str(exc))}; "
                    f"reply was {_short(text)!r}"
                ) from exc
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LLMOutputError(f"reply is not valid JSON ({exc.msg}); reply was {_short(text)!r}") from exc
        problem = _check(value, self.json_schema, "$")
        if problem:
            raise LLMOutputError(f"reply does not match schema {self.name!r}: {problem}")
        return value


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _check(value: Any, schema: dict[str, Any], path: str) -> str | None:
    """First violation of ``schema`` by ``value`` as a message, or None."""
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        ok = any(
            isinstance(value, _JSON_TYPES.get(k, ()))
            and not (k in ("integer", "number") and isinstance(value, bool))
            for k in kinds
        )
        if not ok:
            return f"{path}: expected {kind}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            return f"{path}: string length {len(value)} outside the allowed range"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: {value} < minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: {value} > maximum {schema['maximum']}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            return f"{path}: {len(value)} items outside the allowed range"
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if problem := _check(item, items, f"{path}[{i}]"):
                    return problem
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{path}: missing required key {key!r}"
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                if problem := _check(item, props[key], f"{path}.{key}"):
                    return problem
            elif schema.get("additionalProperties") is False:
                return f"{path}: unexpected key {key!r}"
    return None
