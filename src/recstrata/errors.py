"""One exception tree for recstrata.

Every message names the bad input and says what to do next.

    RecstrataError
    ├── ConfigError          invalid settings or arguments (bad k, unknown model name, ...)
    ├── DataError            malformed input data: file, row and column are named
    ├── NotFittedError       a model used before ``fit`` / ``load``
    ├── ArtifactError        a saved model / index is missing, truncated or fails its hash check
    ├── ConflictError        a request contradicts what is stored (an idempotency key reused for another event)
    ├── MissingDependencyError  an optional extra is not installed (message says which ``pip install``)
    └── LLMError             an LLM backend failed
        ├── LLMUnavailableError  backend missing, not reachable, or its model file is absent
        ├── LLMTimeoutError      the deadline passed before the backend answered
        ├── LLMProtocolError     a server answered with something that is not a completion at all
        └── LLMOutputError       the backend answered, but not with what the contract requires
"""

from __future__ import annotations

__all__ = [
    "RecstrataError",
    "ConfigError",
    "DataError",
    "NotFittedError",
    "ArtifactError",
    "ConflictError",
    "MissingDependencyError",
    "LLMError",
    "LLMUnavailableError",
    "LLMTimeoutError",
    "LLMProtocolError",
    "LLMOutputError",
]


class RecstrataError(Exception):
    """Base class of every error recstrata raises on purpose.

    Every subclass pickles whatever its ``__init__`` takes (an error of a worker process crosses to
    the parent): it is rebuilt from its message and attributes, not by calling ``__init__`` again."""

    def __reduce__(self) -> tuple:
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type, args: tuple, state: dict) -> RecstrataError:
    try:
        exc = cls.__new__(cls, *args)
    except TypeError:  # two built-in bases (LLMTimeoutError: RuntimeError and TimeoutError's OSError)
        exc = cls(*args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ConfigError(RecstrataError, ValueError):
    """A setting or argument is invalid."""


class DataError(RecstrataError, ValueError):
    """Input data is malformed. ``file``, ``row`` (1-based line) and ``column`` say where, when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file, self.row, self.column = file, row, column
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file is not None else "",
                f"line {row}" if row is not None else "",
                f"column {column!r}" if column is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class NotFittedError(RecstrataError, RuntimeError):
    """A model was used before it was fitted or loaded."""


class ArtifactError(RecstrataError, OSError):
    """A saved artefact is missing, truncated, or does not match its manifest."""


class ConflictError(RecstrataError, ValueError):
    """A request contradicts what is already stored, e.g. an idempotency key reused for another event."""


class MissingDependencyError(RecstrataError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package, self.extra, self.purpose = package, extra, purpose
        super().__init__(
            f"{purpose} needs the optional package {package!r}, which is not installed. "
            f"Install it with: pip install 'recstrata[{extra}]'"
        )


class LLMError(RecstrataError, RuntimeError):
    """An LLM backend call failed. ``usage`` is what the failed call spent (a
    ``recstrata.llm.usage.UsageRecord``: tokens, seconds, cost), set by ``LLMBackend.generate``;
    None for an error that no call raised (e.g. an answer rejected after the call)."""

    usage: object | None = None


class LLMUnavailableError(LLMError):
    """The backend cannot be used: not installed, not reachable, or its model file is missing."""


class LLMTimeoutError(LLMError, TimeoutError):
    """The backend did not answer before the deadline."""


class LLMProtocolError(LLMError):
    """A server answered, but not with a completion of its protocol (an HTML error page, missing fields):
    a fault of the server, unlike :class:`LLMOutputError`, which is a fault of the model's text."""


class LLMOutputError(LLMError):
    """The backend answered, but the output breaks the requested contract (schema, grounding, ...)."""
