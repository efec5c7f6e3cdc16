"""Dataset loaders (MovieLens, RecBole atomic files, generic tables)."""
