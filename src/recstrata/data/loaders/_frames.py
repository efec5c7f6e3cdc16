"""Validating conversions from raw tables (strings) to typed columns, with file/line/column errors.

Row numbers in errors are 1-based file lines: ``line = row index + first_line(df)``, where the first
data row is line 2 under a header line, or line / record 1 in JSON Lines and Parquet (no header).
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from recstrata.errors import DataError

_DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}


def require_columns(df: pd.DataFrame, needed: Sequence[str], file: str, delimiter: str | None = None, *,
                    remedy: str = "") -> None:
    """Raise a ``DataError`` naming missing columns, with a hint when the delimiter looks wrong, else
    ``remedy`` (how this loader's caller can name or map the columns)."""
    missing = [c for c in needed if c not in df.columns]
    if not missing:
        return
    hint = ""
    if len(df.columns) == 1:
        header = str(df.columns[0])
        for sep, name in _DELIMITERS.items():
            if sep != delimiter and sep in header:
                hint = (f" The header looks {name}-delimited: save the file comma-separated (.csv) or "
                        f"tab-separated (.tsv), or from Python pass delimiter={sep!r}.")
                break
    raise DataError(
        f"missing column(s) {missing}; found {list(map(str, df.columns))}.{hint or (' ' + remedy).rstrip()}",
        file=file,
        column=missing[0],
    )


_QUOTE_REMEDY = 'check the delimiter, and quote fields that contain it ("a,b")'


@contextmanager
def parse_errors(file: str, ragged_remedy: str = _QUOTE_REMEDY) -> Iterator[None]:
    """Turn a reader's failure on a file (bytes that are not UTF-8, a row with too many fields, a
    blank file, a broken archive) into a ``DataError`` naming the file and, when known, the line;
    ``ragged_remedy`` says how to mend a row with too many fields in this format."""
    try:
        yield
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"the file is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r}): save it "
                        "as UTF-8, e.g. iconv -f latin1 -t utf-8 (if it is latin-1)", file=file,
                        row=_undecodable_line(file)) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError("the file has no header line: it is empty or holds only blank lines", file=file) from exc
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise DataError(f"could not parse the file ({str(exc).strip()}): {ragged_remedy}", file=file,
                        row=int(line.group(1)) if line else None) from exc
    except (OSError, EOFError, zlib.error) as exc:
        suffix = Path(file).suffix.lower()
        if suffix in COMPRESSED:
            raise DataError(f"could not decompress the file ({exc}): check that it is a complete {suffix[1:]} file, "
                            f"or if it is plain text, rename it without {suffix!r}", file=file) from exc
        raise DataError(f"could not read the file ({exc})", file=file) from exc
    except ValueError as exc:
        raise DataError(f"could not read the file ({exc})", file=file) from exc


COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst", ".tar")  # suffixes pandas reads as archives


def _undecodable_line(file: str) -> int | None:
    """1-based line of the first bytes that are not UTF-8 in an uncompressed file, else None."""
    if Path(file).suffix.lower() in COMPRESSED:
        return None
    try:
        with open(file, "rb") as fh:
            for number, line in enumerate(fh, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except OSError:
        return None
    return None


def check_header(df: pd.DataFrame, file: str, sep: str, quoting: int = csv.QUOTE_MINIMAL, *,
                 typed: bool = False) -> None:
    """Refuse what pandas would read without a word but wrongly: a column named twice (it renames the
    second ``name.1``, so the first is used silently), and a first data row longer than the header (its
    leading fields become an index and all columns shift). Later long rows are a ``ParserError``.

    Repeats are found on the header line as written (read again with the main read's ``sep`` and
    ``quoting``), since a real column may be called ``tag.1``; ``typed`` compares RecBole's
    ``name:type`` fields by name alone (``rating:float`` and ``rating:token`` are both ``rating``).
    """
    header = pd.read_csv(file, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False,
                         quoting=quoting).iloc[0]
    names = [name.partition(":")[0] if typed else name for name in header]
    seen: set[str] = set()
    for name in names:
        if name in seen and name:
            raise DataError(f"the header names column {name!r} twice: rename or remove one", file=file, row=1,
                            column=name)
        seen.add(name)
    if not isinstance(df.index, pd.RangeIndex):
        extra = df.index.nlevels
        remedy = 'add the missing column name(s) to the header, or quote fields that contain the delimiter ("a,b")'
        if len(df.columns) and (df.iloc[:, -1] == "").all():  # "1,2,3," rows: the surplus field is blank
            remedy = f"remove the trailing delimiter ({sep!r}) at the end of the data lines, or {remedy}"
        raise DataError(f"the first data row has {len(df.columns) + extra} fields but the header has "
                        f"{len(df.columns)}: {remedy}", file=file, row=2)


def first_line(df: pd.DataFrame) -> int:
    """The file line of ``df``'s first row (readers set ``df.attrs["first_line"]`` when it is not 2)."""
    return int(df.attrs.get("first_line", 2))


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def present_cells(raw: pd.Series) -> np.ndarray:
    """True where a cell holds a value (not null, not blank)."""
    return (raw.notna() & (raw.astype(str).str.strip() != "")).to_numpy()


def ids_column(df: pd.DataFrame, col: str, file: str) -> np.ndarray:
    """Ids as stripped strings; an empty id is an error."""
    raw = df[col]
    if df.attrs.get("json"):  # only JSON holds lists / objects, which str() would make an id of "[1, 2]"
        nested = np.fromiter((isinstance(v, (list, dict)) for v in raw), bool, len(raw))
        if nested.any():
            row = _first_bad(nested)
            raise DataError(f"{raw.iloc[row]!r} is not an id: an id is one string or number", file=file,
                            row=row + first_line(df), column=col)
    present = present_cells(raw)
    if not present.all():
        row = _first_bad(~present)
        raise DataError("empty id", file=file, row=row + first_line(df), column=col)
    values = raw.astype(str).str.strip()
    # "12.0" from a float-typed column would not match "12" elsewhere: normalise integral floats
    return values.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True).to_numpy(dtype=object)


