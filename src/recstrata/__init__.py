"""recstrata: an LLM-enhanced recommender system.

Layer 1 (retrieve + rank) decides what to show without any LLM; layer 2 enriches the data
offline with LLMs; layer 3 explains the top few items. See DESIGN.md.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
