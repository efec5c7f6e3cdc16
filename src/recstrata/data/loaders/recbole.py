"""RecBole atomic files: ``<name>.inter``, ``<name>.item``, ``<name>.user`` (tab-separated, ``field:type`` headers)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from recstrata.data.dataset import Dataset
from recstrata.data.loaders._build import build_dataset
from recstrata.data.loaders._frames import (
    check_header,
    check_unique_ids,
    ids_column,
    numeric_column,
    parse_errors,
    rating_column,
    require_columns,
    timestamp_column,
    year_column,
)
from recstrata.errors import DataError

# names RecBole's bundled datasets use for the standard roles
_TITLE = ("movie_title", "title", "item_name", "name")
_YEAR = ("release_year", "year")
_GENRES = ("class", "genre", "genres", "categories")


def _read_atomic(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError("the file is empty", file=str(path))
    # RecBole reads atomic files unquoted, so a tab inside a field cannot be quoted away
    with parse_errors(str(path), "atomic files are unquoted: remove the tab inside a field, or name the extra "
                                 "field in the header"):
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, engine="c")
        check_header(df, str(path), "\t", csv.QUOTE_NONE, typed=True)
    if len(df.columns) == 1 and any(sep in str(df.columns[0]) for sep in (",", ";", "|", " ")):
        raise DataError(
            f"header {str(df.columns[0])!r} has no tab-separated 'name:type' fields: RecBole atomic files "
            "are tab-separated; convert the file or load it with load_interactions_table(delimiter=...)",
            file=str(path),
            row=1,
        )
    fields = {col: str(col).partition(":")[0] for col in df.columns}
    return df.rename(columns=fields)


def _first(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in df.columns), None)


def load_recbole_atomic(directory: str | os.PathLike[str], name: str | None = None, *,
                       rating_scale: tuple[float, float] | None = None) -> Dataset:
    """Load ``<dir>/<name>.inter`` (+ ``.item``, ``.user`` when present); ``rating_scale`` declares the
    scale ratings are given on (the files do not say).

    Bad fields in the item file that are known glitches of public data (a year of ``V`` or a
    title of ``unkonwn`` in ML-100K) load as missing values rather than failing.
    """
    root = Path(directory)
    name = name or root.name
    inter_path = root / f"{name}.inter"
    if not inter_path.is_file():
        raise DataError(f"{inter_path} not found: expected RecBole atomic files <dir>/<name>.inter", file=str(inter_path))
    df = _read_atomic(inter_path)
    file = str(inter_path)
    require_columns(df, ["user_id", "item_id"], file)
    if len(df) == 0:
        raise DataError("no interactions: the file has a header but no rows", file=file)

    items = None
    item_path = root / f"{name}.item"
    if item_path.is_file():
        raw = _read_atomic(item_path)
        require_columns(raw, ["item_id"], str(item_path))
        items = pd.DataFrame({"item_id": ids_column(raw, "item_id", str(item_path))})
        check_unique_ids(items["item_id"], str(item_path))
        if col := _first(raw, _TITLE):
            items["title"] = pd.Series(
                [t.strip() if t.strip().lower() not in ("", "unknown", "unkonwn") else None for t in raw[col]],
                dtype=object,
            )
        if col := _first(raw, _YEAR):
            items["year"] = year_column(raw, col, str(item_path), strict=False)
        if col := _first(raw, _GENRES):
            items["genres"] = [tuple(v.split()) for v in raw[col]]

    users = None
    user_path = root / f"{name}.user"
    if user_path.is_file():
        raw = _read_atomic(user_path)
        require_columns(raw, ["user_id"], str(user_path))
        users = raw.copy()
        users["user_id"] = ids_column(raw, "user_id", str(user_path))
        check_unique_ids(users["user_id"], str(user_path), "user_id", kind="user")
        if "age" in users:
            users["age"] = pd.array(numeric_column(raw, "age", str(user_path), required=False), dtype="Int64")

    return build_dataset(
        name,
        users=ids_column(df, "user_id", file),
        items=ids_column(df, "item_id", file),
        ratings=rating_column(df, "rating", file) if "rating" in df else None,
        timestamps=timestamp_column(df, "timestamp", file) if "timestamp" in df else None,
        item_table=items,
        user_table=users,
        source=file,
        rating_scale=rating_scale,
    )