def check_unique_ids(ids: Sequence[str], file: str, column: str = "item_id", *, start_line: int = 2,
                     kind: str = "item") -> None:
    """Refuse a repeated id, naming its line in ``file``, whose first id is on ``start_line``."""
    ids = pd.Series(ids, dtype=object)
    dup = ids.duplicated().to_numpy()
    if not dup.any():
        return
    row = _first_bad(dup)
    first = int(np.flatnonzero((ids == ids.iloc[row]).to_numpy())[0])
    raise DataError(f"duplicate {kind} id {ids.iloc[row]!r} (also on line {first + start_line}): each {kind} "
                    "must appear once in the catalog", file=file, row=row + start_line, column=column)


def numeric_column(df: pd.DataFrame, col: str, file: str, *, required: bool = True) -> np.ndarray:
    """A float64 column; a present but non-numeric value is an error naming the line."""
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    present = present_cells(raw)
    bad = present & ~np.isfinite(values)
    if bad.any():
        row = _first_bad(bad)
        what = "not a number" if np.isnan(values[row]) else "not a finite number"
        raise DataError(f"{raw.iloc[row]!r} is {what}", file=file, row=row + first_line(df), column=col)
    if required and not present.all():
        row = _first_bad(~present)
        raise DataError("missing value", file=file, row=row + first_line(df), column=col)
    return values


def rating_column(df: pd.DataFrame, col: str, file: str) -> np.ndarray:
    """Ratings (float64) that fit the float32 weights of :class:`~recstrata.data.dataset.Interactions`."""
    values = numeric_column(df, col, file)
    big = np.abs(values) > np.finfo(np.float32).max
    if big.any():
        row = _first_bad(big)
        raise DataError(f"{df[col].iloc[row]!r} is too large for a rating (at most ~3.4e38)", file=file,
                        row=row + first_line(df), column=col)
    return values


def year_column(df: pd.DataFrame, col: str, file: str, *, strict: bool = True) -> pd.api.extensions.ExtensionArray:
    """Nullable Int64 calendar years, whole numbers from 1 to 9999; a blank cell is a missing year.

    Another value is an error naming the line, or with ``strict=False`` a missing year: for files
    whose glitches are known and harmless (a year of ``V`` in ML-100K's RecBole item file).
    """
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf % 1
        whole = values % 1 == 0
    year = whole & (values >= 1) & (values <= 9999)
    bad = present_cells(raw) & ~year
    if bad.any() and strict:
        row = _first_bad(bad)
        what = "not a whole-number year" if np.isfinite(values[row]) and not whole[row] else "not a year"
        raise DataError(f"{raw.iloc[row]!r} is {what} (a whole number from 1 to 9999)", file=file,
                        row=row + first_line(df), column=col)
    return pd.array(np.where(year, values, np.nan), dtype="Int64")


def timestamp_column(df: pd.DataFrame, col: str, file: str) -> np.ndarray:
    """Unix seconds (int64) from numbers or ISO-8601 date strings."""
    raw = df[col]
    numeric = pd.to_numeric(raw, errors="coerce")
    # int64 seconds: a float beyond +-2**63 (or inf) would wrap to an arbitrary value on conversion
    huge = (np.abs(numeric.to_numpy(dtype=np.float64, na_value=np.nan)) >= 2.0**63)
    if huge.any():
        row = _first_bad(huge)
        raise DataError(f"{raw.iloc[row]!r} is out of range for a timestamp (expected unix seconds)", file=file,
                        row=row + first_line(df), column=col)
    if numeric.notna().all():
        return numeric.to_numpy(dtype=np.float64).astype(np.int64)
    parsed = pd.to_datetime(raw.where(numeric.isna()), errors="coerce", utc=True, format="mixed")
    # the epoch in seconds keeps the dates' own unit: in nanoseconds, dates past 2262 would overflow
    epoch = pd.Timestamp(0, tz="UTC").as_unit("s")
    seconds = np.floor((parsed - epoch).dt.total_seconds().fillna(0).to_numpy(dtype=np.float64)).astype(np.int64)
    # pandas 2 holds dates in nanoseconds (1677-2262) and makes others NaT: those few rows are parsed here
    present = present_cells(raw)
    for row in np.flatnonzero((numeric.isna() & parsed.isna()).to_numpy()):
        date = _iso_seconds(raw.iloc[row]) if present[row] else None
        if date is None:
            what = f"{raw.iloc[row]!r} is not a timestamp" if present[row] else "missing value"
            raise DataError(f"{what} (expected unix seconds or an ISO-8601 date)", file=file,
                            row=int(row) + first_line(df), column=col)
        seconds[row] = date
    return np.where(numeric.notna(), numeric.fillna(0), seconds).astype(np.int64)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _iso_seconds(value: object) -> int | None:
    """Unix seconds of an ISO-8601 date (years 1-9999, naive means UTC), else None."""
    try:
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(seconds=1)


_YEAR = re.compile(r"\((\d{4})\)\s*$")


def year_from_title(title: str) -> tuple[str, int | None]:
    """'Toy Story (1995)' -> ('Toy Story', 1995)."""
    m = _YEAR.search(title.strip())
    if not m:
        return title.strip(), None
    return title[: m.start()].strip(), int(m.group(1))
