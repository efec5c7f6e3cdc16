"""Generic interaction tables: CSV / TSV, Parquet and JSON Lines, with a column mapping."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd

from recstrata._optional import require
from recstrata.data.dataset import Dataset
from recstrata.data.loaders._build import build_dataset
from recstrata.data.loaders._frames import (
    COMPRESSED,
    check_header,
    check_unique_ids,
    first_line,
    ids_column,
    parse_errors,
    present_cells,
    rating_column,
    require_columns,
    timestamp_column,
    year_column,
)
from recstrata.errors import DataError

DEFAULT_COLUMNS = {"user": "user_id", "item": "item_id", "rating": "rating", "timestamp": "timestamp"}


def read_table(path: str | os.PathLike[str], *, delimiter: str | None = None) -> pd.DataFrame:
    """Read a whole table as strings (so that bad values can be reported, not silently coerced)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file} does not exist or is not a file", file=str(file))
    if file.stat().st_size == 0:
        raise DataError("the file is empty", file=str(file))
    suffix = "".join(file.suffixes[-2:]).lower()
    with parse_errors(str(file)):
        if suffix.endswith(".parquet") or suffix.endswith(".pq"):
            require("pyarrow", extra="parquet", purpose="reading Parquet files")
            raw = pd.read_parquet(file)
            df = raw.astype(str).mask(raw.isna(), "")  # nulls become "", an id spelled "None" stays
            df.attrs["first_line"] = 1
            return df
        plain = suffix[: -len(file.suffix)] if file.suffix.lower() in COMPRESSED else suffix  # .jsonl.gz: .jsonl
        if plain.endswith((".jsonl", ".ndjson")):
            try:
                df = pd.read_json(file, lines=True, dtype=False, encoding="utf-8-sig").astype(object)
                df.attrs["first_line"] = 1
                df.attrs["json"] = True  # cells may be lists / objects: ids_column refuses them
                return df
            except UnicodeDecodeError:
                raise  # parse_errors names the line and the fix
            # TypeError / AttributeError: pandas' own failure on a line that is JSON but not an object
            except (ValueError, TypeError, AttributeError) as exc:
                line = _bad_json_line(file)
                if line is None:
                    raise DataError(f"could not read the file as JSON Lines ({exc})", file=str(file)) from exc
                raise DataError("the line is not a JSON object: JSON Lines files hold one {...} per line",
                                file=str(file), row=line) from exc
        sep = delimiter or ("\t" if suffix.endswith((".tsv", ".inter", ".item", ".user")) else ",")
        df = pd.read_csv(file, sep=sep, dtype=str, keep_default_na=False, engine="c")
        check_header(df, str(file), sep)
    return df


def _bad_json_line(file: Path) -> int | None:
    """1-based number of the first non-blank line of an uncompressed file that is not a JSON object."""
    if file.suffix.lower() not in (".jsonl", ".ndjson"):
        return None
    with open(file, encoding="utf-8-sig") as fh:  # read_json decoded it: it is UTF-8
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    if not isinstance(json.loads(line), dict):
                        return number
                except ValueError:
                    return number
    return None


def load_interactions_table(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    name: str | None = None,
    delimiter: str | None = None,
    unknown_items: Literal["raise", "drop"] = "raise",
    rating_scale: tuple[float, float] | None = None,
) -> Dataset:
    """Load interactions from a CSV/TSV/Parquet/JSONL file.

    ``columns`` maps the roles ``user``, ``item``, ``rating`` (optional) and ``timestamp``
    (optional) to the file's column names; the defaults are ``user_id``, ``item_id``, ``rating``
    and ``timestamp``. ``items`` / ``users`` are optional catalog and user tables (see
    :func:`load_item_table`). ``rating_scale`` declares the scale ratings are given on (else the
    observed range is recorded, see :func:`~recstrata.data.loaders._build.build_dataset`).
    """
    mapping = {**DEFAULT_COLUMNS, **(columns or {})}
    unknown = set(mapping) - set(DEFAULT_COLUMNS)
    if unknown:
        raise DataError(f"unknown column role(s) {sorted(unknown)}; use {sorted(DEFAULT_COLUMNS)}")
    file = str(path)
    df = read_table(path, delimiter=delimiter)
    require_columns(df, [mapping["user"], mapping["item"]], file, delimiter, remedy=(
        "Name the header's columns user_id and item_id (rating and timestamp are optional; the command line "
        "reads these names), or from Python map your names: load_dataset(path, columns={'user': ..., "
        "'item': ..., 'rating': ..., 'timestamp': ...})."))
    if len(df) == 0:
        raise DataError("no interactions: the file has a header but no rows", file=file)
    ratings = rating_column(df, mapping["rating"], file) if mapping["rating"] in df.columns else None
    stamps = timestamp_column(df, mapping["timestamp"], file) if mapping["timestamp"] in df.columns else None
    return build_dataset(
        name or Path(path).stem,
        users=ids_column(df, mapping["user"], file),
        items=ids_column(df, mapping["item"], file),
        ratings=ratings,
        timestamps=stamps,
        item_table=items,
        user_table=users,
        source=file,
        unknown_items=unknown_items,
        rating_scale=rating_scale,
        first_line=first_line(df),
    )


def load_item_table(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    genre_separator: str = "|",
    delimiter: str | None = None,
) -> pd.DataFrame:
    """Load an item catalog: ``item_id`` plus optional ``title``, ``genres``, ``year``, ``text``."""
    mapping = {"item": "item_id", "title": "title", "genres": "genres", "year": "year", "text": "text"}
    mapping.update(columns or {})
    file = str(path)
    df = read_table(path, delimiter=delimiter)
    require_columns(df, [mapping["item"]], file, delimiter,
                    remedy="Name the item column item_id, or map your name with columns={'item': ...}.")
    out = pd.DataFrame({"item_id": ids_column(df, mapping["item"], file)})
    check_unique_ids(out["item_id"], file, mapping["item"], start_line=first_line(df))
    if mapping["title"] in df:
        raw = df[mapping["title"]]
        out["title"] = pd.Series([str(t) if p else None for t, p in zip(raw, present_cells(raw))], dtype=object)
    if mapping["genres"] in df:
        raw = df[mapping["genres"]]  # "a|b" in text files; a list in JSON Lines
        out["genres"] = [
            tuple(str(g) for g in v if str(g)) if isinstance(v, (list, tuple))
            else tuple(g for g in str(v).split(genre_separator) if g) if p else ()
            for v, p in zip(raw, present_cells(raw))
        ]
    if mapping["year"] in df:
        out["year"] = year_column(df, mapping["year"], file)
    if mapping["text"] in df:
        out["text"] = df[mapping["text"]].fillna("").astype(str)
    return out
