"""recstrata: an LLM-enhanced recommender system.

Layer 1 (retrieve + rank) decides what to show without any LLM; layer 2 enriches the data
offline with LLMs; layer 3 explains the top few items. See DESIGN.md.

The names below are the public API. They are imported lazily, so ``import recstrata`` stays
cheap and optional heavy dependencies load only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Dataset": "recstrata.data.dataset",
    "load_dataset": "recstrata.data.registry",
    "Split": "recstrata.data.split",
    "make_split": "recstrata.data.split",
    "evaluate": "recstrata.evaluation.protocol",
    "Recommender": "recstrata.retrieval.base",
    "make_model": "recstrata.retrieval.registry",
    "run_experiment": "recstrata.experiment",
    "Settings": "recstrata.config",
    "get_settings": "recstrata.config",
    "RecstrataError": "recstrata.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'recstrata' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
