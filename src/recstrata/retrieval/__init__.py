"""Layer 1a: candidate retrieval (recommender models and the vector index in :mod:`.ann`)."""
