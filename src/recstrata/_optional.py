"""Lazy import of heavy optional dependencies with a remedy in the error message."""

from __future__ import annotations

import importlib
from types import ModuleType

from recstrata.errors import MissingDependencyError


def require(module: str, *, extra: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package or module.split(".")[0], extra, purpose) from exc
